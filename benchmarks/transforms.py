"""Transform throughput: a 20-rule sed file (plus a JSON step) on 64 KiB values.

    python benchmarks/transforms.py [--values 50] [--size 65536]
"""

from __future__ import annotations

import argparse
import json
import random
import string
import time

from reconciler._transform import StepSpec, build_transform
from reconciler.manifest import variables as _variables

RULES = r"""
# 20 rules of the kind a prod -> DR move needs
s/us-east-1/${REGION}/g
s/\bprod\b/dr/g
s/(https?:\/\/)api\./\1api-dr./g
/^debug=/d
/^#/d
s/^(log_level)=.*/\1=warn/
s/[[:space:]]+$//
s/^[[:space:]]+//
s/db-primary/db-replica/g
s/:5432\b/:6432/g
s/(user)=([a-z]+)/\1=\2_dr/
s/\.internal\b/.dr.internal/g
s/(timeout)=([0-9]+)/\1=60/
s/Prod/Dr/g
s/PROD/DR/g
s/[0-9]{4}-[0-9]{2}-[0-9]{2}/DATE/g
s/(a|b|c)x+/&/g
/^tmp_/d
s/enabled=true/enabled=false/I
s/ +/ /g
"""


def value(size: int, rng: random.Random, dense: bool = True) -> str:
    """Config-like lines; ``dense``: rule targets on most lines, else on about 2% of them."""
    words = ["prod", "us-east-1", "db-primary:5432", "https://api.example.com", "user=alice", "timeout=30",
             "debug=1", "enabled=TRUE", "2026-11-28", "x.internal"]
    if not dense:
        words = [*(["plain", "words", "only", "value", "token"] * 100), *words]
    lines = []
    total = 0
    while total < size:
        line = f"{rng.choice(string.ascii_lowercase)}{rng.randint(0, 999)}=" + " ".join(
            rng.choice(words) for _ in range(rng.randint(2, 8)))
        if rng.random() < 0.05:
            line = "debug=" + line
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines)[:size]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--values", type=int, default=50)
    ap.add_argument("--size", type=int, default=65536)
    args = ap.parse_args()
    rng = random.Random(1)
    expand = lambda t: _variables.expand(t, {"REGION": "us-west-2"})  # noqa: E731
    sed = build_transform((StepSpec("sed_file", "rules", rules=(RULES,)),), expand)
    assert sed.rule_count == 20
    for dense in (True, False):
        values = [value(args.size, rng, dense) for _ in range(args.values)]
        t0 = time.perf_counter()
        for v in values:
            sed.apply(v, timeout=30)
        dt = time.perf_counter() - t0
        mb = args.values * args.size / 2**20
        kind = "rules hit most lines" if dense else "rules hit ~2% of lines"
        print(f"20-rule sed file, {args.values} values of {args.size} bytes ({kind}): {dt:.2f} s, "
              f"{args.values / dt:.1f} values/s, {mb / dt:.2f} MiB/s, {1000 * dt / args.values:.1f} ms per value")
    doc = json.dumps({f"key{i}": f"v{i}" for i in range(args.size // 24)})
    js = build_transform((StepSpec("json", "json", assignments=(("$.key1", "db.${REGION}"), ("$.new", 1))),), expand)
    t0 = time.perf_counter()
    for _ in range(args.values):
        js.apply(doc)
    dt = time.perf_counter() - t0
    print(f"json step (2 paths) on {len(doc)}-byte objects: {1000 * dt / args.values:.1f} ms per value")


if __name__ == "__main__":
    main()
