"""The closed sets of the engine: what happens to an item, how a change is carried out, the run mode.

They are ``StrEnum``s: their values are the report's strings, and a member equals its string, so
JSON, logs and comparisons with plain strings keep working.
"""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """An item's outcome, as the report says it (SPEC: Report). In plan mode create/update/delete mean "would"."""

    CREATE = "create"
    UPDATE = "update"
    IN_SYNC = "in_sync"
    CONFLICT = "conflict"
    SOURCE_MISSING = "source_missing"
    FAILED = "failed"
    DEFERRED = "deferred"
    DELETE = "delete"
    ORPHAN = "orphan"


# The report's totals, in this order.
ACTIONS: tuple[Action, ...] = (Action.CREATE, Action.UPDATE, Action.IN_SYNC, Action.CONFLICT,
                               Action.SOURCE_MISSING, Action.FAILED, Action.DEFERRED, Action.DELETE,
                               Action.ORPHAN)
# Decisions that write nothing: the item is finished as soon as one is made.
SETTLED: frozenset[Action] = frozenset({Action.CONFLICT, Action.SOURCE_MISSING, Action.IN_SYNC})


class Op(StrEnum):
    """How a change is carried out on the destination."""

    NONE = "none"
    CREATE = "create"  # CreateSecret with value and tags
    PUT = "put"  # PutSecretValue with the token
    STAGE = "stage"  # the wanted version exists: move AWSCURRENT to it
    DELETE = "delete"  # schedule deletion with the recovery window (engine.lifecycle; never forced)


class Mode(StrEnum):
    RUN = "run"  # converge every destination
    PLAN = "plan"  # say what would change; write nothing
