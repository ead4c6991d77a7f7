"""action.yml (issue 17 part 4): its ``run:`` steps executed with bash under a GitHub-like environment,
against the local moto server through the fault proxy. The artifact ``uses:`` steps are emulated
with upload-artifact's layout (one file is stored at the artifact's root, under its base name) in
a store shared by the runs of one test, as a repository's artifacts are; the install step (pip into
the shared venv) is pip's and is not run here."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler._cli import build_parser
from reconciler._github import Mode, command, resolve_mode

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
NOT_RUN_HERE = frozenset({"install"})
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
PLAN_FILES_MERGED = "--out" in build_parser()._subparsers._group_actions[0].choices["plan"].format_help()  # type: ignore[union-attr]

MANIFEST = """\
version: 1
settings: {metrics: {sink: none}}
mappings:
  - id: db
    source: {name: app/db, region: us-east-1}
    destination: {name: dr/db, region: us-west-2}
"""


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_action(tmp: Path, inputs: dict[str, str], *, event: str, ref: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run each ``run:`` step in order, as the runner would: env expressions evaluated, outputs collected."""
    given = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()} | inputs
    event_path = tmp / "event.json"
    event_path.write_text(json.dumps(payload))
    summary, steps = tmp / "step_summary.md", {}  # type: ignore[var-annotated]
    base = dict(os.environ, GITHUB_EVENT_NAME=event, GITHUB_EVENT_PATH=str(event_path), GITHUB_REF=ref,
                GITHUB_STEP_SUMMARY=str(summary), GITHUB_WORKSPACE=str(tmp), GITHUB_ACTION_PATH=str(ROOT),
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                PYTHONPATH=str(ROOT))
    codes: dict[str, int] = {}
    runner_temp = tempfile.mkdtemp(prefix="runner-temp-", dir=tmp)  # each job has its own
    artifacts = tmp / "artifact-store" / given["plan-artifact"]

    def value(expr: str) -> str:
        scope, _, rest = expr.partition(".")
        if scope == "inputs":
            return given.get(rest, "")
        if scope == "github":
            return {"action_path": str(ROOT), "token": "t", "run_id": "1"}.get(rest, "")
        if scope == "runner":
            return {"temp": runner_temp}.get(rest, "")
        if scope == "steps":
            step, _, out = rest.partition(".outputs.")
            return steps.get(step, {}).get(out, "")
        raise AssertionError(f"unknown expression {expr}")

    def upload() -> None:  # if: always() && mode == 'plan' && plan-file != ''; if-no-files-found: ignore
        planned = tmp / given["plan-file"]
        if steps["mode"].get("mode") == "plan" and given["plan-file"] and planned.is_file():
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(planned, artifacts / planned.name)

    def download(step: dict[str, Any]) -> int:  # if: mode == 'apply' && plan-file != ''
        if steps["mode"].get("mode") != "apply" or not given["plan-file"]:
            return 0
        if not artifacts.is_dir():
            return 1  # "Unable to download artifact(s)": the job stops here
        shutil.copytree(artifacts, _EXPR.sub(lambda m: value(m.group(1)), step["with"]["path"]), dirs_exist_ok=True)
        return 0

    for step in ACTION["runs"]["steps"]:
        if step["id"] == "upload":
            upload()
            continue
        if step["id"] == "download":
            codes["download"] = download(step)
            if codes["download"]:
                break
            continue
        if "run" not in step or step["id"] in NOT_RUN_HERE:
            continue
        out_file = tmp / f"output-{step['id']}"
        out_file.write_text("")
        env = base | {k: _EXPR.sub(lambda m: value(m.group(1)), str(v)) for k, v in step.get("env", {}).items()}
        env["GITHUB_OUTPUT"] = str(out_file)
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp, env=env, capture_output=True, text=True,
                              check=False, timeout=120)
        codes[step["id"]] = done.returncode
        steps[step["id"]] = _outputs(out_file)
    return {"steps": steps, "codes": codes, "summary": summary.read_text() if summary.exists() else ""}


PR_EVENT = {"action": "opened", "number": 7, "pull_request": {"number": 7, "base": {"ref": "main"}},
            "repository": {"default_branch": "main"}}


def test_a_pull_request_plans_writes_the_summary_and_sets_the_outputs(aws: Any, proxy: Any, tmp_path: Path) -> None:
    # GIVEN a source to copy and a pull-request event
    aws.create("app/db", "CANARY-db")
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)
    # WHEN the action runs in auto mode, without a plan file
    result = run_action(tmp_path, {"manifest": "reconciler.yaml", "plan-file": ""}, event="pull_request",
                        ref="refs/pull/7/merge", payload=PR_EVENT)
    # THEN it planned, the step passed (3 = changes pending), and the outputs say so
    assert result["steps"]["mode"] == {"mode": "plan"}
    assert result["codes"]["reconcile"] == 0
    assert result["steps"]["reconcile"]["exit-code"] == "3"
    assert json.loads(result["steps"]["reconcile"]["totals"])["create"] == 1
    # AND the job summary holds the Markdown report and no value
    assert "1 to create" in result["summary"] and "CANARY" not in result["summary"]
    # AND nothing was written to AWS
    assert not [k for k in proxy.calls if "CreateSecret" in k or "PutSecretValue" in k]


