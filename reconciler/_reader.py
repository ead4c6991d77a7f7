"""Shim: moved to ``reconciler.engine.reader`` (the coordinator removes this file)."""

from .engine.reader import ValueReader

__all__ = ["ValueReader"]
