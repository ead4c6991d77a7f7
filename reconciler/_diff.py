"""Moved to ``reconciler.output.diff``: a shim until callers move."""

from .output.diff import MAX_LISTED, describe_difference

__all__ = ["MAX_LISTED", "describe_difference"]
