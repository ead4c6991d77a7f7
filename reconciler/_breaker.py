"""Shim: moved to ``reconciler.aws.breaker``; the coordinator removes this."""

from .aws.breaker import DEFAULT_THRESHOLD, Breaker

__all__ = ["DEFAULT_THRESHOLD", "Breaker"]
