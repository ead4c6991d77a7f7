"""Moved to ``reconciler.output.logs``: a shim until callers move."""

from .output.logs import JsonFormatter, configure

__all__ = ["JsonFormatter", "configure"]