def test_a_failing_plan_fails_the_step_with_its_exit_code(aws: Any, proxy: Any, tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)  # GIVEN a source that does not exist
    result = run_action(tmp_path, {"manifest": "reconciler.yaml", "plan-file": ""}, event="pull_request",
                        ref="refs/pull/7/merge", payload=PR_EVENT)
    assert result["steps"]["reconcile"]["exit-code"] == "1" and result["codes"]["reconcile"] == 1


@pytest.mark.skipif(not PLAN_FILES_MERGED, reason="plan --out / run --plan not merged into this branch yet")
def test_plan_on_the_pull_request_then_apply_on_main(aws: Any, proxy: Any, tmp_path: Path) -> None:
    aws.create("app/db", "v")
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)
    planned = run_action(tmp_path, {"manifest": "reconciler.yaml"}, event="pull_request",
                         ref="refs/pull/7/merge", payload=PR_EVENT)
    assert planned["steps"]["reconcile"]["exit-code"] == "3" and (tmp_path / "plan.json").exists()
    applied = run_action(tmp_path, {"manifest": "reconciler.yaml"}, event="push", ref="refs/heads/main",
                         payload={"repository": {"default_branch": "main"}})
    assert applied["steps"]["mode"] == {"mode": "apply"}
    assert applied["steps"]["reconcile"]["exit-code"] == "0"
    assert aws.client(region="us-west-2").get_secret_value(SecretId="dr/db")["SecretString"] == "v"


@pytest.mark.skipif(not PLAN_FILES_MERGED, reason="plan --out / run --plan not merged into this branch yet")
def test_a_plan_file_in_a_subdirectory_is_applied_from_the_downloaded_artifact(aws: Any, proxy: Any,
                                                                              tmp_path: Path) -> None:
    # GIVEN a plan-file under a directory, planned in the pull request's job
    aws.create("app/db", "v")
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)
    (tmp_path / "plans").mkdir()
    inputs = {"manifest": "reconciler.yaml", "plan-file": "plans/pr.json"}
    planned = run_action(tmp_path, inputs, event="pull_request", ref="refs/pull/7/merge", payload=PR_EVENT)
    assert planned["steps"]["reconcile"]["exit-code"] == "3"
    # WHEN the merge's job applies it, from a fresh checkout (the workspace's copy is gone)
    (tmp_path / "plans" / "pr.json").unlink()
    applied = run_action(tmp_path, inputs, event="push", ref="refs/heads/main",
                         payload={"repository": {"default_branch": "main"}})
    # THEN the artifact's copy (stored under its base name) is the one applied
    assert applied["steps"]["reconcile"]["exit-code"] == "0", applied
    assert aws.client(region="us-west-2").get_secret_value(SecretId="dr/db")["SecretString"] == "v"


def test_apply_without_a_plan_artifact_stops_and_writes_nothing(aws: Any, proxy: Any, tmp_path: Path) -> None:
    aws.create("app/db", "v")
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)
    (tmp_path / "plan.json").write_text("{}")  # a stray file in the workspace is never applied
    applied = run_action(tmp_path, {"manifest": "reconciler.yaml"}, event="push", ref="refs/heads/main",
                         payload={"repository": {"default_branch": "main"}})
    assert applied["codes"]["download"] == 1 and "reconcile" not in applied["codes"]
    assert not [k for k in proxy.calls if "CreateSecret" in k]


def test_apply_without_a_plan_file_is_refused(aws: Any, proxy: Any, tmp_path: Path) -> None:
    (tmp_path / "reconciler.yaml").write_text(MANIFEST)
    applied = run_action(tmp_path, {"manifest": "reconciler.yaml", "plan-file": ""}, event="push",
                         ref="refs/heads/main", payload={"repository": {"default_branch": "main"}})
    assert applied["codes"]["reconcile"] == 2 and applied["steps"]["reconcile"]["exit-code"] == "2"
    assert not proxy.calls


@pytest.mark.parametrize("env, mode", [
    ({"GITHUB_EVENT_NAME": "pull_request"}, Mode.PLAN),
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main"}, Mode.APPLY),
    ({"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/feature"}, Mode.PLAN),
    ({"GITHUB_EVENT_NAME": "pull_request", "INPUT_MODE": "apply"}, Mode.APPLY),
])
def test_auto_mode_follows_the_event_and_the_default_branch(env: dict[str, str], mode: Mode) -> None:
    assert resolve_mode(env) is mode


def test_the_commands_use_the_documented_plan_flags() -> None:
    env = {"INPUT_MANIFEST": "m.yaml", "INPUT_PLAN_FILE": "p.json", "GITHUB_STEP_SUMMARY": "/s", "INPUT_ARGS": "--x 1"}
    assert command(Mode.PLAN, env)[3:] == ["plan", "m.yaml", "--out", "p.json", "--format", "json", "--summary", "/s",
                                           "--x", "1"]
    assert command(Mode.APPLY, env)[3:6] == ["run", "m.yaml", "--plan"]


def test_third_party_actions_are_pinned_by_commit() -> None:
    for step in ACTION["runs"]["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_version_names_the_tool_and_the_transform_engine(run_cli: Any) -> None:
    from reconciler import __version__
    from reconciler._transform import TRANSFORM_ENGINE_VERSION

    code, out, _ = run_cli("--version")
    assert code == 0
    assert out.strip() == f"reconciler {__version__} (transform engine {TRANSFORM_ENGINE_VERSION})"
