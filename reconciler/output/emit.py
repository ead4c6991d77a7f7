"""Where a finished report goes: stdout in the chosen format, and the Markdown job summary.

``GITHUB_STEP_SUMMARY`` (set by GitHub Actions) or ``--summary FILE`` names a file the Markdown is
APPENDED to (GitHub concatenates every step's summary); stdout keeps the chosen format, so
``--format json`` still writes exactly one report to stdout.
"""

from __future__ import annotations

import os
from typing import TextIO

from .report import Report

FORMATS = ("text", "json", "markdown")
SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def summary_path(explicit: str | None, environ: dict[str, str] | None = None) -> str | None:
    """``--summary`` wins; else ``$GITHUB_STEP_SUMMARY`` when set and not empty."""
    env = os.environ if environ is None else environ
    return explicit or env.get(SUMMARY_ENV) or None


def emit(report: Report, *, fmt: str, stdout: TextIO, summary: str | None) -> None:
    if fmt == "json":
        report.write_json(stdout)
    elif fmt == "markdown":
        from .markdown import render_markdown

        stdout.write(render_markdown(report))
    else:
        from .render import render_text

        render_text(report)
    if summary:
        from .markdown import render_markdown

        with open(summary, "a", encoding="utf-8") as f:
            f.write(render_markdown(report))
