"""Failures are never silent (SPEC 1.1): what could not be observed is never "absent", never success.

Over HTTP against moto, faults injected by the proxy (issue 8, items 1, 2, 3 and 12).
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ACCOUNT_A

PREFIX = """
version: 1
settings: {retry: {max_attempts: 2, base_delay: 0.01, max_delay: 0.02}}
defaults:
  source: {region: us-east-1}
  destination: {region: us-west-2}
mappings:
  - id: app
    source: "app/*"
    destination: "dr/app/*"
  - id: db
    source: prod/db
    destination: dr/db
"""

LISTING_FAULTS = [
    pytest.param((403, "AccessDeniedException", "not authorized to list"), id="access-denied"),
    pytest.param((500, "InternalServiceError", "boom"), id="5xx"),
    pytest.param((400, "ThrottlingException", "Rate exceeded"), id="throttled-beyond-retries"),
]


def converge(aws: Any, write_manifest: Any, run_cli: Any, proxy: Any) -> Any:
    aws.create("app/s1", "one")
    aws.create("app/s2", "two")
    aws.create("prod/db", "db-pass")
    path = write_manifest(PREFIX)
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    proxy.calls.clear()
    return path


@pytest.mark.parametrize("fault", LISTING_FAULTS)
@pytest.mark.parametrize("mode", ["plan", "run"])
def test_a_failed_source_listing_fails_the_mapping_and_the_run(aws, proxy, write_manifest, run_cli, fault, mode):
    # GIVEN a converged manifest, a rotated source, and ListSecrets failing in the source region
    path = converge(aws, write_manifest, run_cli, proxy)
    aws.put("app/s1", "one-rotated")
    proxy.faults.deny_in[("ListSecrets", "us-east-1")] = fault
    code, report, _ = run_cli(mode, str(path))
    # THEN the run is not a success: one failed item for the prefix mapping (destination null) ...
    assert code == 1, report["totals"]
    app = [i for i in report["items"] if i["mapping"] == "app"]
    assert len(app) == 1 and app[0]["action"] == "failed" and app[0]["destination"] is None
    assert app[0]["error"]["type"] == fault[1]
    # ... the exact source in that scope fails too, never "source_missing" ...
    db = [i for i in report["items"] if i["mapping"] == "db"]
    assert [i["action"] for i in db] == ["failed"]
    # ... and the report names the scope that could not be observed
    assert report["errors"] == [{"scope": {"account": ACCOUNT_A, "region": "us-east-1",
                                           "service": "secretsmanager"},
                                 "type": fault[1], "message": report["errors"][0]["message"]}]
    assert "secretsmanager.PutSecretValue" not in proxy.calls
    assert aws.value("dr/app/s1", "us-west-2") == "one"


def test_a_failed_source_listing_raises_in_lambda(aws, proxy, write_manifest, run_cli, monkeypatch):
    path = converge(aws, write_manifest, run_cli, proxy)
    proxy.faults.deny_in[("ListSecrets", "us-east-1")] = (403, "AccessDeniedException", "no")
    monkeypatch.setenv("MANIFEST_URI", str(path))
    monkeypatch.setenv("METRICS_SINK", "none")
    from reconciler.lambda_handler import RunNotConverged, handler

    with pytest.raises(RunNotConverged) as info:
        handler({}, None)
    assert '"failed": 2' in str(info.value)  # the prefix mapping and the exact source


@pytest.mark.parametrize("mode", ["plan", "run"])
def test_a_failed_destination_listing_is_not_absence(aws, proxy, write_manifest, run_cli, mode):
    # GIVEN a converged manifest and ListSecrets denied in the destination region only
    path = converge(aws, write_manifest, run_cli, proxy)
    proxy.faults.deny_in[("ListSecrets", "us-west-2")] = (403, "AccessDeniedException", "not authorized")
    code, report, _ = run_cli(mode, str(path))
    # THEN every item fails with the listing error: no "would create", no read, no CreateSecret
    assert code == 1
    assert {i["action"] for i in report["items"]} == {"failed"}, report["items"]
    assert {i["error"]["type"] for i in report["items"]} == {"AccessDeniedException"}
    assert len(report["items"]) == 3
    for op in ("CreateSecret", "PutSecretValue", "BatchGetSecretValue", "GetSecretValue"):
        assert proxy.calls[f"secretsmanager.{op}"] == 0, op
    assert [e["scope"]["region"] for e in report["errors"]] == ["us-west-2"]


def test_a_failed_describe_of_an_exact_source_is_not_source_missing(aws, proxy, write_manifest, run_cli):
    # GIVEN a source the listing does not show (lag) and a DescribeSecret that fails
    path = converge(aws, write_manifest, run_cli, proxy)
    proxy.faults.hide_from_list = frozenset({"prod/db"})
    proxy.faults.deny_in[("DescribeSecret", "us-east-1")] = (403, "AccessDeniedException", "no describe")
    code, report, _ = run_cli("run", str(path))
    # THEN that item fails (it is not "source_missing"); the others carry on
    assert code == 1
    db = next(i for i in report["items"] if i["mapping"] == "db")
    assert db["action"] == "failed" and db["error"]["type"] == "AccessDeniedException"
    assert {i["action"] for i in report["items"] if i["mapping"] == "app"} == {"in_sync"}


def test_a_failed_confirmation_of_a_destination_fails_the_item(aws, proxy, write_manifest, run_cli):
    # GIVEN a drifted destination whose confirming DescribeSecret fails
    path = converge(aws, write_manifest, run_cli, proxy)
    aws.put("dr/db", "tampered", "us-west-2")
    proxy.faults.deny_in[("DescribeSecret", "us-west-2")] = (403, "AccessDeniedException", "no describe")
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    db = next(i for i in report["items"] if i["mapping"] == "db")
    assert db["action"] == "failed" and db["error"]["type"] == "AccessDeniedException"
    assert proxy.calls["secretsmanager.CreateSecret"] == 0
    assert aws.value("dr/db", "us-west-2") == "tampered"


def test_a_denied_assume_role_shows_its_own_error(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db", "db-pass")
    path = write_manifest(PREFIX.replace("destination: dr/db", "destination: {name: dr/db, role_arn: "
                                         "\"arn:aws:iam::222222222222:role/replica-writer\"}"))
    proxy.faults.deny["AssumeRole"] = (403, "AccessDenied", "not authorized to perform sts:AssumeRole")
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    db = next(i for i in report["items"] if i["mapping"] == "db")
    assert db["action"] == "failed" and db["error"]["type"] == "AccessDenied"
    assert "write" not in db["reason"]
    assert any(e["scope"]["account"] == "222222222222" for e in report["errors"])


SELF = """
version: 1
settings: {on_existing: adopt}
mappings:
  - id: self
    source: {name: prod/a, region: us-east-1}
    destination: {name: prod/a, role_arn: "arn:aws:iam::123456789012:role/writer"}
    transform: [{sed: "s/$/!/"}]
