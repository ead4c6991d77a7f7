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
    assert aws.tags("dr/api/key1", "eu-west-1")["reconciler:mapping"] == "api"
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
    sm_calls = {k: proxy.honest(k) for k in proxy.calls if k.startswith("secretsmanager.")}
    assert set(sm_calls) == {"secretsmanager.ListSecrets"}, sm_calls
    assert sm_calls["secretsmanager.ListSecrets"] <= 4  # one per source group, one per destination region
    code, report, _ = run_cli("plan", str(path))
    assert code == 0 and totals(report) == {"in_sync": 5}


def test_drift_cases_are_planned_and_fixed(aws, proxy, write_manifest, run_cli):
    # GIVEN a converged manifest
    seed_basic(aws)
    path = write_manifest(BASIC)
    assert run_cli("run", str(path))[0] == 0
    # WHEN a destination is edited out of band, another deleted, a source rotated
    aws.put("dr/db/password", "tampered", "us-west-2")
    aws.sm("eu-west-1").delete_secret(SecretId="dr/api/key1", ForceDeleteWithoutRecovery=True)
    aws.put("prod/api/key2", "k2-rotated")
    # THEN plan finds exactly those (exit 3) and writes nothing
    code, report, _ = run_cli("plan", str(path))
    assert code == 3
    changed = {(i["destination"]["name"], i["destination"]["region"]): i["action"]
               for i in report["items"] if i["action"] != "in_sync"}
    assert changed == {
        ("dr/db/password", "us-west-2"): "update",
        ("dr/api/key1", "eu-west-1"): "create",
        ("dr/api/key2", "eu-west-1"): "update",
        ("dr/api/key2", "us-west-2"): "update",
    }
    reasons = {i["destination"]["name"] + "@" + i["destination"]["region"]: i["reason"] for i in report["items"]}
    assert "outside the reconciler" in reasons["dr/db/password@us-west-2"]
    assert "source changed" in reasons["dr/api/key2@us-west-2"]
    assert aws.value("dr/db/password", "us-west-2") == "tampered"
    # WHEN we run
    code, report, _ = run_cli("run", str(path))
    assert code == 0
    assert aws.value("dr/db/password", "us-west-2") == "s3cr3t-db"
    assert aws.value("dr/api/key1", "eu-west-1") == "k1"
    assert aws.value("dr/api/key2", "us-west-2") == "k2-rotated"
    assert run_cli("plan", str(path))[0] == 0


