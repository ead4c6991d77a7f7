"""``reconciler`` command line: a thin caller of ``run_once``. Exit codes as SPEC says.

Invariant: with ``--format json``, ``plan`` and ``run`` write exactly one JSON report to stdout,
whatever happens (an invalid manifest, a crash); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import sys
from typing import Any

import anyio

from ._exceptions import ManifestError
from .output.emit import FORMATS
from .output.metrics import SINK_NAMES
from .output.report import EXIT_USAGE, failure_report

MIN_CONCURRENCY, MAX_CONCURRENCY = 1, 512
SIGNAL_EXIT_BASE = 128  # exit code of a process ended by signal N: 128 + N (POSIX shells)


def _shard(text: str) -> tuple[int, int]:
    from .engine.selection import InvalidShard, parse_shard  # the one shard parser (the Lambda's too)

    try:
        return parse_shard(text)
    except InvalidShard as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    """A finite number of seconds > 0: nan, inf, 0, negatives and words are usage errors (exit 2)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds greater than 0, not {text!r}")
    return v


def _path(text: str) -> str:
    # An empty path is a CI variable that was not set: "--plan $PLAN" with PLAN empty must not
    # become "no plan" and apply everything; "--out ''" must not silently write nothing.
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path (an unset variable?)")
    return text


