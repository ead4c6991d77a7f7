"""Steady state: N mappings already in sync, each request delayed 20 ms.

Prints wall time, Secrets Manager calls per mapping and peak RSS of the reconciler, next to a
naive boto3 loop (get source, get destination, compare) run with 16 threads on the same endpoint.

    python benchmarks/steady_state.py [--mappings 5000] [--latency 0.02] [--skip-naive] [--prune]

``--prune`` runs with ``settings.prune.enabled`` (SPEC "Lifecycle"): the destinations are found by
one owner-tag listing of their region, which also serves the orphan check, and the run must stay
at <= 0.03 Secrets Manager calls per mapping with no orphan and no deletion.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from _harness import run_reconciler, seed_in_sync, start_aws, write_manifest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mappings", type=int, default=5000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--prune", action="store_true", help="settings.prune.enabled (orphans looked for)")
    ap.add_argument("--extra", nargs="*", default=[], help="more reconciler options, e.g. --shard 1/1")
    args = ap.parse_args()
    n = args.mappings
    server, url, proxy = start_aws()
    try:
        print(f"seeding {n} sources and their in-sync destinations ...", flush=True)
        seed_in_sync(url, n)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / "m.yaml"
            write_manifest(manifest, n, concurrency=16)
            if args.prune:
                prune = "settings: {prune: {enabled: true, max_deletes: 25}, "
                manifest.write_text(manifest.read_text().replace("settings: {", prune, 1))
            proxy.faults.latency = args.latency
            proxy.calls.clear()
            report, wall, rss = run_reconciler(["run", str(manifest), *args.extra], proxy.url)
            sm_calls = proxy.count("secretsmanager.")
            assert report["totals"]["in_sync"] == n, report["totals"]
            if args.prune:
                assert report["totals"]["orphan"] == report["totals"]["delete"] == 0, report["totals"]
            label = " with prune" if args.prune else ""
            print(f"\nreconciler steady state{label}, {n} mappings, +{args.latency * 1000:.0f} ms per request:")
            print(f"  wall time          {wall:8.2f} s (includes interpreter start-up)")
            print(f"  engine time        {report['duration_ms'] / 1000:8.2f} s (from the report)")
            print(f"  SM calls           {sm_calls:8d}  ({sm_calls / n:.4f} per mapping) {dict(proxy.calls)}")
            print(f"  peak RSS           {rss:8.1f} MB")
            if not args.skip_naive:
                proxy.calls.clear()
                client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=proxy.url)
                west = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=proxy.url)

                def check(i: int) -> bool:
                    a = client.get_secret_value(SecretId=f"bench/src/s{i:05d}")["SecretString"]
                    b = west.get_secret_value(SecretId=f"bench/dst/s{i:05d}")["SecretString"]
                    return bool(a == b)

                t0 = time.perf_counter()
                with ThreadPoolExecutor(args.threads) as pool:
                    same = sum(pool.map(check, range(n)))
                naive = time.perf_counter() - t0
                print(f"\nnaive boto3 loop, {args.threads} threads: {naive:.2f} s, {proxy.count()} calls "
                      f"({proxy.count() / n:.2f} per mapping), {same}/{n} equal")
                print(f"  speed-up           {naive / wall:8.1f} x")
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
