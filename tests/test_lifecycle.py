"""Lifecycle over HTTP against moto, through the fault proxy (SPEC 1.1 "Lifecycle", issue 11).

Orphans, prune and its guard, on_source_deleted, native replicas and rotation, tag removal with the
crash-safe ledger, and the safety rule: a run that could not observe everything deletes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError

OWNER_TAG, SOURCE_TAG, MAPPING_TAG, LEDGER_TAG = ("reconciler:owner", "reconciler:source", "reconciler:mapping",
                                                  "reconciler:tags")
FAST_RETRY = "retry: {max_attempts: 2, base_delay: 0.01, max_delay: 0.02}"


def manifest(mappings: str, *, prune: str = "", extra_settings: str = "") -> str:
    settings = ", ".join(x for x in (FAST_RETRY, prune and f"prune: {prune}", extra_settings) if x)
    return (f"version: 1\nsettings: {{{settings}}}\n"
            "defaults:\n  source: {region: us-east-1}\n  destination: {region: us-west-2}\n"
            f"mappings:\n{mappings}")


def exact(*ids: str, extra: str = "") -> str:
    return "".join(f"  - id: {i}\n    source: prod/{i}\n    destination: dr/{i}\n{extra}" for i in ids)


def totals(report: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in report["totals"].items() if v}


def by_action(report: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [i for i in report["items"] if i["action"] == action]


def deleted(aws: Any, name: str, region: str = "us-west-2") -> bool:
    return aws.describe(name, region).get("DeletedDate") is not None


def seed(aws: Any, *ids: str) -> None:
    for i in ids:
        aws.create(f"prod/{i}", f"value-{i}")


def write_calls(proxy: Any) -> dict[str, int]:
    reads = {"ListSecrets", "DescribeSecret", "GetSecretValue", "BatchGetSecretValue"}
    return {k: v for k, v in proxy.calls.items()
            if k.startswith("secretsmanager.") and k.split(".", 1)[1] not in reads}


# --- orphans and prune --------------------------------------------------------------------------


def test_removed_mapping_is_orphan_then_pruned_then_restored_by_re_adding_it(aws, proxy, write_manifest, run_cli):
    # GIVEN two mappings, converged
    seed(aws, "a", "b")
    code, report, _ = run_cli("run", str(write_manifest(manifest(exact("a", "b")))))
    assert code == 0 and totals(report) == {"create": 2}
    # WHEN mapping b is removed from the manifest (prune off)
    path = write_manifest(manifest(exact("a")))
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN dr/b is reported as an orphan, the exit code is unaffected, and nothing is written
    assert code == 0, report
    assert totals(report) == {"in_sync": 1, "orphan": 1}
    [orphan] = by_action(report, "orphan")
    assert orphan["destination"]["name"] == "dr/b" and orphan["destination"]["region"] == "us-west-2"
    assert orphan["mapping"] == "b" and orphan["source"].startswith("arn:aws:secretsmanager:us-east-1:")
    assert write_calls(proxy) == {} and not deleted(aws, "dr/b")
    # WHEN prune is enabled: plan says delete (exit 3) and writes nothing
    path = write_manifest(manifest(exact("a"), prune="{enabled: true, max_deletes: 5, recovery_window_days: 7}"))
    proxy.calls.clear()
    code, report, _ = run_cli("plan", str(path))
    assert code == 3 and totals(report) == {"in_sync": 1, "delete": 1}
    assert write_calls(proxy) == {} and not deleted(aws, "dr/b")
    # WHEN run: dr/b is scheduled for deletion with the recovery window, never forced
    proxy.record_bodies = True
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1, "delete": 1}
    assert deleted(aws, "dr/b") and not deleted(aws, "dr/a")
    sent = [json.loads(b) for name, b in proxy.bodies if name == "secretsmanager.DeleteSecret"]
    assert sent == [{"SecretId": sent[0]["SecretId"], "RecoveryWindowInDays": 7}]
    assert "ForceDeleteWithoutRecovery" not in sent[0]
    # AND an orphan already scheduled for deletion is neither reported nor deleted again
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1}
    assert write_calls(proxy) == {}
    # WHEN the mapping is added back: the copy is restored and in sync again
    path = write_manifest(manifest(exact("a", "b"), prune="{enabled: true, max_deletes: 5, recovery_window_days: 7}"))
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1, "update": 1}, report
    assert not deleted(aws, "dr/b") and aws.value("dr/b", "us-west-2") == "value-b"
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 2}


def test_secrets_of_another_owner_and_untagged_ones_are_never_orphans(aws, proxy, write_manifest, run_cli):
    # GIVEN in the destination region: another owner's secret, an untagged one, and one whose owner
    # value sits on another tag key (ListSecrets' tag-key and tag-value filters match independently)
    seed(aws, "a")
    aws.create("dr/theirs", "x", region="us-west-2", Tags=[{"Key": OWNER_TAG, "Value": "someone-else"}])
    aws.create("dr/untagged", "x", region="us-west-2")
    aws.create("dr/lookalike", "x", region="us-west-2",
               Tags=[{"Key": OWNER_TAG, "Value": "x"}, {"Key": "Team", "Value": "secrets-reconciler"}])
    prune = "{enabled: true, max_deletes: 10}"
    # WHEN a pruning run converges
    code, report, _ = run_cli("run", str(write_manifest(manifest(exact("a"), prune=prune))))
    # THEN none of them is reported or deleted
    assert code == 0 and totals(report) == {"create": 1}, report
    assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0
    assert not any(deleted(aws, n) for n in ("dr/theirs", "dr/untagged", "dr/lookalike"))


def test_a_secret_the_manifest_reads_is_never_an_orphan(aws, proxy, write_manifest, run_cli):
    # GIVEN a source that carries our owner tag (a copy written by an earlier manifest, now read)
    aws.create("prod/a", "v", Tags=[{"Key": OWNER_TAG, "Value": "secrets-reconciler"}])
    # and a destination in the source's own region
    text = manifest("  - id: a\n    source: prod/a\n    destination: {name: copy/a, region: us-east-1}\n",
                    prune="{enabled: true}")
    code, report, _ = run_cli("run", str(write_manifest(text)))
    assert code == 0 and totals(report) == {"create": 1}, report
    code, report, _ = run_cli("run", str(write_manifest(text)))
    assert code == 0 and totals(report) == {"in_sync": 1}, report
    assert not deleted(aws, "prod/a", "us-east-1")


@pytest.mark.parametrize("partial", ["select", "shard", "retry-failed", "change-event"])
def test_partial_runs_neither_report_nor_delete_orphans(aws, proxy, write_manifest, run_cli, tmp_path, partial):
    # GIVEN a converged manifest, then one mapping removed, prune on
    seed(aws, "a", "b")
    assert run_cli("run", str(write_manifest(manifest(exact("a", "b")))))[0] == 0
    path = write_manifest(manifest(exact("a"), prune="{enabled: true, max_deletes: 5}"))
    proxy.calls.clear()
    # WHEN a run sees part of the manifest
    if partial == "change-event":
        report = _run_for_sources(path, frozenset({("us-east-1", "prod/a")}))
    else:
        args = {"select": ["--select", "a"], "shard": ["--shard", "1/1"]}.get(partial)
        if args is None:
            failed = tmp_path / "failed.json"
            failed.write_text(json.dumps({"items": [{"mapping": "a", "action": "failed", "destination": {
                "name": "dr/a", "region": "us-west-2", "account": "123456789012"}}]}))
            args = ["--retry-failed", str(failed)]
        code, report, _ = run_cli("run", str(path), *args)
        assert code == 0, report
    # THEN no orphan is reported and nothing is deleted
    assert not by_action(report, "orphan") and not by_action(report, "delete"), report
    assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0 and not deleted(aws, "dr/b")


def _run_for_sources(path: Path, sources: frozenset[tuple[str, str]]) -> dict[str, Any]:
    from reconciler.engine import Options, reconcile
    from reconciler.manifest import load_manifest

    report = anyio.run(reconcile, load_manifest(str(path)), Options(sources=sources))
    return report.to_dict()


# --- the guard -------------------------------------------------------------------------------------


def test_guard_empty_manifest_accident_deletes_nothing(aws, proxy, write_manifest, run_cli):
    # GIVEN three converged copies
    seed(aws, "a", "b", "c", "other")
    assert run_cli("run", str(write_manifest(manifest(exact("a", "b", "c")))))[0] == 0
    # WHEN a manifest whose only mapping points elsewhere runs with prune (max_deletes 2)
    wrong = manifest("  - id: other\n    source: prod/other\n    destination: elsewhere/other\n",
                     prune="{enabled: true, max_deletes: 2}")
    path = write_manifest(wrong)
    for mode in ("plan", "run"):
        proxy.calls.clear()
        code, report, _ = run_cli(mode, str(path))
        # THEN nothing is deleted: each would-be deletion fails with PruneGuard, exit 1
        assert code == 1, report
        failed = by_action(report, "failed")
        assert sorted(i["destination"]["name"] for i in failed) == ["dr/a", "dr/b", "dr/c"]
        assert {i["error"]["type"] for i in failed} == {"PruneGuard"}
        assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0
    assert not any(deleted(aws, f"dr/{i}") for i in "abc")


def test_guard_truncated_manifest_accident_then_a_deliberate_prune(aws, proxy, write_manifest, run_cli, tmp_path):
    # GIVEN five converged copies
    ids = ("m1", "m2", "m3", "m4", "m5")
    seed(aws, *ids)
    assert run_cli("run", str(write_manifest(manifest(exact(*ids)))))[0] == 0
    # WHEN the manifest is cut to two mappings: three deletions, over max_deletes 2
    code, report, _ = run_cli("run", str(write_manifest(manifest(exact("m1", "m2"),
                                                                 prune="{enabled: true, max_deletes: 2}"))))
    assert code == 1 and totals(report) == {"in_sync": 2, "failed": 3}
    assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0
    # WHEN only those refusals are retried: a partial run never deletes, and says so (not a silent 0)
    saved = tmp_path / "guarded.json"
    saved.write_text(json.dumps(report))
    cut = write_manifest(manifest(exact("m1", "m2"), prune="{enabled: true, max_deletes: 2}"))
    code, _, err = run_cli("run", str(cut), "--retry-failed", str(saved))
    assert "deletions refused by the prune guard are not retried" in err
    assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0
    # WHEN the operator means it and raises the limit
    code, report, _ = run_cli("run", str(write_manifest(manifest(exact("m1", "m2"),
                                                                 prune="{enabled: true, max_deletes: 3}"))))
    assert code == 0 and totals(report) == {"in_sync": 2, "delete": 3}
    assert all(deleted(aws, f"dr/{i}") for i in ("m3", "m4", "m5"))


# --- on_source_deleted -----------------------------------------------------------------------------


def test_source_deletion_keep_and_delete_then_the_source_comes_back(aws, proxy, write_manifest, run_cli):
    # GIVEN two mappings, one per policy, converged
    seed(aws, "k", "d")
    text = manifest(exact("k") + exact("d", extra="    on_source_deleted: delete\n"))
    path = write_manifest(text)
    assert run_cli("run", str(path))[0] == 0
    # WHEN both sources are scheduled for deletion
    for i in ("k", "d"):
        aws.sm().delete_secret(SecretId=f"prod/{i}", RecoveryWindowInDays=7)
    # THEN plan: keep is source_missing; delete would delete
    code, report, _ = run_cli("plan", str(path))
    assert code == 1 and totals(report) == {"source_missing": 1, "delete": 1}
    assert not deleted(aws, "dr/d")
    # WHEN run: the keep copy stays, the delete copy is scheduled for deletion (prune not needed)
    proxy.record_bodies = True
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"source_missing": 1, "delete": 1}
    assert not deleted(aws, "dr/k") and deleted(aws, "dr/d")
    [sent] = [json.loads(b) for name, b in proxy.bodies if name == "secretsmanager.DeleteSecret"]
    assert sent["RecoveryWindowInDays"] == 30 and "ForceDeleteWithoutRecovery" not in sent
    # AND the next run does not delete again
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"source_missing": 2} and write_calls(proxy) == {}
    # WHEN the sources come back: the deleted copy is restored and synced again
    for i in ("k", "d"):
        aws.sm().restore_secret(SecretId=f"prod/{i}")
    aws.put("prod/d", "value-d-2")
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    assert not deleted(aws, "dr/d") and aws.value("dr/d", "us-west-2") == "value-d-2"
    assert run_cli("run", str(path))[1]["totals"]["in_sync"] == 2


def test_source_gone_for_good_deletes_the_copy_and_counts_against_the_guard(aws, proxy, write_manifest, run_cli):
    # GIVEN three delete-policy mappings, converged
    seed(aws, "x", "y", "z")
    text = manifest(exact("x", "y", "z", extra="    on_source_deleted: delete\n"), prune="{max_deletes: 2}")
    path = write_manifest(text)
    assert run_cli("run", str(path))[0] == 0
    # WHEN all three sources are deleted without recovery: more deletions than max_deletes
    for i in "xyz":
        aws.sm().delete_secret(SecretId=f"prod/{i}", ForceDeleteWithoutRecovery=True)
    code, report, _ = run_cli("run", str(path))
    # THEN the guard holds (prune.enabled is off, but max_deletes still bounds every deletion)
    assert code == 1 and {i["error"]["type"] for i in by_action(report, "failed")} == {"PruneGuard"}
    assert totals(report) == {"failed": 3} and not any(deleted(aws, f"dr/{i}") for i in "xyz")
    # WHEN only one is gone for good
    for i in "xy":
        aws.create(f"prod/{i}", f"value-{i}")
    code, report, _ = run_cli("run", str(path))
    assert totals(report)["delete"] == 1 and deleted(aws, "dr/z")


def test_a_copy_that_is_not_ours_is_kept_when_its_source_goes(aws, proxy, write_manifest, run_cli):
    # GIVEN a delete-policy mapping whose destination was taken over by another owner
    seed(aws, "d")
    path = write_manifest(manifest(exact("d", extra="    on_source_deleted: delete\n")))
    assert run_cli("run", str(path))[0] == 0
    aws.sm("us-west-2").tag_resource(SecretId="dr/d", Tags=[{"Key": OWNER_TAG, "Value": "someone-else"}])
    aws.sm().delete_secret(SecretId="prod/d", RecoveryWindowInDays=7)
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"source_missing": 1}
    assert not deleted(aws, "dr/d")


# --- replicas and rotation -------------------------------------------------------------------------


def test_a_native_replica_destination_is_a_conflict_and_never_written(aws, proxy, write_manifest, run_cli):
    # GIVEN a destination name in us-west-2 that is a native replica of a us-east-1 secret
    seed(aws, "r")
    aws.create("dr/r", "primary-value", Tags=[{"Key": OWNER_TAG, "Value": "secrets-reconciler"}])
    aws.sm().replicate_secret_to_regions(SecretId="dr/r", AddReplicaRegions=[{"Region": "us-west-2"}])
    assert aws.describe("dr/r", "us-west-2").get("PrimaryRegion") == "us-east-1"
    # WHEN a pruning run (adopt allowed) maps a source onto it
    text = manifest(exact("r", extra="    on_existing: adopt\n"), prune="{enabled: true}")
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(write_manifest(text)))
    # THEN it is a conflict naming the replica, and nothing is written (nor deleted)
    assert code == 1 and totals(report) == {"conflict": 1}
    assert "native replica" in report["items"][0]["reason"]
    assert write_calls(proxy) == {}
    assert aws.value("dr/r", "us-west-2") == "primary-value"


def test_a_primary_with_native_replicas_is_written_like_any_destination(aws, proxy, write_manifest, run_cli):
    # GIVEN our converged copy in us-west-2, which then became a primary with a native replica: AWS
    # answers it with PrimaryRegion = us-west-2 (its own region) beside ReplicationStatus (issue 16)
    seed(aws, "p")
    path = write_manifest(manifest(exact("p")))
    assert run_cli("run", str(path))[0] == 0
    proxy.faults.primaries = {"dr/p": ["eu-west-1"]}
    # WHEN the source rotates and the reconciler runs
    aws.put("prod/p", "rotated-at-source")
    code, report, _ = run_cli("run", str(path))
    # THEN the primary is updated, not called "a native replica of a secret in us-west-2"
    assert code == 0 and totals(report) == {"update": 1}, report
    assert aws.value("dr/p", "us-west-2") == "rotated-at-source"
    # AND the next run finds it in sync (and no orphan)
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1}, report


def test_a_primary_with_its_own_replica_is_written_like_any_destination_in_aws_mode(aws, proxy, write_manifest,
                                                                                   run_cli):
    # GIVEN AWS mode, and our converged copy in us-west-2 natively replicated to eu-west-1: the proxy
    # answers it as AWS does (PrimaryRegion us-west-2, its own region, beside ReplicationStatus)
    proxy.faults.aws_mode = True
    seed(aws, "p")
    path = write_manifest(manifest(exact("p"), prune="{enabled: true}"))
    assert run_cli("run", str(path))[0] == 0
    aws.sm("us-west-2").replicate_secret_to_regions(SecretId="dr/p", AddReplicaRegions=[{"Region": "eu-west-1"}])
    assert aws.describe("dr/p", "us-west-2")["ReplicationStatus"]
    # WHEN the source rotates and the reconciler runs
    aws.put("prod/p", "rotated-at-source")
    code, report, _ = run_cli("run", str(path))
    # THEN the primary is updated like any destination; its replica is no orphan and is not deleted
    assert code == 0 and totals(report) == {"update": 1}, report
    assert aws.value("dr/p", "us-west-2") == "rotated-at-source"
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1}, report


def test_an_owned_replica_is_never_an_orphan(aws, proxy, write_manifest, run_cli):
    # GIVEN our copy in us-east-1 replicated natively into us-west-2 (tags travel with the replica)
    seed(aws, "a")
    aws.create("dr/elsewhere", "v", Tags=[{"Key": OWNER_TAG, "Value": "secrets-reconciler"}])
    aws.sm().replicate_secret_to_regions(SecretId="dr/elsewhere", AddReplicaRegions=[{"Region": "us-west-2"}])
    code, report, _ = run_cli("run", str(write_manifest(manifest(exact("a"), prune="{enabled: true}"))))
    assert code == 0 and totals(report) == {"create": 1}, report
    assert not deleted(aws, "dr/elsewhere")


def test_a_rotating_destination_is_a_conflict_and_never_written(aws, proxy, write_manifest, run_cli):
    # GIVEN a converged copy on which rotation was then turned on
    seed(aws, "rot")
    path = write_manifest(manifest(exact("rot")))
    assert run_cli("run", str(path))[0] == 0
    # moto answers RotateSecret without a real Lambda with an error, but records RotationEnabled
    with pytest.raises(ClientError):
        aws.sm("us-west-2").rotate_secret(SecretId="dr/rot", RotationLambdaARN=(
            "arn:aws:lambda:us-west-2:123456789012:function:rotator"), RotationRules={"AutomaticallyAfterDays": 30})
    assert aws.describe("dr/rot", "us-west-2").get("RotationEnabled") is True
    aws.put("prod/rot", "rotated-at-source")
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"conflict": 1}
    assert "rotat" in report["items"][0]["reason"]
    assert write_calls(proxy) == {}
    assert aws.value("dr/rot", "us-west-2") == "value-rot"


# --- tags ------------------------------------------------------------------------------------------


def tagged(tags: str) -> str:
    return f"  - id: t\n    source: prod/t\n    destination: {{name: dr/t, tags: {tags}}}\n"


def test_dropped_tags_are_removed_and_a_foreign_tag_is_kept(aws, proxy, write_manifest, run_cli):
    # GIVEN a copy written with two extra tags, and a tag someone else added later
    seed(aws, "t")
    assert run_cli("run", str(write_manifest(manifest(tagged("{CostCenter: '42', Team: a}")))))[0] == 0
    assert aws.tags("dr/t", "us-west-2")[LEDGER_TAG] == "CostCenter/Team"
    aws.sm("us-west-2").tag_resource(SecretId="dr/t", Tags=[{"Key": "Owner", "Value": "ops"}])
    # WHEN the manifest drops Team and changes CostCenter
    code, report, _ = run_cli("run", str(write_manifest(manifest(tagged("{CostCenter: '43'}")))))
    assert code == 0 and totals(report) == {"update": 1}, report
    tags = aws.tags("dr/t", "us-west-2")
    # THEN Team is gone, CostCenter changed, the foreign tag stays, the ledger names CostCenter only
    assert "Team" not in tags and tags["CostCenter"] == "43" and tags["Owner"] == "ops"
    assert tags[LEDGER_TAG] == "CostCenter"
    # WHEN the manifest names no extra tag at all: the ledger goes too, ownership tags stay
    code, report, _ = run_cli("run", str(write_manifest(manifest(tagged("{}")))))
    assert code == 0 and totals(report) == {"update": 1}
    tags = aws.tags("dr/t", "us-west-2")
    assert set(tags) == {OWNER_TAG, SOURCE_TAG, MAPPING_TAG, "Owner"}
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(write_manifest(manifest(tagged("{}")))))
    assert code == 0 and totals(report) == {"in_sync": 1} and write_calls(proxy) == {}


def test_a_crash_between_the_tag_and_untag_writes_converges_next_run(aws, proxy, write_manifest, run_cli):
    # GIVEN a copy with tags A and B
    seed(aws, "t")
    assert run_cli("run", str(write_manifest(manifest(tagged("{A: '1', B: '1'}")))))[0] == 0
    # WHEN the manifest drops B and adds C, and the run dies between TagResource and UntagResource
    path = write_manifest(manifest(tagged("{A: '1', C: '1'}")))
    proxy.faults.deny["UntagResource"] = (400, "AccessDeniedException", "injected crash")
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"failed": 1}
    tags = aws.tags("dr/t", "us-west-2")
    # THEN the ledger still names every key the reconciler may have set (widened before the untag)
    assert tags["C"] == "1" and tags["B"] == "1" and tags[LEDGER_TAG] == "A/B/C"
    # WHEN the next run can write: it finishes the job
    del proxy.faults.deny["UntagResource"]
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"update": 1}, report
    tags = aws.tags("dr/t", "us-west-2")
    assert "B" not in tags and tags[LEDGER_TAG] == "A/C"
    # WHEN it crashes after the untag, before the ledger is narrowed: the next run narrows it
    path = write_manifest(manifest(tagged("{A: '1'}")))
    proxy.faults.fail_next["TagResource"] = [(400, "AccessDeniedException", "injected crash")]
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    tags = aws.tags("dr/t", "us-west-2")
    assert "C" not in tags and tags[LEDGER_TAG] == "A/C"  # no first TagResource was needed: the untag ran
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and aws.tags("dr/t", "us-west-2")[LEDGER_TAG] == "A"
    assert run_cli("run", str(path))[1]["totals"]["in_sync"] == 1


def test_a_crash_between_the_value_and_tag_writes_converges_next_run(aws, proxy, write_manifest, run_cli):
    # GIVEN a converged copy
    seed(aws, "t")
    assert run_cli("run", str(write_manifest(manifest(tagged("{A: '1'}")))))[0] == 0
    # WHEN the source changes and a tag changes, and TagResource fails after the value was written
    aws.put("prod/t", "value-t-2")
    path = write_manifest(manifest(tagged("{A: '2'}")))
    proxy.faults.fail_next["TagResource"] = [(400, "AccessDeniedException", "injected crash")]
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and totals(report) == {"failed": 1}
    assert aws.value("dr/t", "us-west-2") == "value-t-2" and aws.tags("dr/t", "us-west-2")["A"] == "1"
    # THEN the next run sees the tags out of step (from the listing alone) and fixes only them
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"update": 1}
    assert report["items"][0]["reason"] == "tags or description out of step"
    assert aws.tags("dr/t", "us-west-2")["A"] == "2"
    assert "secretsmanager.PutSecretValue" not in proxy.calls


# --- safety: what was not observed never becomes a deletion ----------------------------------------

PREFIX = "  - id: app\n    source: \"app/*\"\n    destination: \"dr/app/*\"\n"


@pytest.mark.parametrize("mode", ["plan", "run"])
def test_a_failed_source_listing_never_produces_orphans_or_deletions(aws, proxy, write_manifest, run_cli, mode):
    # GIVEN a prefix mapping converged with pruning on
    aws.create("app/s1", "one")
    aws.create("app/s2", "two")
    path = write_manifest(manifest(PREFIX, prune="{enabled: true, max_deletes: 10}"))
    assert run_cli("run", str(path))[0] == 0
    # WHEN the source region's listing fails (its members are unknown)
    proxy.faults.deny_in[("ListSecrets", "us-east-1")] = (403, "AccessDeniedException", "not authorized")
    proxy.calls.clear()
    code, report, _ = run_cli(mode, str(path))
    # THEN the run fails, and no copy is reported as an orphan or deleted
    assert code == 1
    assert not by_action(report, "orphan") and not by_action(report, "delete"), report
    assert proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0
    assert not deleted(aws, "dr/app/s1") and not deleted(aws, "dr/app/s2")


def test_a_failed_destination_listing_never_produces_deletions(aws, proxy, write_manifest, run_cli):
    seed(aws, "a", "b")
    assert run_cli("run", str(write_manifest(manifest(exact("a", "b")))))[0] == 0
    path = write_manifest(manifest(exact("a"), prune="{enabled: true}"))
    proxy.faults.deny_in[("ListSecrets", "us-west-2")] = (500, "InternalServiceError", "boom")
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and report["errors"]
    assert not by_action(report, "orphan") and proxy.calls.get("secretsmanager.DeleteSecret", 0) == 0


def test_a_prefix_member_gone_is_an_orphan(aws, proxy, write_manifest, run_cli):
    # GIVEN a prefix mapping with two members, converged
    aws.create("app/s1", "one")
    aws.create("app/s2", "two")
    path = write_manifest(manifest(PREFIX))
    assert run_cli("run", str(path))[0] == 0
    # WHEN one member is gone for good
    aws.sm().delete_secret(SecretId="app/s2", ForceDeleteWithoutRecovery=True)
    code, report, _ = run_cli("run", str(path))
    # THEN its copy is an orphan (keep policy), reported, not deleted
    assert code == 0 and totals(report) == {"in_sync": 1, "orphan": 1}
    assert by_action(report, "orphan")[0]["destination"]["name"] == "dr/app/s2"


# --- cost --------------------------------------------------------------------------------------------


def test_steady_state_with_prune_lists_only(aws, proxy, write_manifest, run_cli):
    # GIVEN 40 converged mappings with pruning on
    ids = [f"s{i:02d}" for i in range(40)]
    seed(aws, *ids)
    path = write_manifest(manifest(exact(*ids), prune="{enabled: true}"))
    assert run_cli("run", str(path))[0] == 0
    # WHEN a steady-state run
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN: one name-filtered listing of the sources and one owned listing of the destinations
    assert code == 0 and totals(report) == {"in_sync": 40}
    sm = {k: proxy.honest(k) for k in proxy.calls if k.startswith("secretsmanager.")}
    assert sm == {"secretsmanager.ListSecrets": 2}, sm


# --- Parameter Store: no recovery window, never deleted -------------------------------------------

SSM_MAPPINGS = ("  - id: p1\n    source: prod/p1\n    destination: {name: /dr/p1, service: ssm}\n"
                "  - id: p2\n    source: prod/p2\n    destination: {name: /dr/p2, service: ssm}\n")


def test_parameter_store_orphans_are_reported_never_deleted(aws, proxy, write_manifest, run_cli):
    # GIVEN two secrets copied to parameters, converged
    seed(aws, "p1", "p2")
    assert run_cli("run", str(write_manifest(manifest(SSM_MAPPINGS))))[0] == 0
    # WHEN one mapping is removed and prune is on
    text = manifest(SSM_MAPPINGS.split("  - id: p2")[0], prune="{enabled: true}")
    code, report, _ = run_cli("run", str(write_manifest(text)))
    # THEN the parameter is an orphan, reported with why it is kept, and never deleted
    assert code == 0 and totals(report) == {"in_sync": 1, "orphan": 1}, report
    [orphan] = by_action(report, "orphan")
    assert orphan["destination"]["name"] == "/dr/p2" and "no recovery window" in orphan["reason"]
    assert "ssm.DeleteParameter" not in proxy.calls
    assert aws.client("ssm", "us-west-2").get_parameter(Name="/dr/p2")["Parameter"]["Name"] == "/dr/p2"


def test_on_source_deleted_delete_on_a_parameter_fails_with_no_recovery_window(aws, proxy, write_manifest,
                                                                              run_cli):
    seed(aws, "p1")
    text = manifest("  - id: p1\n    source: prod/p1\n    destination: {name: /dr/p1, service: ssm}\n"
                    "    on_source_deleted: delete\n")
    path = write_manifest(text)
    assert run_cli("run", str(path))[0] == 0
    aws.sm().delete_secret(SecretId="prod/p1", RecoveryWindowInDays=7)
    code, report, _ = run_cli("run", str(path))
    assert code == 1 and report["items"][0]["error"]["type"] == "NoRecoveryWindow", report["items"]
    assert "ssm.DeleteParameter" not in proxy.calls


def test_a_prefix_member_gone_for_good_follows_its_source_under_on_source_deleted_delete(
        aws, proxy, write_manifest, run_cli):
    # GIVEN a prefix mapping that follows source deletions, converged (prune off)
    aws.create("app/s1", "one")
    aws.create("app/s2", "two")
    path = write_manifest(manifest(PREFIX + "    on_source_deleted: delete\n"))
    assert run_cli("run", str(path))[0] == 0
    # WHEN a member is deleted for good (it is no longer listed: its copy has no item)
    aws.sm().delete_secret(SecretId="app/s2", ForceDeleteWithoutRecovery=True)
    code, report, _ = run_cli("plan", str(path))
    assert code == 3 and totals(report) == {"in_sync": 1, "delete": 1}, report
    # THEN run confirms the source is gone (DescribeSecret) and schedules the copy's deletion
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and totals(report) == {"in_sync": 1, "delete": 1}, report
    assert deleted(aws, "dr/app/s2") and not deleted(aws, "dr/app/s1")
    assert proxy.calls["secretsmanager.DescribeSecret"] >= 2  # the source, then the copy, before deleting
