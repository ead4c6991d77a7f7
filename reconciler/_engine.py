"""Shim: the engine is the ``reconciler.engine`` package (the coordinator removes this file)."""

from .engine import DEADLINE_GRACE_SECONDS, Options, reconcile
from .engine.items import SelfMappingError

__all__ = ["DEADLINE_GRACE_SECONDS", "Options", "SelfMappingError", "reconcile"]