"""


def test_a_destination_that_is_its_own_source_at_run_time_fails_and_is_never_written(aws, proxy, write_manifest,
                                                                                    run_cli):
    aws.create("prod/a", "hunter2")
    path = write_manifest(SELF)
    for _ in range(2):
        code, report, _ = run_cli("run", str(path))
        assert code == 1
        [item] = report["items"]
        assert item["action"] == "failed" and item["error"]["type"] == "SelfMapping"
    assert aws.value("prod/a") == "hunter2"
    assert len(aws.describe("prod/a")["VersionIdsToStages"]) == 1
    for op in ("PutSecretValue", "TagResource", "UpdateSecret", "CreateSecret"):
        assert proxy.calls[f"secretsmanager.{op}"] == 0, op


def test_an_empty_description_is_in_sync_on_the_second_run(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db", "db-pass")
    path = write_manifest(PREFIX.replace("destination: dr/db", "destination: {name: dr/db, description: \"\"}"))
    assert run_cli("run", str(path))[0] == 0
    code, report, _ = run_cli("run", str(path))
    assert code == 0
    assert [i["action"] for i in report["items"]] == ["in_sync"]
    assert proxy.calls["secretsmanager.UpdateSecret"] == 0


def test_adopt_never_restores_a_foreign_secret_scheduled_for_deletion(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db", "db-pass")
    aws.create("dr/db", "theirs", "us-west-2")
    aws.sm("us-west-2").delete_secret(SecretId="dr/db", RecoveryWindowInDays=7)
    path = write_manifest(PREFIX.replace("settings: {", "settings: {on_existing: adopt, "))
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    [item] = [i for i in report["items"] if i["mapping"] == "db"]
    assert item["action"] == "conflict" and "scheduled for deletion" in item["reason"]
    assert proxy.calls["secretsmanager.RestoreSecret"] == 0
    assert aws.describe("dr/db", "us-west-2").get("DeletedDate") is not None


def test_a_deadline_passed_before_the_first_call_defers_everything_and_never_raises(aws, proxy, write_manifest):
    """Seen under load in the Lambda test: the deadline passed while the run opened its stores
    (GetCallerIdentity), and the DeadlineExceeded escaped the run. It must defer, like a listing."""
    import anyio

    from reconciler.engine.options import Options
    from reconciler.engine.run import reconcile
    from reconciler.manifest import load_manifest

    aws.create("prod/a", "v1")
    aws.create("app/x", "v1")
    m = load_manifest(str(write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: a, source: prod/a, destination: dr/a}
          - {id: app, source: "app/*", destination: "dr/app/*"}
    """)))
    # GIVEN a deadline (and grace) that has passed before any AWS call can start: deterministic,
    # since building the run takes longer than a microsecond on any machine
    report = anyio.run(reconcile, m, Options(deadline=1e-6, grace=0.0))
    # THEN every item is deferred, nothing failed, no run-level error, exit 1
    assert report.items and {i.action for i in report.items} == {"deferred"}
    assert report.errors == [] and report.exit_code == 1
    assert not aws.exists("dr/a", "us-west-2")
