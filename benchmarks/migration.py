"""Bulk migration: N new secrets copied through the fault proxy with AWS's quotas.

Quotas as AWS sets them per account and region: 50 writes/s (CreateSecret, PutSecretValue, ...),
100/s ListSecrets, 100/s BatchGetSecretValue; every request delayed 20 ms. Prints wall time
against the quota floor (N / 50 s), throttled calls per item and peak RSS.

    python benchmarks/migration.py [--secrets 2000] [--latency 0.02] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import run_reconciler, seed_sources, start_aws, write_manifest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--secrets", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    n = args.secrets
    server, url, proxy = start_aws()
    try:
        print(f"seeding {n} sources ...", flush=True)
        seed_sources(url, [f"bench/src/s{i:05d}" for i in range(n)])
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / "m.yaml"
            write_manifest(manifest, n, concurrency=args.concurrency)
            proxy.faults.latency = args.latency
            proxy.set_quotas(write=50, list=100, batch=100)
            proxy.calls.clear()
            report, wall, rss = run_reconciler(["run", str(manifest)], proxy.url)
            floor = n / 50.0
            t = report["totals"]
            print(f"\nmigration of {n} secrets, quotas 50/s writes, 100/s list and batch reads, "
                  f"+{args.latency * 1000:.0f} ms per request, concurrency {args.concurrency}:")
            pace = 100 * floor / wall
            print(f"  wall time          {wall:8.2f} s (quota floor {floor:.1f} s: {pace:.1f}% of its pace)")
            print(f"  engine time        {report['duration_ms'] / 1000:8.2f} s")
            print(f"  created / failed   {t['create']:8d} / {t['failed']}")
            print(f"  throttled calls    {proxy.injected['quota']:8d}  ({proxy.injected['quota'] / n:.3f} per item)")
            print(f"  SM calls           {proxy.count():8d}  ({proxy.count() / n:.2f} per item) "
                  f"{dict(sorted((k, v) for k, v in proxy.calls.items() if k.startswith('secretsmanager.')))}")
            print(f"  peak RSS           {rss:8.1f} MB")
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    main()
