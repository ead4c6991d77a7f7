"""plan --out / run --plan (issue 17 part 1): a reviewed plan is applied exactly, or not at all.

Over HTTP against moto through the fault proxy; the out-of-band changes are made by an
independent boto3 client (``aws``), as another team's tooling would make them.
"""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.planfile import (
    PlanFile,
    manifest_digest,
    parse_age,
    read_plan,
    verify_plan,
)
from reconciler.manifest.load import parse_manifest

OWNER = "plan-test"
MANIFEST = f"""\
version: 1
settings: {{owner: {OWNER}, retry: {{max_attempts: 2, base_delay: 0.01, max_delay: 0.02}}}}
defaults:
  source: {{region: us-east-1}}
  destination: {{region: us-west-2}}
mappings:
  - {{id: a, source: app/a, destination: dr/a}}
  - {{id: b, source: app/b, destination: dr/b}}
  - {{id: c, source: app/c, destination: dr/c}}
  - {{id: d, source: app/d, destination: dr/d}}
"""
CANARY = "CANARY-plan-6d1f"  # no output or plan file may hold it, nor anything derived from it


def _calls(proxy: Any, op: str) -> int:
    return sum(n for k, n in proxy.calls.items() if op in k)


def _writes(proxy: Any) -> int:
    return sum(_calls(proxy, op) for op in ("CreateSecret", "PutSecretValue", "UpdateSecretVersionStage",
                                            "TagResource", "UntagResource", "DeleteSecret", "RestoreSecret"))


def _seed(aws: Any) -> None:
    for x in "abcd":
        aws.create(f"app/{x}", f"{CANARY}-{x}-1")


def test_plan_out_then_an_out_of_band_change_then_run_plan_writes_exactly_the_unchanged_items(
        aws: Any, proxy: Any, run_cli: Any, write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN a converged manifest of four mappings, then a source rotated for a, b and c (d unchanged)
    _seed(aws)
    manifest = write_manifest(MANIFEST)
    assert run_cli("run", str(manifest))[0] == 0
    for x in "abc":
        aws.put(f"app/{x}", f"{CANARY}-{x}-2")
    # WHEN the plan is saved
    plan_path = tmp_path / "plan.json"
    code, report, err = run_cli("plan", str(manifest), "--out", str(plan_path))
    assert code == 3 and report["totals"]["update"] == 3, report
    plan = json.loads(plan_path.read_text())
    assert {e["mapping"] for e in plan["items"]} == {"a", "b", "c"}
    # AND, after review, someone rotates source b again and edits destination c out of band
    aws.put("app/b", f"{CANARY}-b-3")
    aws.put("dr/c", f"{CANARY}-c-manual", region="us-west-2")
    proxy.reset()
    code, report, err = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN only a is written; b and c fail PlanStale, saying which side moved; d is not touched
    by_mapping = {i["mapping"]: i for i in report["items"]}
    assert code == 1, report
    assert set(by_mapping) == {"a", "b", "c"}
    assert by_mapping["a"]["action"] == "update"
    assert by_mapping["b"]["action"] == "failed" and by_mapping["b"]["error"]["type"] == "PlanStale"
    assert "source moved" in by_mapping["b"]["error"]["message"]
    assert by_mapping["c"]["action"] == "failed" and by_mapping["c"]["error"]["type"] == "PlanStale"
    assert "destination moved" in by_mapping["c"]["error"]["message"]
    assert aws.value("dr/a", region="us-west-2") == f"{CANARY}-a-2"
    assert aws.value("dr/b", region="us-west-2") == f"{CANARY}-b-1"  # not written: not what was reviewed
    assert aws.value("dr/c", region="us-west-2") == f"{CANARY}-c-manual"  # the edit is left for a new plan
    assert _calls(proxy, "PutSecretValue") == 1 and _writes(proxy) == 1
    # AND nothing the run printed or saved holds a value
    for text in (plan_path.read_text(), json.dumps(report), err):
        assert CANARY not in text


def test_a_create_planned_then_made_out_of_band_is_stale(aws: Any, proxy: Any, run_cli: Any,
                                                         write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN a plan that creates dr/a
    aws.create("app/a", f"{CANARY}-a")
    manifest = write_manifest(MANIFEST.split("  - {id: b")[0])
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(plan_path))[0] == 3
    entry = json.loads(plan_path.read_text())["items"][0]
    assert entry["action"] == "create" and entry["destination_version"] is None and entry["changes"] == ["create"]
    # WHEN someone creates dr/a by hand before the apply
    aws.create("dr/a", "by-hand", region="us-west-2")
    code, report, _ = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN the apply does not touch it
    [item] = report["items"]
    assert item["error"] is not None, item
    assert code == 1 and item["error"]["type"] == "PlanStale" and "created since the plan" in item["error"]["message"]
    assert aws.value("dr/a", region="us-west-2") == "by-hand"


def test_an_empty_plan_applies_nothing_and_succeeds(aws: Any, proxy: Any, run_cli: Any, write_manifest: Any,
                                                   tmp_path: Path) -> None:
    # GIVEN a converged manifest and its (empty) plan
    _seed(aws)
    manifest = write_manifest(MANIFEST)
    assert run_cli("run", str(manifest))[0] == 0
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(plan_path))[0] == 0
    # WHEN a source rotates after the plan, and the plan is applied
    aws.put("app/a", f"{CANARY}-a-2")
    proxy.reset()
    code, report, _ = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN nothing is written: the rotation was not reviewed
    assert code == 0 and report["items"] == [] and _writes(proxy) == 0


