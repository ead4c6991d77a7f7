"""Shim: error translation moved to ``reconciler.aws.errors``; the coordinator removes this."""

from .aws.errors import ACCESS_CODES, ENDPOINT_WIDE_CODES, THROTTLING_CODES, TRANSIENT_CODES, translate

__all__ = ["ACCESS_CODES", "ENDPOINT_WIDE_CODES", "THROTTLING_CODES", "TRANSIENT_CODES", "translate"]
