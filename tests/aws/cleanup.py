"""Delete what conformance runs left behind: ``python -m tests.aws.cleanup --profile X --region R
[--region R2] [--run-id ID | --older-than 1h]``. Finds resources by the ``reconciler:test-run`` tag,
under the ``reconciler-conformance/`` prefix only, and force-deletes them (no recovery window)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))  # tests/: run as a module from the repo root

from aws.conformance_target import Target, sweep

_AGE = re.compile(r"^(\d+)([mhd])$")
_UNIT = {"m": "minutes", "h": "hours", "d": "days"}


def parse_age(text: str) -> dt.timedelta:
    m = _AGE.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"--older-than: {text!r} is not like 30m, 1h or 2d")
    return dt.timedelta(**{_UNIT[m.group(2)]: int(m.group(1))})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.aws.cleanup", description=__doc__)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--region", action="append", required=True)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--run-id")
    group.add_argument("--older-than", type=parse_age)
    args = ap.parse_args(argv)
    for region in dict.fromkeys(args.region):  # each region once, in the order given
        target = Target(name=args.profile, profile=args.profile, run_id=args.run_id or "cleanup",
                        regions=(region, region))
        for line in sweep(target, run_id=args.run_id, older_than=args.older_than):
            print(f"deleted {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