def test_orphans_are_deleted_only_when_planned(aws: Any, proxy: Any, run_cli: Any, write_manifest: Any,
                                               tmp_path: Path) -> None:
    # GIVEN four converged copies, then a manifest with prune on that drops c and d
    _seed(aws)
    assert run_cli("run", str(write_manifest(MANIFEST)))[0] == 0
    pruned = MANIFEST.replace(f"owner: {OWNER},", f"owner: {OWNER}, prune: {{enabled: true}},")
    pruned = pruned.split("  - {id: c")[0]
    manifest = write_manifest(pruned, name="pruned.yaml")
    plan_path = tmp_path / "plan.json"
    code, report, _ = run_cli("plan", str(manifest), "--out", str(plan_path))
    assert code == 3 and report["totals"]["delete"] == 2, report
    # WHEN, before the apply, someone writes into orphan d (it is live again for someone)
    aws.put("dr/d", "someone-needs-this", region="us-west-2")
    code, report, _ = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN c is deleted, d is not (PlanStale), and a and b are untouched
    by_name = {i["destination"]["name"]: i for i in report["items"]}
    assert set(by_name) == {"dr/c", "dr/d"}, report
    assert by_name["dr/c"]["action"] == "delete"
    assert by_name["dr/d"]["action"] == "failed" and by_name["dr/d"]["error"]["type"] == "PlanStale"
    assert "DeletedDate" in aws.describe("dr/c", region="us-west-2")
    assert "DeletedDate" not in aws.describe("dr/d", region="us-west-2")
    assert code == 1


def test_a_plan_for_another_manifest_is_refused_before_any_aws_call(aws: Any, proxy: Any, run_cli: Any,
                                                                   write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN a plan for one manifest
    _seed(aws)
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(write_manifest(MANIFEST)), "--out", str(plan_path))[0] == 3
    # WHEN it is applied to a manifest whose transform differs
    other = write_manifest(MANIFEST.replace("destination: dr/a}", "destination: dr/a, transform: [{sed: 's/a/b/'}]}"),
                           name="other.yaml")
    proxy.reset()
    code, report, err = run_cli("run", str(other), "--plan", str(plan_path))
    # THEN it is refused as a usage error, with no AWS call
    assert code == 2 and "another manifest" in err and not proxy.calls
    assert report["errors"][0]["type"] == "ManifestError"


