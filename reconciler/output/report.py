"""The run report: one result per item, run-level errors, totals, API call counts, exit code.

Pure data, no I/O beyond writing JSON to a stream. The text rendering lives in ``render`` (rich),
so the Lambda path never imports it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum, IntEnum
from typing import Any

from ..engine.actions import ACTIONS

REPORT_VERSION = 1


class ExitCode(IntEnum):
    """SPEC "Command line": the process exit code, and when the Lambda raises (non-zero)."""

    OK = 0  # converged (run) or in sync (plan)
    NOT_CONVERGED = 1  # any item failed, conflict, source_missing or deferred, or a run-level error
    USAGE = 2  # invalid manifest or usage
    CHANGES_PENDING = 3  # plan only: changes pending and nothing failed


EXIT_OK = ExitCode.OK
EXIT_NOT_CONVERGED = ExitCode.NOT_CONVERGED
EXIT_USAGE = ExitCode.USAGE
EXIT_CHANGES_PENDING = ExitCode.CHANGES_PENDING

# Action values, by what they mean for the exit code. Compared as strings, so the engine's
# action constants (plain strings or a str Enum) both work. orphan never changes the exit code.
NOT_CONVERGED_ACTIONS = frozenset({"failed", "conflict", "source_missing", "deferred"})
PENDING_ACTIONS = frozenset({"create", "update", "delete"})  # in plan mode: "would ..."


def action_value(action: Any) -> str:
    """An action as its report string, whether the engine hands a str or an Enum member."""
    return str(action.value) if isinstance(action, Enum) else str(action)


@dataclass(slots=True)
class ItemResult:
    mapping: str
    source: str  # the source ARN when known, else its name
    dest_name: str  # "" when there is no destination (a prefix mapping whose source could not be listed)
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
            "destination": {"name": self.dest_name, "region": self.dest_region, "account": self.dest_account}
            if self.dest_name else None,  # null: a prefix mapping whose source could not be listed
            "action": action_value(self.action),
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
    plan: Any = None  # plan mode: the engine.planfile.PlanFile that plan --out writes; never in the JSON report

    @property
    def dry_run(self) -> bool:
        return self.mode == "plan"

    @property
    def totals(self) -> dict[str, int]:
        """Every known action (zero included, in the engine's order), then any other action seen."""
        totals = {action_value(a): 0 for a in ACTIONS}
        for item in self.items:
            key = action_value(item.action)
            totals[key] = totals.get(key, 0) + 1
        return totals

    @property
    def exit_code(self) -> ExitCode:
        seen = {action_value(i.action) for i in self.items}
        if self.errors or seen & NOT_CONVERGED_ACTIONS:
            return ExitCode.NOT_CONVERGED
        if self.mode == "plan" and seen & PENDING_ACTIONS:
            return ExitCode.CHANGES_PENDING
        return ExitCode.OK

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


def failure_report(mode: str, *, service: str, error_type: str, messages: list[str]) -> Report:
    """A report for a run that could not start or finish (its ``errors`` say why; exit code 1).

    Only the CLI's ``--format json`` needs it: stdout carries exactly one report whatever happens.
    """
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    errors = [RunError(account="", region="", service=service, type=error_type, message=m) for m in messages]
    return Report(mode=mode, started_at=now, run_id=uuid.uuid4().hex[:16], errors=errors)
