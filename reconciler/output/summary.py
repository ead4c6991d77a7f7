"""What every human-facing rendering shares: the change summary line, row order, and how an item reads.

Pure: strings in, strings out. ``render`` (text) and ``markdown`` both use it, so the two agree.
"""

from __future__ import annotations

from typing import Any

from .report import Report, action_value

# Rows needing attention first; any action not named here (a new one) sorts after these.
ORDER = {"failed": 0, "conflict": 1, "source_missing": 2, "deferred": 3, "delete": 4, "update": 5, "create": 6,
         "orphan": 7}
UNORDERED = 9


def change_summary(report: Report) -> str:
    """One line: "N to create, M to update, K to delete, J conflicts, F failed" (zeros included).

    In run mode the verbs are the same words: they count what the run decided for each item.
    """
    t = report.totals
    return (f"{t.get('create', 0)} to create, {t.get('update', 0)} to update, {t.get('delete', 0)} to delete, "
            f"{t.get('conflict', 0)} conflicts, {t.get('failed', 0)} failed")


def attention_rows(report: Report, *, show_in_sync: bool = False) -> list[Any]:
    """Items a person should look at (everything but in_sync), most urgent first."""
    return sorted((i for i in report.items if show_in_sync or action_value(i.action) != "in_sync"),
                  key=lambda i: (ORDER.get(action_value(i.action), UNORDERED), i.mapping, i.dest_name))


def destination(name: str, region: str, account: str) -> str:
    return f"{name} ({region}, {account})" if name else "(none)"


def reason(item: Any) -> str:
    """The reason, error type and message, and ``--diff`` locations (paths/lines, never values)."""
    text = str(item.reason) if item.error_type is None else f"{item.reason} [{item.error_type}]"
    if item.error_message:
        text += f": {item.error_message}"
    if item.diff:
        where = item.diff.get("paths") or item.diff.get("lines") or []
        if where:
            text += f" (differs at: {', '.join(map(str, where))})"
    return text
