"""Profile one steady-state run: seed N in-sync mappings once, then run the CLI under cProfile.

    python benchmarks/profile_steady.py [--mappings 5000] [--latency 0.02] [--out /tmp/steady.prof] [--extra ...]

Prints the top functions of the reconciler child by cumulative and by own time (the child's
CPU only: moto runs in this process), then ``--repeat`` unprofiled timing runs on the same stack.
"""

from __future__ import annotations

import argparse
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness
from _harness import ENV, ROOT, run_reconciler, seed_in_sync, start_aws, write_manifest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mappings", type=int, default=5000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "steady.prof"))
    ap.add_argument("--repeat", type=int, default=1, help="unprofiled timing runs after the profiled one")
    ap.add_argument("--extra", nargs="*", default=[], help="more reconciler options, e.g. --shard 1/1")
    ap.add_argument("--no-profile", action="store_true", help="timing runs only")
    ap.add_argument("--also-partial", action="store_true", help="time a --shard 1/1 run (by name) after each")
    ap.add_argument("--trees", nargs="*", default=[], help="other checkouts to time on the same stack, "
                    "interleaved with this one (e.g. an older commit unpacked with git archive)")
    args = ap.parse_args()
    server, url, proxy = start_aws()
    try:
        seed_in_sync(url, args.mappings)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / "m.yaml"
            write_manifest(manifest, args.mappings, concurrency=16)
            proxy.faults.latency = args.latency
            env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": proxy.url}
            if not args.no_profile:
                _profile(args, manifest, env)
            runs = [(tree, extra) for tree in [*args.trees, str(ROOT)]
                    for extra in [args.extra] + ([[*args.extra, "--shard", "1/1"]] if args.also_partial else [])]
            for _ in range(args.repeat):
                for tree, extra in runs:
                    proxy.calls.clear()
                    cpu0 = _children_cpu()
                    _harness.ROOT = Path(tree)  # run_reconciler runs ``python -m reconciler`` there
                    os.environ["PYTHONPATH"] = tree
                    report, wall, rss = run_reconciler(["run", str(manifest), *extra], proxy.url)
                    cpu = _children_cpu() - cpu0
                    print(f"timing run {tree} {' '.join(extra) or '(full)'}: "
                          f"engine {report['duration_ms'] / 1000:.2f} s, "
                          f"wall {wall:.2f} s, {proxy.count('secretsmanager.')} SM calls, peak {rss:.1f} MB, "
                          f"child CPU {cpu:.2f} s, in_sync {report['totals']['in_sync']}", flush=True)
    finally:
        proxy.stop()
        server.stop()


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children (the reconciler runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _profile(args: argparse.Namespace, manifest: Path, env: dict[str, str]) -> None:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cProfile", "-o", args.out, "-m", "reconciler", "run",
                    str(manifest), *args.extra, "--format", "json", "--metrics-sink", "none",
                    "--log-level", "ERROR"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    print(f"profiled run: {time.perf_counter() - t0:.2f} s wall")
    stats = pstats.Stats(args.out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(35)


if __name__ == "__main__":
    main()
