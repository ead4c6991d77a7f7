"""The reconciler core over HTTP against moto: plan, run, drift, ownership, fan-out."""

from __future__ import annotations

from typing import Any

from conftest import ACCOUNT_A, ACCOUNT_B, ROLE_B

BASIC = """
version: 1
defaults:
  source: {region: us-east-1}
  destination: {region: us-west-2}
mappings:
  - id: db
    source: prod/db/password
    destination: dr/db/password
  - id: api
    source: "prod/api/*"
    destinations:
      - {name: "dr/api/*", region: eu-west-1}
      - {name: "dr/api/*", region: us-west-2}
"""


def totals(report: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in report["totals"].items() if v}


def seed_basic(aws: Any) -> None:
    aws.create("prod/db/password", "s3cr3t-db")
    aws.create("prod/api/key1", "k1")
    aws.create("prod/api/key2", "k2")


def test_migration_then_steady_state(aws, proxy, write_manifest, run_cli):
    # GIVEN three sources and nothing at the destinations
    seed_basic(aws)
    path = write_manifest(BASIC)
    # WHEN we plan
    code, report, _ = run_cli("plan", str(path))
    # THEN everything would be created and nothing was written
    assert code == 3
    assert totals(report) == {"create": 5}
    assert aws.names("us-west-2") == []
    # WHEN we run
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    assert totals(report) == {"create": 5}
    assert aws.value("dr/db/password", "us-west-2") == "s3cr3t-db"
    assert aws.value("dr/api/key2", "eu-west-1") == "k2"
    tags = aws.tags("dr/api/key1", "eu-west-1")
    assert tags["reconciler:owner"] == "secrets-reconciler"
    assert tags["reconciler:mapping"] == "api"
    assert tags["reconciler:source"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api/key1-")
    # each source read once however many destinations it has
    assert report["api_calls"].get("secretsmanager.GetSecretValue", 0) + \
        report["api_calls"].get("secretsmanager.BatchGetSecretValue", 0) <= 3
    # WHEN we run again
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN nothing is written and no value is read
    assert code == 0
    assert totals(report) == {"in_sync": 5}
    sm_calls = {k: v for k, v in proxy.calls.items() if k.startswith("secretsmanager.")}
    assert set(sm_calls) == {"secretsmanager.ListSecrets"}, sm_calls
    assert sm_calls["secretsmanager.ListSecrets"] <= 3
    code, report, _ = run_cli("plan", str(path))
    assert code == 0 and totals(report) == {"in_sync": 5}
