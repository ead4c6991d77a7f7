"""Regenerate docs/assets/plan.svg: the terminal output of ``reconciler demo``, as rich records it.

    python tools/make_demo_svg.py [OUTPUT.svg]

Needs the ``[local]`` extra (the demo's embedded AWS). The picture is rich's own
``Console.save_svg`` of exactly what the demo prints, so it shows the real tables, not a mock-up.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "docs" / "assets" / "plan.svg"
WIDTH = 100  # columns: wide enough that the plan table's reason column does not wrap much
TITLE = "reconciler demo"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))  # this checkout's reconciler, not an installed one
    from rich.console import Console

    from reconciler._demo import run_demo

    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    # record=True keeps everything printed; the StringIO keeps the terminal quiet while it does
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True)
    code = run_demo(console=console)
    if code != 0:
        print(f"the demo exited {code}; {output} left as it was", file=sys.stderr)
        return code
    output.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(output), title=TITLE)
    print(f"wrote {output.relative_to(ROOT) if output.is_relative_to(ROOT) else output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
