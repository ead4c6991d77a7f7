"""Shim: moved to ``reconciler.engine.listing`` (the coordinator removes this file)."""

from .engine.listing import EXACT_BELOW, PAGE_TARGET, filter_plan

__all__ = ["EXACT_BELOW", "PAGE_TARGET", "filter_plan"]
