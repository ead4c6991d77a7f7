"""Moved to ``reconciler.output.report`` and ``reconciler.output.render``: a shim until callers move."""

from .output.render import TEXT_MAX_ROWS, render_text
from .output.report import (
    EXIT_CHANGES_PENDING,
    EXIT_NOT_CONVERGED,
    EXIT_OK,
    EXIT_USAGE,
    REPORT_VERSION,
    ExitCode,
    ItemResult,
    Report,
    RunError,
)

__all__ = ["EXIT_CHANGES_PENDING", "EXIT_NOT_CONVERGED", "EXIT_OK", "EXIT_USAGE", "REPORT_VERSION", "TEXT_MAX_ROWS",
           "ExitCode", "ItemResult", "Report", "RunError", "render_text"]
