"""Errors the reconciler raises or records.

Exception tree::

    ReconcilerError
    ├── ManifestError              bad manifest or usage: exit 2, raised before any AWS call
    ├── ItemError                  one item failed; recorded on that item, never stops the others
    │   ├── TransformError         a transform step could not produce a value
    │   └── BackendError           an AWS call failed (translated in aws/errors.py, nowhere else)
    │       ├── TransientError     worth retrying: throttling, 5xx, timeouts, dropped connections
    │       │   └── ThrottlingError
    │       ├── PermanentError     retrying cannot help: not found, access denied, invalid request
    │       │   ├── NotFoundError
    │       │   ├── AccessDeniedError
    │       │   ├── AlreadyExistsError
    │       │   └── ProfileNotFoundError  a named profile that does not exist: its items fail
    │       └── CircuitOpenError   an endpoint was given up on earlier in this run
    └── DeadlineExceeded           the run's deadline passed before the item could start or finish

Messages never carry a secret value: they name mappings, secrets and AWS error codes only.

This tree is store-neutral on purpose: every store behind the ``aws.store.Store`` seam (Secrets
Manager, Parameter Store) raises these, so the engine never learns a service's error codes.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base of every error this package raises on purpose."""


class ManifestError(ReconcilerError):
    """The manifest (or a command-line option) is invalid. Carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ItemError(ReconcilerError):
    """One item could not be reconciled."""

    type_name = "ItemError"
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def type(self) -> str:
        return self.type_name


class TransformError(ItemError):
    """A transform step could not produce a value (runaway regex, output too large, not JSON...)."""

    type_name = "TransformError"


class BackendError(ItemError):
    """An AWS call failed. ``code`` is the AWS error code (or a connection error's class)."""

    type_name = "BackendError"

    def __init__(self, message: str, *, code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.code = code or self.type_name
        self.operation = operation

    @property
    def type(self) -> str:
        return self.code


class TransientError(BackendError):
    """Worth retrying: throttling, 5xx, timeouts, dropped connections."""

    type_name = "TransientError"
    retryable = True


class ThrottlingError(TransientError):
    """AWS throttled the call: retried, and the whole fan-out to that endpoint slows down."""

    type_name = "ThrottlingException"


class PermanentError(BackendError):
    """Retrying cannot help: invalid request, KMS failure, limit exceeded..."""

    type_name = "PermanentError"


class NotFoundError(PermanentError):
    """The secret or parameter does not exist."""

    type_name = "ResourceNotFoundException"


class AccessDeniedError(PermanentError):
    """The identity may not make this call."""

    type_name = "AccessDeniedException"


class AlreadyExistsError(PermanentError):
    """A create met a name that already exists."""

    type_name = "ResourceExistsException"


class ProfileNotFoundError(PermanentError):
    """A named profile that does not exist: its items fail, not the run."""

    type_name = "ProfileNotFound"


class CircuitOpenError(BackendError):
    """Raised without an AWS call once an endpoint has tripped its breaker.

    An identity that cannot be used is not reported this way: its original error is repeated, so
    each of its items says why (AccessDenied on sts:AssumeRole, ProfileNotFound).
    """

    type_name = "CircuitOpen"


class DeadlineExceeded(ReconcilerError):
    """The run's deadline passed."""
