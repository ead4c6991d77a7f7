"""``--format markdown`` and the GitHub job summary: a report as GitHub-flavoured Markdown.

Invariant: every string that came from AWS or the manifest (mapping ids, names, regions, accounts,
reasons quoting foreign tags, error messages, ``--diff`` paths) passes through ``md_text`` exactly
once; only literals written here carry Markdown or HTML syntax. The report holds no secret value,
so neither does this.
"""

from __future__ import annotations

from collections.abc import Iterable

from .mdescape import md_text
from .report import ItemResult, Report, action_value
from .summary import attention_rows, change_summary, destination, reason

MARKDOWN_MAX_ROWS = 50  # table rows needing attention; the rest are counted in a trailer
MARKDOWN_MAX_DETAIL_ROWS = 200  # lines per <details> section (GitHub caps a job summary at 1 MiB)
_WOULD = frozenset({"create", "update", "delete"})


def render_markdown(report: Report, *, max_rows: int = MARKDOWN_MAX_ROWS,
                    max_detail_rows: int = MARKDOWN_MAX_DETAIL_ROWS) -> str:
    """The whole document, ending with a newline."""
    out = [f"### reconciler {md_text(report.mode)}", "", f"**{change_summary(report)}**", ""]
    rows = attention_rows(report)
    if rows:
        out += ["| mapping | destination | action | reason |", "| --- | --- | --- | --- |"]
        out += [_row(report.mode, i) for i in rows[:max_rows]]
        if len(rows) > max_rows:
            out += ["", f"… and {len(rows) - max_rows} more (`--format json` lists every item)"]
        out.append("")
    else:
        out += ["Nothing needs attention.", ""]
    out += _details(report, max_detail_rows)
    if report.errors:
        out += [f"#### {len(report.errors)} run-level error(s)", ""]
        for e in report.errors:
            scope = ", ".join(x for x in (e.service, e.region, e.account) if x) or "run"
            out.append(f"- {md_text(scope)}: **{md_text(e.type)}**: {md_text(e.message)}")
        out.append("")
    out.append(f"exit code {int(report.exit_code)}; {sum(report.api_calls.values())} API calls; "
               f"{report.duration_ms} ms")
    return "\n".join(out) + "\n"


def _shown(mode: str, action: str) -> str:
    return f"would {action}" if mode == "plan" and action in _WOULD else action


def _row(mode: str, i: ItemResult) -> str:
    cells = (i.mapping, destination(i.dest_name, i.dest_region, i.dest_account),
             _shown(mode, action_value(i.action)), reason(i))
    return "| " + " | ".join(md_text(c) for c in cells) + " |"


def _details(report: Report, cap: int) -> list[str]:
    """One collapsed ``<details>`` per action seen, in the report's totals order."""
    out: list[str] = []
    for action, count in report.totals.items():
        if not count:
            continue
        items = [i for i in report.items if action_value(i.action) == action]
        out += ["<details>", f"<summary>{md_text(_shown(report.mode, action))}: {count}</summary>", ""]
        out += list(_lines(items[:cap]))
        if len(items) > cap:
            out.append(f"- … and {len(items) - cap} more")
        out += ["", "</details>", ""]
    return out


def _lines(items: Iterable[ItemResult]) -> Iterable[str]:
    for i in items:
        yield (f"- {md_text(i.mapping)} → {md_text(destination(i.dest_name, i.dest_region, i.dest_account))}: "
               f"{md_text(reason(i))}")