@pytest.mark.parametrize("breakage, says", [
    ("not json", "not a plan file"),
    ('{"format": 2}', "not a plan file"),
    ("[]", "not a plan file"),
])
def test_a_malformed_plan_file_is_refused_with_exit_2(aws: Any, proxy: Any, run_cli: Any, write_manifest: Any,
                                                     tmp_path: Path, breakage: str, says: str) -> None:
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(breakage)
    code, _, err = run_cli("run", str(write_manifest(MANIFEST)), "--plan", str(plan_path))
    assert code == 2 and says in err and "Traceback" not in err and not proxy.calls


def test_a_missing_plan_file_and_a_stray_max_age_are_usage_errors(proxy: Any, run_cli: Any, write_manifest: Any,
                                                                  tmp_path: Path) -> None:
    manifest = str(write_manifest(MANIFEST))
    code, _, err = run_cli("run", manifest, "--plan", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read the plan file" in err
    code, _, err = run_cli("run", manifest, "--plan-max-age", "1h")
    assert code == 2 and "--plan-max-age needs --plan" in err
    code, _, err = run_cli("run", manifest, "--plan", str(tmp_path / "nope.json"), "--plan-max-age", "soon")
    assert code == 2 and not proxy.calls


def test_a_plan_that_failed_is_not_written(aws: Any, proxy: Any, run_cli: Any, write_manifest: Any,
                                          tmp_path: Path) -> None:
    # GIVEN a manifest whose sources do not exist: the plan fails
    plan_path = tmp_path / "plan.json"
    code, _, err = run_cli("plan", str(write_manifest(MANIFEST)), "--out", str(plan_path))
    assert code == 1 and "plan file not written" in err and not plan_path.exists()


@pytest.mark.parametrize("target, says", [
    ("{tmp}", "it is a directory"),
    ("{tmp}/no-such-dir/plan.json", "no-such-dir does not exist"),
    ("{tmp}/a-file/plan.json", "a-file is not a directory"),
    ("s3://bucket/plan.json", "writes a local file"),
    ("/dev/null", "not a regular file"),
    ("{tmp}/fifo", "not a regular file"),
    ("{tmp}/link.json", "symbolic link"),
])
def test_an_unwritable_plan_out_is_refused_before_any_aws_call(proxy: Any, run_cli: Any, write_manifest: Any,
                                                              tmp_path: Path, target: str, says: str) -> None:
    # GIVEN a --out that could not be written, or whose node a rename would replace (a device,
    # a pipe, a symlink: /dev/stdout is one)
    (tmp_path / "a-file").write_text("")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.json").symlink_to(tmp_path / "elsewhere.json")
    # WHEN planning THEN exit 2 before the plan, not after it, and the node is left as it was
    code, _, err = run_cli("plan", str(write_manifest(MANIFEST)), "--out", target.format(tmp=tmp_path))
    assert code == 2 and says in err and "Traceback" not in err and not proxy.calls
    assert stat.S_ISFIFO((tmp_path / "fifo").lstat().st_mode) and (tmp_path / "link.json").is_symlink()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("argv", [("plan", "--out", ""), ("run", "--plan", ""), ("run", "--plan", "  "),
                                  ("plan", "--summary", "")])
def test_an_empty_path_is_refused_not_taken_as_absent(proxy: Any, run_cli: Any, write_manifest: Any,
                                                      argv: tuple[str, ...]) -> None:
    # GIVEN "--plan $PLAN" in CI with PLAN unset: an empty path
    command, *rest = argv
    # WHEN it runs THEN exit 2, naming the option, with no AWS call: an unset plan never applies everything
    code, _, err = run_cli(command, str(write_manifest(MANIFEST)), *rest)
    assert code == 2 and "an empty path" in err and rest[0] in err and not proxy.calls


# --- the pure core: digest, age, verification ------------------------------------------------------


def _manifest(text: str = MANIFEST) -> Any:
    return parse_manifest(text, origin="m.yaml", base_dir=None)


def _plan(manifest: Any, created_at: datetime) -> PlanFile:
    from reconciler.engine.planfile import new_plan

    return new_plan(manifest, [], now=created_at)


def test_the_digest_is_stable_and_follows_every_part_of_the_manifest() -> None:
    base = manifest_digest(_manifest())
    assert base == manifest_digest(_manifest()) and base.startswith("sha256:")
    # GIVEN the same manifest read from elsewhere: the same digest (the origin is not hashed)
    assert manifest_digest(parse_manifest(MANIFEST, origin="/other/dir/m.yaml", base_dir=None)) == base
    # WHEN a setting, a destination or a transform changes THEN the digest changes
    for changed in (MANIFEST.replace("owner: plan-test", "owner: other"),
                    MANIFEST.replace("dr/d", "dr/e"),
                    MANIFEST.replace("destination: dr/a}", "destination: dr/a, transform: [{sed: 's/x/y/'}]}")):
        assert manifest_digest(_manifest(changed)) != base


def test_age_limits_and_the_clock_are_checked_on_an_injected_clock() -> None:
    m = _manifest()
    made = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    plan = _plan(m, made)
    verify_plan(plan, m, max_age=parse_age("24h"), now=made + timedelta(hours=23))
    from reconciler._exceptions import ManifestError

    with pytest.raises(ManifestError, match="older than --plan-max-age"):
        verify_plan(plan, m, max_age=parse_age("24h"), now=made + timedelta(hours=25))
    with pytest.raises(ManifestError, match="in the future"):
        verify_plan(plan, m, max_age=86400, now=made - timedelta(hours=1))
    with pytest.raises(ManifestError, match=r"reconciler 0\.0\.1"):
        verify_plan(plan.model_copy(update={"tool_version": "0.0.1"}), m, max_age=86400, now=made)
    with pytest.raises(ManifestError, match="transform engine 1"):
        verify_plan(plan.model_copy(update={"transform_engine": "1"}), m, max_age=86400, now=made)
    with pytest.raises(ManifestError, match="owner 'someone-else'"):  # the field a reviewer reads is checked too
        verify_plan(plan.model_copy(update={"owner": "someone-else"}), m, max_age=86400, now=made)


@pytest.mark.parametrize("text, seconds", [("3600", 3600), ("90m", 5400), ("24h", 86400), ("7d", 604800)])
def test_plan_max_age_takes_seconds_and_units(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1h", "1w", "soon", ""])
def test_plan_max_age_refuses_what_is_not_an_age(text: str) -> None:
    with pytest.raises(ValueError):
        parse_age(text)


def test_run_plan_refuses_an_old_plan_through_the_cli(aws: Any, proxy: Any, run_cli: Any, write_manifest: Any,
                                                     tmp_path: Path) -> None:
    # GIVEN a plan file dated two days ago
    _seed(aws)
    manifest = write_manifest(MANIFEST)
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(plan_path))[0] == 3
    doc = json.loads(plan_path.read_text())
    doc["created_at"] = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()
    plan_path.write_text(json.dumps(doc))
    proxy.reset()
    # WHEN it is applied with the default limit, and with a longer one
    code, _, err = run_cli("run", str(manifest), "--plan", str(plan_path))
    assert code == 2 and "older than --plan-max-age" in err and not proxy.calls
    assert run_cli("run", str(manifest), "--plan", str(plan_path), "--plan-max-age", "3d")[0] == 0
    assert read_plan(str(plan_path)).items


def test_plan_is_refused_with_select(run_cli: Any, write_manifest: Any, tmp_path: Path, proxy: Any) -> None:
    manifest = write_manifest(MANIFEST)
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(_plan(_manifest(), datetime.now(timezone.utc)).model_dump_json())
    code, _, err = run_cli("run", str(manifest), "--plan", str(plan_path), "--select", "a")
    assert code == 2 and "cannot be combined" in err and not proxy.calls


SSM_MANIFEST = f"""\
version: 1
settings: {{owner: {OWNER}, retry: {{max_attempts: 2, base_delay: 0.01, max_delay: 0.02}}}}
mappings:
  - {{id: p, source: app/p, destination: {{name: /dr/p, service: ssm}}}}
  - {{id: q, source: app/q, destination: {{name: /dr/q, service: ssm}}}}
"""


def test_a_parameter_store_destination_is_held_to_its_plan_too(aws: Any, proxy: Any, run_cli: Any,
                                                                write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN two sources copied to Parameter Store, then both rotated, and the plan saved
    for x in "pq":
        aws.create(f"app/{x}", f"{CANARY}-{x}-1")
    manifest = write_manifest(SSM_MANIFEST)
    assert run_cli("run", str(manifest))[0] == 0
    for x in "pq":
        aws.put(f"app/{x}", f"{CANARY}-{x}-2")
    plan_path = tmp_path / "plan.json"
    code, report, _ = run_cli("plan", str(manifest), "--out", str(plan_path))
    assert code == 3 and report["totals"]["update"] == 2, report
    # WHEN /dr/q is overwritten out of band before the apply
    ssm = aws.client("ssm")
    ssm.put_parameter(Name="/dr/q", Value="by-hand", Type="SecureString", Overwrite=True)
    code, report, err = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN /dr/p is written, /dr/q is not (PlanStale), and no value is in any output
    by_mapping = {i["mapping"]: i for i in report["items"]}
    assert by_mapping["p"]["action"] == "update" and by_mapping["q"]["error"]["type"] == "PlanStale", report
    assert ssm.get_parameter(Name="/dr/p", WithDecryption=True)["Parameter"]["Value"] == f"{CANARY}-p-2"
    assert ssm.get_parameter(Name="/dr/q", WithDecryption=True)["Parameter"]["Value"] == "by-hand"
    for text in (plan_path.read_text(), json.dumps(report), err):
        assert CANARY not in text


def test_a_planned_rollback_is_applied_by_moving_the_stage(aws: Any, proxy: Any, run_cli: Any,
                                                          write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN a converged copy, whose source is then rotated, copied, and rolled back by stage
    aws.create("app/a", f"{CANARY}-1")
    manifest = write_manifest(MANIFEST.split("  - {id: b")[0])
    assert run_cli("run", str(manifest))[0] == 0
    first = aws.describe("app/a")
    v1 = next(v for v, s in first["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    v2 = aws.put("app/a", f"{CANARY}-2")["VersionId"]
    assert run_cli("run", str(manifest))[0] == 0
    aws.sm().update_secret_version_stage(SecretId="app/a", VersionStage="AWSCURRENT", MoveToVersionId=v1,
                                         RemoveFromVersionId=v2)
    # WHEN the plan is saved and applied
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(plan_path))[0] == 3
    [entry] = json.loads(plan_path.read_text())["items"]
    assert entry["changes"] == ["rollback"] and entry["source_version"] == v1
    code, report, _ = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN the destination is back at the first value
    assert code == 0, report
    assert aws.value("dr/a", region="us-west-2") == f"{CANARY}-1"


def test_a_planned_deletion_of_a_copy_whose_source_is_gone_is_applied(aws: Any, proxy: Any, run_cli: Any,
                                                                     write_manifest: Any, tmp_path: Path) -> None:
    # GIVEN a copy that follows its source (on_source_deleted: delete), and the source deleted
    aws.create("app/a", f"{CANARY}-1")
    manifest = write_manifest(MANIFEST.split("  - {id: b")[0].replace("destination: dr/a}",
                                                                       "destination: dr/a, on_source_deleted: delete}"))
    assert run_cli("run", str(manifest))[0] == 0
    aws.sm().delete_secret(SecretId="app/a", RecoveryWindowInDays=7)
    # WHEN the plan is saved and applied
    plan_path = tmp_path / "plan.json"
    assert run_cli("plan", str(manifest), "--out", str(plan_path))[0] == 3
    [entry] = json.loads(plan_path.read_text())["items"]
    assert entry["action"] == "delete" and entry["source_version"] is None and entry["token"] is None
    code, report, _ = run_cli("run", str(manifest), "--plan", str(plan_path))
    # THEN the copy is scheduled for deletion, as planned
    assert code == 0 and report["items"][0]["action"] == "delete", report
    assert "DeletedDate" in aws.describe("dr/a", region="us-west-2")
