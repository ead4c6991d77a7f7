"""Shim: moved to ``reconciler.aws.ratelimit``; the coordinator removes this."""

from .aws.ratelimit import AdaptiveRate

__all__ = ["AdaptiveRate"]
