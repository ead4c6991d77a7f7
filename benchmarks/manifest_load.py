"""Manifest load cost: `reconciler validate` on generated 1 MiB manifests, valid and hostile.

SPEC "Manifest safety": any manifest of up to 1 MiB loads (or is refused) in under 2 s and 256 MB.
Each manifest is validated in a fresh child process (imports done before the clock starts, so
the figure is the load's); prints CPU seconds, wall seconds, exit code and peak RSS.

    python benchmarks/manifest_load.py [--only valid-1-MiB] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

MIB = 1024 * 1024

# In the child: import first (the Lambda/CLI cold import is measured elsewhere), then time the load.
_MEASURE = """
import cProfile, json, pstats, resource, sys, time
from reconciler._cli import main
import reconciler.manifest.load  # imported before the clock starts: the figure is the load's
t, w = time.process_time(), time.perf_counter()
if sys.argv[2] == "profile":
    prof = cProfile.Profile()
    code = prof.runcall(main, ["validate", sys.argv[1]])
    pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(40)
else:
    code = main(["validate", sys.argv[1]])
cpu, wall = time.process_time() - t, time.perf_counter() - w
print(json.dumps({"code": code, "cpu": cpu, "wall": wall,
                  "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def valid_manifest(size: int = MIB) -> str:
    """A realistic manifest of ``size`` bytes: one-line mappings (~17,000 in 1 MiB), a few shapes.

    Most mappings are `{source, destination}`; every 10th has an id, variables and a destination
    with its own region; every 50th a shared sed transform using a variable; every 100th a prefix.
    """
    head = ["version: 1", "settings: {concurrency: 16, metrics: {sink: none}}",
            "variables: {ENV: dr, HOST: 'db.${ENV}.internal'}",
            "defaults: {source: {region: us-east-1}, destination: {region: us-west-2, tags: {team: platform}}}",
            "mappings:"]
    lines, total, i = head, sum(len(x) + 1 for x in head), 0
    while True:
        if i % 100 == 99:
            line = f"  - {{id: p{i:05d}, source: 'prod/p{i:05d}/*', destination: 'dr/p{i:05d}/*'}}"
        elif i % 50 == 0:
            line = (f"  - {{source: prod/t{i:05d}, destination: dr/t{i:05d}, "
                    "transform: [{sed: ['s/prod/${ENV}/g', 's/db/${HOST}/']}]}")
        elif i % 10 == 0:
            line = (f"  - {{id: v{i:05d}, source: prod/v{i:05d}, variables: {{ENV: dr{i % 7}}}, "
                    f"destination: {{name: 'dr/${{ENV}}/v{i:05d}', region: eu-west-1}}}}")
        else:
            line = f"  - {{source: prod/s{i:05d}, destination: dr/s{i:05d}}}"
        if total + len(line) + 1 > size:
            break
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def _bomb(levels: int = 9, width: int = 9, indent: str = "") -> list[str]:
    lines = [f'{indent}"$.a0": &a0 [x, x, x, x, x, x, x, x, x]']
    for i in range(1, levels):
        lines.append(f'{indent}"$.a{i}": &a{i} [' + ", ".join([f"*a{i - 1}"] * width) + "]")
    return lines


def hostile_manifests() -> dict[str, str]:
    """The hostile 1 MiB inputs of tests/test_manifest_load.py (refused or loaded within bounds)."""
    head = ["version: 1", "mappings:", "  - id: m", "    source: prod/a",
            "    destination: {name: dr/a, region: us-west-2}", "    transform:", "      - json:"]
    merge = ["a0: &a0 {" + ", ".join(f"k{j}: 1" for j in range(9)) + "}"]
    merge += [f"a{i}: &a{i} {{<<: [" + ", ".join([f"*a{i - 1}"] * 9) + "]}" for i in range(1, 12)]
    return {
        "json-alias-bomb": "\n".join(head + _bomb(indent="          ")) + "\n",
        "flat-1-MiB": "[" + ",".join(["1"] * (MIB // 2 - 1)) + "]",
        "duplicate-keys": "a: 1\n" * (MIB // 5),
        "explicit-tags": "[" + ",".join(["!!str a"] * (MIB // 8 - 1)) + "]",
        "many-aliases": "m: &m [" + ",".join(["1"] * 99) + "]\nl: [" + ",".join(["*m"] * (MIB // 3 - 200)) + "]\n",
        "merge-bomb": "\n".join(merge) + "\n",
    }


def measure(path: Path, mode: str = "rss") -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path), mode], capture_output=True, text=True,
                          timeout=300)
    if mode == "profile":
        sys.stderr.write(proc.stderr[-12000:])
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="one manifest by name")
    parser.add_argument("--repeat", type=int, default=1, help="runs per manifest; the best CPU is shown")
    parser.add_argument("--profile", action="store_true", help="cProfile the load (top 40 by cumulative time)")
    args = parser.parse_args()
    manifests = {"valid-1-MiB": valid_manifest(), **hostile_manifests()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in manifests.items():
            if args.only and name != args.only:
                continue
            path = Path(tmp) / f"{name}.yaml"
            path.write_text(text)
            runs = [measure(path, "profile" if args.profile else "rss") for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["cpu"])
            n = text.count("\n  - ") if name.startswith("valid") else 0
            cpus = ", ".join(f"{r['cpu']:.2f}" for r in runs)
            shown = f"  (CPU of {len(runs)} runs: {cpus})" if len(runs) > 1 else ""
            what = f"{n} mappings" if n else ""
            print(f"{name:16} {len(text) / MIB:5.2f} MiB {what:15} exit {best['code']}  CPU {best['cpu']:.2f} s  "
                  f"wall {best['wall']:.2f} s  peak RSS {best['maxrss'] / MIB:.0f} MiB{shown}")


if __name__ == "__main__":
    main()
