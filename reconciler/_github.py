"""The GitHub Action's step logic (action.yml calls ``python -m reconciler._github mode|reconcile``).

Kept here, not in YAML, so it is tested like the rest (tests/test_github_action.py runs the
action's ``run:`` steps under a GitHub-like environment). Inputs come as ``INPUT_*`` environment
variables set by action.yml; results go to ``$GITHUB_OUTPUT`` (``mode``, ``exit-code``, ``totals``)
and the Markdown report is appended to ``$GITHUB_STEP_SUMMARY`` by the CLI itself.

Modes (closed): ``plan`` on a pull request, ``apply`` (``run --plan``) on the default branch;
``auto`` picks by event and ref. Exit: the step fails on 1 (not converged) and 2 (usage); 0 and 3
(plan: changes pending, the normal case in a pull request) pass, and ``exit-code`` says which.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from enum import StrEnum
from typing import Any

PLAN_FILE_DEFAULT = "plan.json"
PASSING_EXIT_CODES = frozenset({0, 3})


class Mode(StrEnum):
    AUTO = "auto"
    PLAN = "plan"
    APPLY = "apply"


def resolve_mode(env: dict[str, str]) -> Mode:
    """auto: a pull request plans; a push to the repository's default branch applies; anything else plans."""
    mode = Mode(env.get("INPUT_MODE", "auto") or "auto")
    if mode is not Mode.AUTO:
        return mode
    if env.get("GITHUB_EVENT_NAME") == "pull_request":
        return Mode.PLAN
    default_branch = _event(env).get("repository", {}).get("default_branch") or "main"
    return Mode.APPLY if env.get("GITHUB_REF") == f"refs/heads/{default_branch}" else Mode.PLAN


def _event(env: dict[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def command(mode: Mode, env: dict[str, str]) -> list[str]:
    """The reconciler command line for this mode (JSON on stdout for the outputs; Markdown to the summary)."""
    manifest = env.get("INPUT_MANIFEST") or "reconciler.yaml"
    plan_file = env.get("INPUT_PLAN_FILE", PLAN_FILE_DEFAULT)
    argv = [sys.executable, "-m", "reconciler"]
    if mode is Mode.APPLY:
        argv += ["run", manifest, "--plan", _downloaded(plan_file, env)]
    else:
        argv += ["plan", manifest] + (["--out", plan_file] if plan_file else [])
    argv += ["--format", "json"]
    if env.get("GITHUB_STEP_SUMMARY"):
        argv += ["--summary", env["GITHUB_STEP_SUMMARY"]]
    return argv + shlex.split(env.get("INPUT_ARGS", ""))


def _downloaded(plan_file: str, env: dict[str, str]) -> str:
    """Where apply reads the plan: the artifact's copy, downloaded into INPUT_PLAN_DIR. A one-file
    artifact keeps only the file's name (upload-artifact stores it at the root), so a plan-file of
    ``plans/pr.json`` arrives as ``<dir>/pr.json``. Apply without a plan-file downloads nothing:
    it is refused by ``reconcile`` rather than left to read whatever lies in the workspace."""
    plan_dir = env.get("INPUT_PLAN_DIR", "")
    return os.path.join(plan_dir, os.path.basename(plan_file)) if plan_dir else plan_file


def _write_outputs(env: dict[str, str], values: dict[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        for key, value in values.items():
            if "\n" in value:  # GITHUB_OUTPUT takes key=value lines; our JSON is dumped compact
                raise ValueError(f"output {key} spans lines")
            f.write(f"{key}={value}\n")


def reconcile(env: dict[str, str]) -> int:
    mode = resolve_mode(env)
    if mode is Mode.APPLY and not env.get("INPUT_PLAN_FILE", PLAN_FILE_DEFAULT):
        print("error: apply needs a plan-file: it applies the plan reviewed in the pull request, "
              "never a fresh one", file=sys.stderr)
        _write_outputs(env, {"exit-code": "2", "totals": "{}"})
        return 2
    argv = command(mode, env)
    print("+ " + shlex.join(argv[1:]), file=sys.stderr)
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False)  # stderr: the job log
    try:
        totals = json.loads(done.stdout).get("totals", {})
    except ValueError:
        totals = {}
    _write_outputs(env, {"exit-code": str(done.returncode), "totals": json.dumps(totals, separators=(",", ":"))})
    return 0 if done.returncode in PASSING_EXIT_CODES else done.returncode


def main(argv: list[str]) -> int:
    env = dict(os.environ)
    if argv == ["mode"]:
        _write_outputs(env, {"mode": str(resolve_mode(env))})
        return 0
    if argv == ["reconcile"]:
        return reconcile(env)
    print("usage: python -m reconciler._github mode|reconcile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
