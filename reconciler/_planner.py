"""Shim: moved to ``reconciler.engine.planner`` (the coordinator removes this file)."""

from .engine.planner import (
    ACTIONS,
    CONFLICT,
    CREATE,
    DEFERRED,
    FAILED,
    IN_SYNC,
    OP_CREATE,
    OP_NONE,
    OP_PUT,
    OP_STAGE,
    SOURCE_MISSING,
    UPDATE,
    Action,
    Decision,
    Desired,
    Op,
    decide,
    refine_reason,
    version_token,
)

__all__ = ["ACTIONS", "CONFLICT", "CREATE", "DEFERRED", "FAILED", "IN_SYNC", "OP_CREATE", "OP_NONE", "OP_PUT",
           "OP_STAGE", "SOURCE_MISSING", "UPDATE", "Action", "Decision", "Desired", "Op", "decide", "refine_reason",
           "version_token"]