def _age(text: str) -> float:
    from .engine.planfile import parse_age

    try:
        return parse_age(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _concurrency(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not MIN_CONCURRENCY <= v <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}, not {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    from ._version import version_line

    p = argparse.ArgumentParser(prog="reconciler", description="Keep AWS Secrets Manager secrets in step.")
    p.add_argument("--version", action="version", version=version_line())
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("schema", help="print the manifest's JSON Schema (draft 2020-12)")
    v = sub.add_parser("validate", help="check a manifest; exit 0 valid, 2 invalid")
    v.add_argument("manifest", type=_path, help="a path, s3://bucket/key, or - for stdin")
    for name, help_ in (("plan", "show what would change; writes nothing to AWS"),
                        ("run", "converge every destination")):
        c = sub.add_parser(name, help=help_)
        c.add_argument("manifest", type=_path, help="a path, s3://bucket/key, or - for stdin")
        c.add_argument("--format", choices=FORMATS, default="text",
                       help="json: exactly one JSON report on stdout, logs on stderr; markdown: GitHub Markdown")
        c.add_argument("--summary", type=_path, metavar="FILE",
                       help="append the Markdown report to FILE (default: $GITHUB_STEP_SUMMARY when set)")
        c.add_argument("--concurrency", type=_concurrency,
                       help=f"secrets in flight, {MIN_CONCURRENCY}..{MAX_CONCURRENCY} (default: settings.concurrency)")
        c.add_argument("--shard", type=_shard, metavar="K/N",
                       help="a stable K-th of N shares of the mappings; N processes cover each once")
        c.add_argument("--select", nargs="+", metavar="ID", default=[], help="only the mappings with these ids")
        c.add_argument("--metrics-sink", choices=SINK_NAMES, help="override settings.metrics.sink")
        c.add_argument("--deadline", type=_positive, metavar="SECONDS",
                       help="start no new work after this long; the rest is reported deferred")
        c.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       type=str.upper, help="log level (default: WARNING on a terminal, else INFO)")
        if name == "plan":
            c.add_argument("--diff", action="store_true", help="read values; name changed JSON paths / lines")
            c.add_argument("--out", type=_path, metavar="PLAN.json",
                           help="write the plan file (no values) for run --plan; written only when the plan "
                                "completes (exit 0 or 3)")
        else:
            c.add_argument("--retry-failed", type=_path, metavar="REPORT.json",
                           help="only the items that failed in that report")
            c.add_argument("--plan", type=_path, metavar="PLAN.json",
                           help="apply exactly this plan file (a path or s3://bucket/key): only its items, and "
                                "only those unchanged since; others fail PlanStale")
            c.add_argument("--plan-max-age", type=_age, metavar="AGE", default=None,
                           help="refuse a plan file older than this: seconds, or 90m, 24h, 7d (default: 24h)")
    d = sub.add_parser("demo", help="the whole loop against an embedded local AWS (needs the [local] extra)")
    d.add_argument("--keep", action="store_true", help="keep the local AWS running until Ctrl-C")
    i = sub.add_parser("iam-policy", help="least-privilege IAM policies this manifest needs")
    i.add_argument("manifest", type=_path, help="a path, s3://bucket/key, or - for stdin")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "iam-policy":
            from ._iam import policies_for
            from .manifest.load import load_manifest

            print(json.dumps(policies_for(load_manifest(args.manifest)), indent=2))
            return 0
        if args.command == "schema":
            from .manifest.json_schema import schema_text

            print(schema_text(), end="")
            return 0
        if args.command == "demo":
            from ._demo import run_demo

            return int(run_demo(keep=args.keep))
        return _run(args)
    except ManifestError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        if getattr(args, "format", None) == "json":  # still exactly one report on stdout
            failed = failure_report(args.command, service="manifest", error_type="ManifestError",
                                    messages=list(exc.problems))
            failed.write_json(sys.stdout)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return SIGNAL_EXIT_BASE + signal.SIGINT


def _validate(args: argparse.Namespace) -> int:
    from .manifest.load import load_manifest

    m = load_manifest(args.manifest)
    n = sum(len(x.destinations) for x in m.mappings)
    print(f"{m.origin}: valid: {len(m.mappings)} mapping(s), {n} destination(s)")
    return 0


def _load_retry_failed(path: str) -> frozenset[tuple[str, str, str, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        # An item without a destination (a prefix mapping whose listing failed) is keyed by its mapping alone.
        failed = [i for i in data["items"] if i["action"] in ("failed", "deferred")]
        keys = frozenset(
            (i["mapping"], "", "", "") if i["destination"] is None else
            (i["mapping"], i["destination"]["name"], i["destination"]["region"], i["destination"]["account"])
            for i in failed
        )
        guarded = sum(1 for i in failed if (i.get("error") or {}).get("type") == "PruneGuard")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError([f"{path}: --retry-failed needs a JSON report from reconciler run: {exc}"]) from None
    if guarded:
        # SPEC "Lifecycle": a run that sees part of the manifest never deletes orphans, so a retry
        # cannot redo these; saying nothing would read as "done" (exit 0).
        logging.getLogger("reconciler").warning(
            "deletions refused by the prune guard are not retried: run the whole manifest (after raising "
            "prune.max_deletes, if the deletions are wanted)", extra={"count": guarded})
    return keys


def _run(args: argparse.Namespace) -> int:
    from ._run import run_once
    from .engine import Options
    from .output import logs

    interactive = args.format == "text" and sys.stderr.isatty()
    log_level = args.log_level or ("WARNING" if interactive else "INFO")
    logs.configure(log_level)  # before the manifest loads: its errors and warnings are logged too
    retry_failed = _load_retry_failed(args.retry_failed) if getattr(args, "retry_failed", None) else None
    plan_fields: dict[str, Any] = {}
    if getattr(args, "out", None) is not None:
        from .engine.planfile import check_plan_target

        check_plan_target(args.out)  # an unwritable --out: exit 2 now, not after the whole plan
    if getattr(args, "plan", None):
        from .engine.planfile import read_plan

        plan_fields["plan"] = read_plan(args.plan)  # a malformed file: exit 2 here, before any AWS call
    if getattr(args, "plan_max_age", None) is not None:
        if not getattr(args, "plan", None):
            raise ManifestError(["--plan-max-age needs --plan"])
        plan_fields["plan_max_age"] = args.plan_max_age

    async def go() -> Any:
        stop = anyio.Event()
        progress = _Progress() if interactive else None
        options = Options(mode=args.command, concurrency=args.concurrency, shard=args.shard,
                          select=tuple(args.select), deadline=args.deadline, diff=getattr(args, "diff", False),
                          retry_failed=retry_failed, stop=stop, progress=progress.update if progress else None,
                          **plan_fields)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, stop, tg.cancel_scope)
            try:
                report = await run_once(args.manifest, options, sink_override=args.metrics_sink)
            except Exception as exc:  # kept out of the task group, which would wrap it in a group
                tg.cancel_scope.cancel()
                return exc
            finally:
                if progress:
                    progress.close()
            tg.cancel_scope.cancel()
        return report

    outcome = anyio.run(go)
    if isinstance(outcome, ManifestError):
        raise outcome
    if isinstance(outcome, Exception):
        # A bug, not a manifest problem: say so by type only (library messages are not ours to vouch
        # for: they may quote data), and still hand automation its one report.
        import logging

        logging.getLogger("reconciler").error("run crashed", extra={"error_type": type(outcome).__name__})
        report = failure_report(args.command, service="reconciler", error_type=type(outcome).__name__,
                                messages=["the run stopped on an unexpected error (a bug: please report it)"])
    else:
        report = outcome
    from .output.emit import emit, summary_path

    emit(report, fmt=args.format, stdout=sys.stdout, summary=summary_path(args.summary))
    if getattr(args, "out", None):
        return _write_plan(args.out, report)
    return int(report.exit_code)


def _write_plan(path: str, report: Any) -> int:
    """plan --out: only a plan that completed is written; one with failures would be applied in part."""
    from .output.report import ExitCode

    code = ExitCode(report.exit_code)
    if report.plan is None or code == ExitCode.NOT_CONVERGED:
        print(f"error: {path}: plan file not written: the plan did not complete (exit {int(code)}); "
              "fix what failed and plan again", file=sys.stderr)
        return int(code)
    from .engine.planfile import write_plan

    try:
        write_plan(report.plan, path)
    except ManifestError as exc:  # the path became a link, a device or a directory during the plan
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {path}: cannot write the plan file: {exc.strerror or exc.__class__.__name__}",
              file=sys.stderr)
        return EXIT_USAGE
    print(f"plan file: {path} ({len(report.plan.items)} change(s))", file=sys.stderr)
    return int(code)


async def _watch_signals(stop: anyio.Event, scope: Any) -> None:
    # First SIGINT/SIGTERM: start nothing new, finish what is in flight, report. Second: exit now,
    # with the shell's code for death by that signal (128 + its number: 130 SIGINT, 143 SIGTERM).
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            if stop.is_set():
                os._exit(SIGNAL_EXIT_BASE + int(signum))
            stop.set()
            print("stopping: no new work will start (signal again to exit now)", file=sys.stderr)


class _Progress:
    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._p = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), transient=True)
        self._task = self._p.add_task("reconciling", total=None)
        self._p.start()

    def update(self, done: int, total: int) -> None:
        self._p.update(self._task, completed=done, total=total)

    def close(self) -> None:
        self._p.stop()


if __name__ == "__main__":
    sys.exit(main())
