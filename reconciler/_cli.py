"""``reconciler`` command line: a thin caller of ``reconcile``. Exit codes as SPEC says."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

import anyio

from ._exceptions import ManifestError
from ._report import EXIT_USAGE

FORMATS = ("text", "json")
SINKS = ("cloudwatch", "emf", "none")


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes K/N, not {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: needs 1 <= K <= N")
    return k, n


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return v


def _concurrency(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= v <= 512:
        raise argparse.ArgumentTypeError("must be between 1 and 512")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reconciler", description="Keep AWS Secrets Manager secrets in step.")
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a manifest; exit 0 valid, 2 invalid")
    v.add_argument("manifest")
    for name, help_ in (("plan", "show what would change; writes nothing"), ("run", "converge every destination")):
        c = sub.add_parser(name, help=help_)
        c.add_argument("manifest", help="a path, s3://bucket/key, or - for stdin")
        c.add_argument("--format", choices=FORMATS, default="text")
        c.add_argument("--concurrency", type=_concurrency)
        c.add_argument("--shard", type=_shard, metavar="K/N")
        c.add_argument("--select", nargs="+", metavar="ID", default=[])
        c.add_argument("--metrics-sink", choices=SINKS)
        c.add_argument("--deadline", type=_positive, metavar="SECONDS")
        c.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                       type=str.upper)
        if name == "plan":
            c.add_argument("--diff", action="store_true", help="read values; name changed JSON paths / lines")
        else:
            c.add_argument("--retry-failed", metavar="REPORT.json", help="only the items that failed in that report")
    d = sub.add_parser("demo", help="the whole loop against an embedded local AWS (needs the [local] extra)")
    d.add_argument("--keep", action="store_true", help="keep the local AWS running until Ctrl-C")
    i = sub.add_parser("iam-policy", help="least-privilege IAM policies this manifest needs")
    i.add_argument("manifest")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "iam-policy":
            from ._iam import policies_for
            from ._manifest import load_manifest

            print(json.dumps(policies_for(load_manifest(args.manifest)), indent=2))
            return 0
        if args.command == "demo":
            from ._demo import run_demo

            return int(run_demo(keep=args.keep))
        return _run(args)
    except ManifestError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _validate(args: argparse.Namespace) -> int:
    from ._manifest import load_manifest

    m = load_manifest(args.manifest)
    n = sum(len(x.destinations) for x in m.mappings)
    print(f"{m.origin}: valid: {len(m.mappings)} mapping(s), {n} destination(s)")
    return 0


def _load_retry_failed(path: str) -> frozenset[tuple[str, str, str, str]]:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        keys = frozenset(
            (i["mapping"], i["destination"]["name"], i["destination"]["region"], i["destination"]["account"])
            for i in data["items"] if i["action"] in ("failed", "deferred")
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ManifestError([f"{path}: --retry-failed needs a JSON report from reconciler run: {exc}"]) from None
    return keys


def _run(args: argparse.Namespace) -> int:
    from . import _logging
    from ._engine import Options, reconcile
    from ._manifest import load_manifest
    from ._metrics import publish

    interactive = args.format == "text" and sys.stderr.isatty()
    _logging.configure(args.log_level or ("WARNING" if interactive else "INFO"))
    manifest = load_manifest(args.manifest)
    retry_failed = _load_retry_failed(args.retry_failed) if getattr(args, "retry_failed", None) else None

    async def go() -> Any:
        stop = anyio.Event()
        progress = _Progress() if interactive else None
        options = Options(mode=args.command, concurrency=args.concurrency, shard=args.shard,
                          select=tuple(args.select), deadline=args.deadline, diff=getattr(args, "diff", False),
                          retry_failed=retry_failed, stop=stop, progress=progress.update if progress else None)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_watch_signals, stop, tg.cancel_scope)
            try:
                report = await reconcile(manifest, options)
            except ManifestError as exc:  # raised before any write; keep it out of the task group
                tg.cancel_scope.cancel()
                return exc
            finally:
                if progress:
                    progress.close()
            sink = args.metrics_sink or manifest.settings.metrics.sink
            await publish(report, manifest.settings.metrics, sink=sink)
            tg.cancel_scope.cancel()
        return report

    report = anyio.run(go)
    if isinstance(report, ManifestError):
        raise report
    if args.format == "json":
        report.write_json(sys.stdout)
    else:
        from ._report import render_text

        render_text(report)
    return int(report.exit_code)


async def _watch_signals(stop: anyio.Event, scope: Any) -> None:
    # First SIGINT/SIGTERM: start nothing new, finish what is in flight, report. Second: exit now.
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            if stop.is_set():
                os._exit(130)
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
