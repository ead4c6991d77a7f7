"""iam-policy output and the shipped example manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler._iam import policies_for
from reconciler._manifest import load_manifest

CONFIG = Path(__file__).resolve().parent.parent / "config"


@pytest.mark.parametrize("name", ["dr-copy.yaml", "fanout.yaml"])
def test_example_manifests_validate(name, run_cli):
    code, out, _ = run_cli("validate", str(CONFIG / name))
    assert code == 0 and "valid" in out


def test_iam_policy_is_least_privilege(proxy, run_cli):
    # proxy: the default identity's account comes from STS (moto) rather than the network
    code, out, _ = run_cli("iam-policy", str(CONFIG / "fanout.yaml"))
    assert code == 0
    policies = out if isinstance(out, dict) else json.loads(out)
    role = "arn:aws:iam::222222222222:role/secrets-reconciler-writer"
    assert set(policies) == {"runner", role}
    for doc in policies.values():
        for st in doc["Statement"]:
            actions = st["Action"]
            assert all("*" not in a for a in actions), st  # no wildcard actions
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if resources == ["*"]:
                # only what AWS offers no resource-level permission for, or what a condition narrows
                assert set(actions) <= {"secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"} or \
                    "Condition" in st, st
            elif st["Effect"] == "Allow":
                for r in resources:
                    assert (r.startswith("arn:aws:secretsmanager:") and ":secret:shared/platform/" in r) or \
                        (r.startswith("arn:aws:secretsmanager:") and ":secret:platform/" in r) or r == role or \
                        (r.startswith("arn:aws:kms:") and "kms:ViaService" in json.dumps(st["Condition"])), r
    writes = [st for st in policies[role]["Statement"] if "secretsmanager:PutSecretValue" in st["Action"]]
    assert writes and all("secretsmanager:ResourceTag/reconciler:owner" in str(st["Condition"]) for st in writes)
    runner = policies["runner"]["Statement"]
    assert any(st["Action"] == ["sts:AssumeRole"] and st["Resource"] == [role] for st in runner)
    assert all(":secret:platform/" not in json.dumps(st) for st in runner)  # the runner never writes there


def test_iam_policy_narrows_explicit_names():
    m = load_manifest(str(CONFIG / "dr-copy.yaml"))
    doc = policies_for(m, default_account="111111111111")["runner"]
    reads = next(st for st in doc["Statement"] if st["Sid"] == "ReadSources")["Resource"]
    assert "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db/password-??????" in reads
    assert "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/services/*" in reads
    metrics = next(st for st in doc["Statement"] if st["Sid"] == "PublishMetrics")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "SecretsReplicator"}}
