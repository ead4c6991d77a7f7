"""``--format text``: a table of what needs attention, run-level errors, counts, one summary line.

Invariant: nothing the run observed is ever parsed as rich markup. Mapping ids, secret names,
reasons (which quote foreign owner tags), error messages and ``--diff`` paths (JSON keys) may hold
``[/...]``; every such string goes into a ``Text`` object, never into a markup string. Only the
literals written in this module carry markup (none do; styles are passed as arguments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .report import Report, action_value

if TYPE_CHECKING:
    from rich.console import Console

TEXT_MAX_ROWS = 50  # a terminal table beyond this helps nobody; the JSON report has every item

# Rows needing attention first; any action not named here (a new one) sorts after these.
_ORDER = {"failed": 0, "conflict": 1, "source_missing": 2, "deferred": 3, "delete": 4, "update": 5, "create": 6,
          "orphan": 7}
_STYLES = {"create": "green", "update": "yellow", "in_sync": "dim", "conflict": "magenta",
           "source_missing": "magenta", "failed": "red", "deferred": "cyan", "delete": "red", "orphan": "magenta"}
_WOULD = frozenset({"create", "update", "delete"})  # shown as "would ..." in plan mode


def render_text(report: Report, *, console: Console | None = None, show_in_sync: bool = False,
                max_rows: int = TEXT_MAX_ROWS) -> None:
    """Print the report for a person. Uses rich; plain when not a terminal."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    rows = sorted((i for i in report.items if show_in_sync or action_value(i.action) != "in_sync"),
                  key=lambda i: (_ORDER.get(action_value(i.action), 9), i.mapping, i.dest_name))
    hidden = max(0, len(rows) - max_rows)
    rows = rows[:max_rows]
    if rows:
        table = Table(title=Text(f"{report.mode}: {len(rows) + hidden} item(s) need attention"),
                      title_justify="left")
        for col in ("mapping", "destination", "action", "reason"):
            table.add_column(col, overflow="fold")
        for i in rows:
            action = action_value(i.action)
            shown = f"would {action}" if report.mode == "plan" and action in _WOULD else action
            table.add_row(Text(i.mapping), Text(_destination(i.dest_name, i.dest_region, i.dest_account)),
                          Text(shown, style=_STYLES.get(action, "")), Text(_reason(i)))
        console.print(table)
        if hidden:
            console.print(Text(f"... and {hidden} more (--format json lists every item)"))
    if report.errors:
        console.print(Text(f"{len(report.errors)} run-level error(s):", style="red"))
        for e in report.errors:
            scope = ", ".join(x for x in (e.service, e.region, e.account) if x) or "run"
            console.print(Text(f"  {scope}: {e.type}: {e.message}"))
    counts = ", ".join(f"{k} {v}" for k, v in report.totals.items() if v) or "nothing to do"
    calls = sum(report.api_calls.values())
    console.print(Text(f"{report.mode} finished in {report.duration_ms} ms: {counts}; {calls} API calls"))
    console.print(Text(summary_line(report)))


def summary_line(report: Report) -> str:
    """The report's last line (SPEC Lifecycle): always printed, so scripts and people can rely on it."""
    totals = report.totals
    return f"orphans: {totals.get('orphan', 0)}, deletions: {totals.get('delete', 0)}"


def _destination(name: str, region: str, account: str) -> str:
    return f"{name} ({region}, {account})" if name else "(none)"


def _reason(item: Any) -> str:
    reason = str(item.reason) if item.error_type is None else f"{item.reason} [{item.error_type}]"
    if item.error_message:
        reason += f": {item.error_message}"
    if item.diff:
        where = item.diff.get("paths") or item.diff.get("lines") or []
        if where:
            reason += f" (differs at: {', '.join(map(str, where))})"
    return reason
