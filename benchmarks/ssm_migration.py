"""Parameter Store migration: N secrets copied into new parameters under SSM's real quotas.

Through the fault proxy with AWS's per-account-and-region quotas for Parameter Store (PutParameter
3/s, GetParameters 40/s, DescribeParameters 10/s; each a token bucket with burst = rate, answering
AWS's ThrottlingException "Rate exceeded" beyond it) and Secrets Manager's (50/s writes, 100/s
list and batch reads), every request delayed 20 ms. The writes are the bottleneck by design:
the quota floor is N / 3 s. Prints wall time against that floor, sustained puts per second,
throttled calls per item, calls per item and peak RSS.

    python benchmarks/ssm_migration.py [--parameters 300] [--latency 0.02] [--concurrency 16]

It takes at least N / 3 seconds (100 s for 300 parameters) by nature.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import boto3
from _harness import run_reconciler, seed_sources, start_aws

PUT_QUOTA = 3.0  # PutParameter per second (standard throughput), AWS's default
TARGET_SHARE = 0.85  # of the quota floor's pace
MAX_THROTTLES_PER_ITEM = 0.5


def write_manifest(path: Path, concurrency: int) -> None:
    path.write_text(
        "version: 1\n"
        f"settings: {{concurrency: {concurrency}, metrics: {{sink: none}}}}\n"
        "defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}\n"
        "mappings:\n"
        "  - id: migrate\n"
        '    source: "bench/ssm/*"\n'
        '    destination: {name: "/bench/ssm/*", service: ssm, type: SecureString}\n')


def seed(url: str, n: int) -> None:
    seed_sources(url, [f"bench/ssm/p{i:05d}" for i in range(n)])
    # moto builds its Parameter Store (public /aws/ parameters included) on the first SSM call,
    # ~3 s: done here so the measured run pays what AWS would, not moto's start-up
    boto3.client("ssm", region_name="us-east-1", endpoint_url=url).describe_parameters(MaxResults=1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parameters", type=int, default=300)
    ap.add_argument("--latency", type=float, default=0.02)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    n = args.parameters
    server, url, proxy = start_aws()
    try:
        print(f"seeding {n} sources ...", flush=True)
        seed(url, n)
        with tempfile.TemporaryDirectory() as tmp:
            manifest = Path(tmp) / "m.yaml"
            write_manifest(manifest, args.concurrency)
            proxy.faults.latency = args.latency
            proxy.set_quotas(**{"write": 50, "list": 100, "batch": 100, "ssm-put": PUT_QUOTA, "ssm-get": 40,
                                "ssm-describe": 10})
            proxy.calls.clear()
            report, wall, rss = run_reconciler(["run", str(manifest)], proxy.url)
            t = report["totals"]
            floor = n / PUT_QUOTA
            accepted_puts = proxy.calls["ssm.PutParameter"] - proxy.injected["quota:ssm-put"]
            throttles = proxy.injected["quota"]
            calls = sum(proxy.calls.values())
            pace = floor / wall
            print(f"\nmigration of {n} secrets to Parameter Store, PutParameter {PUT_QUOTA:g}/s, GetParameters "
                  f"40/s, DescribeParameters 10/s, +{args.latency * 1000:.0f} ms per request, "
                  f"concurrency {args.concurrency}:")
            print(f"  wall time          {wall:8.2f} s (quota floor {floor:.1f} s: {100 * pace:.1f}% of its pace)")
            print(f"  engine time        {report['duration_ms'] / 1000:8.2f} s")
            print(f"  puts per second    {accepted_puts / wall:8.2f}  (quota {PUT_QUOTA:g}/s)")
            print(f"  created / failed   {t['create']:8d} / {t['failed']}")
            print(f"  throttled calls    {throttles:8d}  ({throttles / n:.3f} per item)")
            print(f"  calls              {calls:8d}  ({calls / n:.2f} per item) "
                  f"{dict(sorted(proxy.calls.items()))}")
            print(f"  peak RSS           {rss:8.1f} MB  (the reconciler process)")
            ok = t["create"] == n and pace >= TARGET_SHARE and throttles / n <= MAX_THROTTLES_PER_ITEM
            print(f"  target (>= {TARGET_SHARE:.0%} of the floor's pace, <= {MAX_THROTTLES_PER_ITEM} throttles "
                  f"per item): {'met' if ok else 'MISSED'}")
            return 0 if ok else 1
    finally:
        proxy.stop()
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
