"""``--format text``: a table of what needs attention, run-level errors, counts, one summary line.

Invariant: nothing the run observed is ever parsed as rich markup. Mapping ids, secret names,
reasons (which quote foreign owner tags), error messages and ``--diff`` paths (JSON keys) may hold
``[/...]``; every such string goes into a ``Text`` object, never into a markup string. Only the
literals written in this module carry markup (none do; styles are passed as arguments).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .report import Report, action_value
from .summary import attention_rows, change_summary
from .summary import destination as _destination
from .summary import reason as _reason

if TYPE_CHECKING:
    from rich.console import Console

TEXT_MAX_ROWS = 50  # a terminal table beyond this helps nobody; the JSON report has every item

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
    rows = attention_rows(report, show_in_sync=show_in_sync)
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
    # No item counted and a run-level error: the run stopped before it could count anything, which
    # is not "nothing to do".
    idle = "stopped before any item was decided" if report.errors else "nothing to do"
    counts = ", ".join(f"{k} {v}" for k, v in report.totals.items() if v) or idle
    calls = sum(report.api_calls.values())
    console.print(Text(f"{report.mode} finished in {report.duration_ms} ms: {counts}; {calls} API calls"))
    console.print(Text(change_summary(report)))
    console.print(Text(summary_line(report)))  # SPEC "Lifecycle": this stays the very last line


def summary_line(report: Report) -> str:
    """The report's last line (SPEC Lifecycle): always printed, so scripts and people can rely on it."""
    totals = report.totals
    return f"orphans: {totals.get('orphan', 0)}, deletions: {totals.get('delete', 0)}"