def test_source_rollback_moves_the_stage_without_reading_values(aws, proxy, write_manifest, run_cli):
    # GIVEN a converged copy, then a source rotation that is copied too
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    v1 = aws.describe("prod/db/password")
    v1_id = next(k for k, s in v1["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    aws.put("prod/db/password", "v2")
    assert run_cli("run", str(path))[0] == 0
    assert aws.value("dr/db/password", "us-west-2") == "v2"
    # WHEN the source is rolled back to v1
    v2_id = next(k for k, s in aws.describe("prod/db/password")["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    aws.sm().update_secret_version_stage(SecretId="prod/db/password", VersionStage="AWSCURRENT",
                                         MoveToVersionId=v1_id, RemoveFromVersionId=v2_id)
    code, report, _ = run_cli("plan", str(path))
    assert code == 3 and report["items"][0]["reason"].startswith("source rolled back")
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN AWSCURRENT moves back on the destination, with no value read and no PutSecretValue
    assert code == 0
    assert aws.value("dr/db/password", "us-west-2") == "v1"
    assert proxy.calls["secretsmanager.UpdateSecretVersionStage"] == 1
    assert proxy.calls["secretsmanager.PutSecretValue"] == 0
    assert proxy.calls["secretsmanager.GetSecretValue"] + proxy.calls["secretsmanager.BatchGetSecretValue"] == 0


def test_unowned_destination_is_a_conflict_and_untouched(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db/password", "v1")
    aws.create("dr/db/password", "theirs", "us-west-2")
    path = write_manifest(BASIC.split("  - id: api")[0])
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    assert report["items"][0]["action"] == "conflict"
    assert aws.value("dr/db/password", "us-west-2") == "theirs"
    assert "reconciler:owner" not in aws.tags("dr/db/password", "us-west-2")
    assert proxy.calls["secretsmanager.PutSecretValue"] + proxy.calls["secretsmanager.TagResource"] == 0


def test_foreign_owner_is_always_a_conflict_even_with_adopt(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db/password", "v1")
    aws.create("dr/db/password", "theirs", "us-west-2", Tags=[{"Key": "reconciler:owner", "Value": "team-x"}])
    path = write_manifest(BASIC.split("  - id: api")[0] + "    on_existing: adopt\n")
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and report["items"][0]["action"] == "conflict"
    assert "another owner" in report["items"][0]["reason"]
    assert aws.value("dr/db/password", "us-west-2") == "theirs"


def test_adopt_takes_over_an_unowned_destination(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db/password", "v1")
    aws.create("dr/db/password", "old", "us-west-2", Tags=[{"Key": "keep", "Value": "me"}])
    path = write_manifest(BASIC.split("  - id: api")[0] + "    on_existing: adopt\n")
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and report["items"][0]["action"] == "update"
    assert aws.value("dr/db/password", "us-west-2") == "v1"
    tags = aws.tags("dr/db/password", "us-west-2")
    assert tags["reconciler:owner"] == "secrets-reconciler" and tags["keep"] == "me"
    assert run_cli("run", str(path))[1]["totals"]["in_sync"] == 1


def test_our_destination_scheduled_for_deletion_is_restored(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    aws.sm("us-west-2").delete_secret(SecretId="dr/db/password", RecoveryWindowInDays=7)
    code, report, _ = run_cli("plan", str(path))
    assert code == 3 and "deletion" in report["items"][0]["reason"]
    code, report, _ = run_cli("run", str(path))
    assert code == 0
    assert "DeletedDate" not in aws.describe("dr/db/password", "us-west-2")
    assert aws.value("dr/db/password", "us-west-2") == "v1"


def test_missing_or_deleted_source_leaves_destinations_alone(aws, proxy, write_manifest, run_cli):
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    aws.sm().delete_secret(SecretId="prod/db/password", RecoveryWindowInDays=7)
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and report["items"][0]["action"] == "source_missing"
    assert aws.value("dr/db/password", "us-west-2") == "v1"
    aws.sm().delete_secret(SecretId="prod/db/password", ForceDeleteWithoutRecovery=True)
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and report["items"][0]["action"] == "source_missing"


def test_cross_account_with_role_and_binary_secret(aws, proxy, write_manifest, run_cli):
    # GIVEN a binary source in account A and a writer role in account B
    blob = bytes(range(256)) * 3
    aws.create("prod/cert", blob)
    aws.create("prod/text", "hello")
    path = write_manifest(f"""
        version: 1
        defaults:
          source: {{region: us-east-1}}
          destination: {{region: us-west-2, role_arn: "{ROLE_B}", external_id: ext-123}}
        mappings:
          - id: cert
            source: prod/cert
            destination: {{name: dr/cert, kms_key_id: alias/dr, description: "copied", tags: {{Team: x}}}}
          - id: text
            source: prod/text
            destination: dr/text
    """)
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    # THEN the copy lives in account B, byte for byte, with its tags, key and description
    assert aws.value("dr/cert", "us-west-2", ACCOUNT_B) == blob
    d = aws.describe("dr/cert", "us-west-2", ACCOUNT_B)
    assert d["Description"] == "copied" and d["KmsKeyId"] == "alias/dr"
    assert aws.tags("dr/cert", "us-west-2", ACCOUNT_B)["Team"] == "x"
    assert not aws.exists("dr/cert", "us-west-2", ACCOUNT_A)
    assert {i["destination"]["account"] for i in report["items"]} == {ACCOUNT_B}
    # AND the role is assumed once for the run, however many items use it
    assert proxy.calls["sts.AssumeRole"] == 1
    # AND a changed tag in the manifest is kept in step on the next run
    path.write_text(path.read_text().replace("Team: x", "Team: y"))
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and report["totals"]["update"] == 1
    assert aws.tags("dr/cert", "us-west-2", ACCOUNT_B)["Team"] == "y"


def test_transformed_binary_fails_that_item_only(aws, proxy, write_manifest, run_cli):
    aws.create("prod/cert", b"\x00\x01")
    aws.create("prod/text", "at us-east-1")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: cert, source: prod/cert, destination: dr/cert, transform: [{sed: "s/a/b/"}]}
          - {id: text, source: prod/text, destination: dr/text, transform: [{sed: "s/us-east-1/${REGION}/"}]}
    """)
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    by_id = {i["mapping"]: i for i in report["items"]}
    assert by_id["cert"]["action"] == "failed" and by_id["cert"]["error"]["type"] == "TransformError"
    assert by_id["text"]["action"] == "create"
    assert aws.value("dr/text", "us-west-2") == "at us-west-2"
    assert not aws.exists("dr/cert", "us-west-2")


def test_select_and_shards(aws, proxy, write_manifest, run_cli):
    for i in range(12):
        aws.create(f"prod/api/k{i:02d}", f"v{i}")
    aws.create("prod/db/password", "x")
    path = write_manifest(BASIC)
    code, report, _ = run_cli("plan", str(path), "--select", "db")
    assert {i["mapping"] for i in report["items"]} == {"db"}
    seen: list[tuple[str, str]] = []
    for k in (1, 2, 3):
        code, report, _ = run_cli("run", str(path), "--shard", f"{k}/3")
        assert code == 0
        seen += [(i["destination"]["name"], i["destination"]["region"]) for i in report["items"]]
    assert len(seen) == len(set(seen)) == 12 * 2 + 1
    code, report, _ = run_cli("plan", str(path), "--select", "nope")
    assert code == 2


def test_invalid_manifest_exits_2_without_any_aws_call(proxy, write_manifest, run_cli):
    path = write_manifest("""
        version: 1
        mappings:
          - source: prod/a
            destination: {name: dr/a, regoin: us-east-1}
    """)
    for cmd in ("validate", "plan", "run"):
        code, _, err = run_cli(cmd, str(path))
        assert code == 2
        assert "manifest.yaml:5: mapping 'prod/a' (mappings[0]): field 'destination.regoin': unknown key" in err
        assert "Traceback" not in err
    assert sum(proxy.calls.values()) == 0


def test_manifest_from_stdin_and_s3(aws, proxy, write_manifest, run_cli, monkeypatch):
    import io

    aws.create("prod/db/password", "v1")
    text = BASIC.split("  - id: api")[0]
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, report, _ = run_cli("plan", "-")
    assert code == 3 and report["totals"]["create"] == 1
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="manifests")
    s3.put_object(Bucket="manifests", Key="m.yaml", Body=text.encode())
    code, report, _ = run_cli("plan", "s3://manifests/m.yaml")
    assert code == 3 and report["totals"]["create"] == 1
    code, _, err = run_cli("plan", "s3://manifests/missing.yaml")
    assert code == 2 and "s3://manifests/missing.yaml" in err


def test_many_explicit_mappings_use_list_pages(aws, proxy, write_manifest, run_cli):
    # GIVEN 150 explicit mappings, converged
    lines = ["version: 1", "defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}", "mappings:"]
    for i in range(150):
        aws.create(f"app/svc/s{i:03d}", f"v{i}")
        lines.append(f"  - {{source: app/svc/s{i:03d}, destination: dr/svc/s{i:03d}}}")
    path = write_manifest("\n".join(lines) + "\n")
    assert run_cli("run", str(path))[0] == 0
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN the steady state costs a few ListSecrets pages, not one call per secret
    assert code == 0 and report["totals"]["in_sync"] == 150
    assert proxy.count() == proxy.calls["secretsmanager.ListSecrets"]
    assert proxy.honest("secretsmanager.ListSecrets") <= 6


def test_named_profile_identity(aws, proxy, write_manifest, run_cli, tmp_path, monkeypatch):
    # GIVEN a named profile in a config file (moto accepts any credentials)
    cfg = tmp_path / "config"
    cfg.write_text("[profile replica]\nregion = eu-west-1\naws_access_key_id = replica\n"
                   "aws_secret_access_key = replica\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    aws.create("prod/db/password", "v1")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}}
        mappings:
          - {source: prod/db/password, destination: {name: dr/db/password, profile: replica}}
    """)
    code, report, _ = run_cli("run", str(path))
    # THEN the profile's credentials are used; the region is the run's default (none in the manifest)
    assert code == 0, report
    assert report["items"][0]["destination"]["region"] == "us-east-1"
    assert aws.value("dr/db/password", "us-east-1") == "v1"


def test_listing_lag_is_confirmed_before_anything_is_written(aws, proxy, write_manifest, run_cli):
    # GIVEN a converged copy, and a ListSecrets that has not caught up with either side yet
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    proxy.faults.hide_from_list = frozenset({"prod/db/password", "dr/db/password"})
    proxy.calls.clear()
    # WHEN we run
    code, report, _ = run_cli("run", str(path))
    # THEN the source is found with DescribeSecret; the "missing" destination is created with the
    # same deterministic token, which AWS (and moto) ignore as a repeat: no new version appears
    assert code == 0, report
    assert report["items"][0]["action"] in ("in_sync", "create")
    assert proxy.calls["secretsmanager.PutSecretValue"] == 0
    assert proxy.calls["secretsmanager.DescribeSecret"] >= 1
    assert len(aws.describe("dr/db/password", "us-west-2")["VersionIdsToStages"]) == 1


def test_only_a_current_value_is_written_after_a_stage_move(aws, proxy, write_manifest, run_cli):
    # GIVEN a source whose new version was staged and then made current with UpdateSecretVersionStage
    # (moto's batch read then returns the old version, its stages without AWSCURRENT)
    for i in range(3):
        aws.create(f"prod/api/k{i}", f"old-{i}")
    path = write_manifest(BASIC.split("  - id: api")[1].join(["version: 1\ndefaults:\n  source: {region: us-east-1}\n"
                                                             "  destination: {region: us-west-2}\nmappings:\n"
                                                             "  - id: api", ""]))
    sm = aws.sm()
    for i in range(3):
        old = next(k for k, v in sm.describe_secret(SecretId=f"prod/api/k{i}")["VersionIdsToStages"].items()
                   if "AWSCURRENT" in v)
        new = sm.put_secret_value(SecretId=f"prod/api/k{i}", SecretString=f"new-{i}", VersionStages=["STAGED"])
        sm.update_secret_version_stage(SecretId=f"prod/api/k{i}", VersionStage="AWSCURRENT",
                                       MoveToVersionId=new["VersionId"], RemoveFromVersionId=old)
    code, report, _ = run_cli("run", str(path))
    # THEN every destination holds the current value
    assert code == 0, report
    for i in range(3):
        assert aws.value(f"dr/api/k{i}", "us-west-2") == f"new-{i}"
        assert aws.value(f"dr/api/k{i}", "eu-west-1") == f"new-{i}"


def test_stale_listing_of_a_destination_is_confirmed_and_nothing_is_written(aws, proxy, write_manifest, run_cli):
    # GIVEN a source rotation that was already copied, and a ListSecrets that still shows the
    # destination's versions from before that copy
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    before = aws.describe("dr/db/password", "us-west-2")["VersionIdsToStages"]
    aws.put("prod/db/password", "v2")
    assert run_cli("run", str(path))[0] == 0
    proxy.faults.stale_versions = {"dr/db/password": before}
    proxy.calls.clear()
    # WHEN we run again
    code, report, _ = run_cli("run", str(path))
    # THEN DescribeSecret shows the destination is in sync: no value read, nothing written
    assert code == 0 and report["items"][0]["action"] == "in_sync"
    assert proxy.calls["secretsmanager.DescribeSecret"] == 1
    writes = [k for k in proxy.calls if k.split(".")[1] in ("PutSecretValue", "UpdateSecretVersionStage",
                                                             "CreateSecret", "BatchGetSecretValue", "GetSecretValue")]
    assert writes == []


def test_two_mappings_writing_one_destination_through_different_identities_fail(aws, proxy, write_manifest,
                                                                                    run_cli, tmp_path, monkeypatch):
    # GIVEN a profile that is the same account as the default credentials (known only at run time)
    cfg = tmp_path / "config"
    cfg.write_text("[profile same]\naws_access_key_id = x\naws_secret_access_key = y\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(cfg))
    aws.create("prod/a", "a")
    aws.create("prod/b", "b")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: a, source: prod/a, destination: dr/shared}
          - {id: b, source: prod/b, destination: {name: dr/shared, profile: same}}
    """)
    code, report, _ = run_cli("run", str(path))
    # THEN neither writes: both fail with an error naming the other
    assert code == 1
    assert {i["action"] for i in report["items"]} == {"failed"}
    assert "a (prod/a), b (prod/b)" in report["items"][0]["error"]["message"]
    assert not aws.exists("dr/shared", "us-west-2")


def test_demo_runs_the_whole_loop():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "reconciler", "demo"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    for step in ("1. plan", "2. run", "4. plan", "5. run", "6. run again", "demo finished"):
        assert step in out
    assert "in_sync 7" in out


def test_a_demo_whose_run_fails_stops_there_with_the_reason_and_no_traceback(tmp_path):
    import os
    import subprocess
    import sys

    # GIVEN a CA bundle that cannot be read (a corporate AWS_CA_BUNDLE that moved)
    env = {**os.environ, "AWS_CA_BUNDLE": str(tmp_path / "moved-ca.pem")}
    # WHEN the demo runs
    proc = subprocess.run([sys.executable, "-m", "reconciler", "demo"], capture_output=True, text=True,
                          timeout=120, env=env)
    # THEN it stops after the failed run, exit 1, saying why in the table, with no traceback
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "InvalidCABundle" in proc.stdout and "the demo stops here" in proc.stdout
    assert "3. someone edits" not in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_stale_listing_of_a_source_never_writes_an_old_value(aws, proxy, write_manifest, run_cli):
    # GIVEN a rotation already copied, and a ListSecrets still showing the source's old versions
    aws.create("prod/db/password", "v1")
    path = write_manifest(BASIC.split("  - id: api")[0])
    assert run_cli("run", str(path))[0] == 0
    before = aws.describe("prod/db/password")["VersionIdsToStages"]
    aws.put("prod/db/password", "v2")
    assert run_cli("run", str(path))[0] == 0
    proxy.faults.stale_versions = {"prod/db/password": before}
    proxy.calls.clear()
    # WHEN we run
    code, report, _ = run_cli("run", str(path))
    # THEN the value read back carries the current VersionId, whose token is already current:
    # nothing is written and the destination keeps v2
    assert code == 0 and report["items"][0]["action"] == "in_sync", report
    assert proxy.calls["secretsmanager.PutSecretValue"] + proxy.calls["secretsmanager.UpdateSecretVersionStage"] == 0
    assert aws.value("dr/db/password", "us-west-2") == "v2"
