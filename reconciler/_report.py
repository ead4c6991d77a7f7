"""The run report: one result per item, totals, API call counts; JSON and text renderings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._planner import ACTIONS, CONFLICT, CREATE, DEFERRED, FAILED, SOURCE_MISSING, UPDATE

REPORT_VERSION = 1
EXIT_OK = 0
EXIT_NOT_CONVERGED = 1
EXIT_USAGE = 2
EXIT_CHANGES_PENDING = 3


@dataclass(slots=True)
class ItemResult:
    mapping: str
    source: str  # the source ARN when known, else its name
    dest_name: str
    dest_region: str
    dest_account: str
    action: str
    reason: str
    error_type: str | None = None
    error_message: str | None = None
    retryable: bool | None = None
    attempts: int = 0
    duration_ms: int = 0
    diff: dict[str, Any] | None = None
    # for metrics only, never serialised
    source_region: str = ""
    transform_mode: str = "none"
    transform_rules: int = 0
    size: int | None = None
    transform_ms: float | None = None
    transform_in: int | None = None
    transform_out: int | None = None
    retries: int = 0
    throttles: int = 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mapping": self.mapping,
            "source": self.source,
            "destination": {"name": self.dest_name, "region": self.dest_region, "account": self.dest_account},
            "action": self.action,
            "reason": self.reason,
            "error": None if self.error_type is None else {
                "type": self.error_type, "message": self.error_message, "retryable": bool(self.retryable)},
            "attempts": self.attempts,
            "duration_ms": self.duration_ms,
        }
        if self.diff is not None:
            out["diff"] = self.diff
        return out


@dataclass(frozen=True, slots=True)
class RunError:
    """A run-level failure: something the run needed but could not observe (SPEC: errors list).

    ``message`` names the operation and the AWS error code, never a secret value.
    """

    account: str
    region: str
    service: str
    type: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"scope": {"account": self.account, "region": self.region, "service": self.service},
                "type": self.type, "message": self.message}


@dataclass
class Report:
    mode: str
    started_at: str
    run_id: str
    duration_ms: int = 0
    items: list[ItemResult] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)  # by operation, for the metrics
    throttles: dict[str, int] = field(default_factory=dict)
    errors: list[RunError] = field(default_factory=list)  # run-level: a non-empty list means exit 1

    @property
    def dry_run(self) -> bool:
        return self.mode == "plan"

    @property
    def totals(self) -> dict[str, int]:
        totals = dict.fromkeys(ACTIONS, 0)
        for item in self.items:
            totals[item.action] += 1
        return totals

    @property
    def exit_code(self) -> int:
        t = self.totals
        if self.errors or t[FAILED] or t[CONFLICT] or t[SOURCE_MISSING] or t[DEFERRED]:
            return EXIT_NOT_CONVERGED
        if self.mode == "plan" and (t[CREATE] or t[UPDATE]):
            return EXIT_CHANGES_PENDING
        return EXIT_OK

    def to_dict(self, *, items: bool = True) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "totals": self.totals,
            "items": [i.to_dict() for i in self.items] if items else [],
            "errors": [e.to_dict() for e in self.errors],
            "api_calls": dict(sorted(self.api_calls.items())),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def write_json(self, stream: Any) -> None:
        """Write what ``to_json`` returns, one item at a time: no second copy of a large report."""
        before, _, after = json.dumps(self.to_dict(items=False)).partition('"items": []')
        stream.write(before + '"items": [')
        for i, item in enumerate(self.items):
            stream.write((", " if i else "") + json.dumps(item.to_dict()))
        stream.write("]" + after + "\n")


TEXT_MAX_ROWS = 50  # a terminal table beyond this helps nobody; the JSON report has every item


def render_text(report: Report, *, console: Any = None, show_in_sync: bool = False,
                max_rows: int = TEXT_MAX_ROWS) -> None:
    """A table of what changed and why, then the counts. Uses rich; plain when not a terminal."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    verb = {"plan": "would ", "run": ""}[report.mode]
    order = {"failed": 0, "conflict": 1, "source_missing": 2, "deferred": 3, "update": 4, "create": 5}
    rows = sorted((i for i in report.items if show_in_sync or i.action != "in_sync"),
                  key=lambda i: (order.get(i.action, 9), i.mapping, i.dest_name))
    hidden = max(0, len(rows) - max_rows)
    rows = rows[:max_rows]
    if rows:
        table = Table(title=f"{report.mode}: {len(rows) + hidden} item(s) need attention", title_justify="left")
        for col in ("mapping", "destination", "action", "reason"):
            table.add_column(col, overflow="fold")
        styles = {"create": "green", "update": "yellow", "in_sync": "dim", "conflict": "magenta",
                  "source_missing": "magenta", "failed": "red", "deferred": "cyan"}
        for i in rows:
            action = (verb + i.action) if i.action in ("create", "update") else i.action
            reason = i.reason if i.error_type is None else f"{i.reason} [{i.error_type}]"
            if i.diff:
                reason += f" (differs at: {', '.join(map(str, i.diff.get('paths') or i.diff.get('lines') or []))})"
            table.add_row(i.mapping, f"{i.dest_name} ({i.dest_region}, {i.dest_account})",
                          f"[{styles.get(i.action, '')}]{action}[/]", reason)
        console.print(table)
        if hidden:
            console.print(f"... and {hidden} more (--format json lists every item)")
    counts = ", ".join(f"{k} {v}" for k, v in report.totals.items() if v) or "nothing to do"
    calls = sum(report.api_calls.values())
    console.print(f"{report.mode} finished in {report.duration_ms} ms: {counts}; {calls} API calls", highlight=False)
