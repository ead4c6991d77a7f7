"""The report's fields, described once: the reference docs are generated from these tables.

``tests/test_docs_reference.py`` checks that ``Report.to_dict()`` writes exactly these keys, so a
field added to the report without a line here (or a line left here for a field that is gone)
fails the suite rather than drifting from the docs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldDoc:
    name: str
    type: str
    description: str


REPORT_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="version", type="integer", description="The report format's version: `1`."),
    FieldDoc(name="mode", type='"run" or "plan"', description="The command that produced the report."),
    FieldDoc(name="dry_run", type="boolean", description="`true` for `plan`: nothing was written."),
    FieldDoc(name="run_id", type="string", description="The run's id; every log line of the run carries it."),
    FieldDoc(name="started_at", type="string", description="UTC start time, `YYYY-MM-DDTHH:MM:SSZ`."),
    FieldDoc(name="duration_ms", type="integer", description="Wall time of the run in milliseconds."),
    FieldDoc(name="totals", type="map of action to integer",
             description="How many items ended with each action; every action is present, zeros included."),
    FieldDoc(name="items", type="list of item", description="One entry per destination (see the item fields)."),
    FieldDoc(name="errors", type="list of run error",
             description="Run-level failures: something the run needed but could not observe. "
                         "A non-empty list means exit 1 (and, in Lambda, a raise)."),
    FieldDoc(name="api_calls", type="map of string to integer",
             description="AWS calls made, by `service.Operation`, sorted by name."),
)

ITEM_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="mapping", type="string", description="The mapping's id (default: its source name)."),
    FieldDoc(name="source", type="string", description="The source ARN when known, else its name."),
    FieldDoc(name="destination", type="destination or null",
             description="Where the item writes; `null` for a prefix mapping whose source could not be listed."),
    FieldDoc(name="action", type="string",
             description="What happened (see Actions); in plan mode create/update/delete mean \"would\"."),
    FieldDoc(name="reason", type="string", description="Why, in words (never a value)."),
    FieldDoc(name="error", type="item error or null", description="Why the item failed; `null` otherwise."),
    FieldDoc(name="attempts", type="integer", description="Calls attempted for the item's write, retries included."),
    FieldDoc(name="duration_ms", type="integer", description="Time spent on the item in milliseconds."),
    FieldDoc(name="diff", type="object (plan --diff only)",
             description="The changed JSON paths or line numbers, never values. Present only with `plan --diff`."),
)

DESTINATION_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="name", type="string", description="The destination secret's or parameter's name."),
    FieldDoc(name="region", type="string", description="The destination's region."),
    FieldDoc(name="account", type="string", description="The destination's account id."),
)

ITEM_ERROR_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="type", type="string", description="The error type (see the error reference)."),
    FieldDoc(name="message", type="string", description="Operation, AWS error code and AWS's message; never a value."),
    FieldDoc(name="retryable", type="boolean",
             description="Whether a retry could help (`run --retry-failed REPORT.json` re-runs failed items)."),
)

RUN_ERROR_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="scope", type="scope", description="Where the run could not observe (see the scope fields)."),
    FieldDoc(name="type", type="string", description="The error type."),
    FieldDoc(name="message", type="string", description="What failed, by operation and AWS error code."),
)

RUN_ERROR_SCOPE_FIELDS: tuple[FieldDoc, ...] = (
    FieldDoc(name="account", type="string", description="The account id (empty when not known)."),
    FieldDoc(name="region", type="string", description="The region (empty when not known)."),
    FieldDoc(name="service", type="string",
             description="`secretsmanager`, `ssm`, `organizations`, or `manifest` / `reconciler` for a run "
                         "that could not start or finish."),
)

# Every table, by the name the reference gives its section.
TABLES: dict[str, tuple[FieldDoc, ...]] = {
    "report": REPORT_FIELDS,
    "item": ITEM_FIELDS,
    "destination": DESTINATION_FIELDS,
    "item error": ITEM_ERROR_FIELDS,
    "run error": RUN_ERROR_FIELDS,
    "scope": RUN_ERROR_SCOPE_FIELDS,
}
