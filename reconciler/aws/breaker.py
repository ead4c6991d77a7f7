"""Circuit breakers: give up on an identity or endpoint once it has shown it cannot work.

An endpoint opens after ``threshold`` consecutive endpoint-wide failures (access denied, expired
credentials, transient errors that outlasted their retries); once open, its calls fail at once
with CircuitOpenError naming the first cause, so the log says it once and the report per item.

An identity breaker (``repeat_cause=True``, threshold 1) opens at the first failure to obtain
credentials and then repeats that original error (same type, code and message): an item of an
identity that cannot be assumed says "AccessDenied ... AssumeRole", never "CircuitOpen".

There is no half-open state: a run is bounded (a deadline, a Lambda timeout) and the next run
starts with closed breakers. Nothing here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import BackendError, CircuitOpenError

DEFAULT_THRESHOLD = 5


@dataclass
class Breaker:
    name: str
    threshold: int = DEFAULT_THRESHOLD
    repeat_cause: bool = False
    failures: int = 0
    cause: BackendError | None = None

    def check(self) -> None:
        cause = self.cause
        if cause is None:
            return
        if self.repeat_cause:
            # A fresh instance: one exception object raised from many tasks would pile up tracebacks.
            raise type(cause)(cause.message, code=cause.code, operation=cause.operation)
        raise CircuitOpenError(f"{self.name} given up on after: {cause.message}",
                               code="CircuitOpen", operation=cause.operation)

    def success(self) -> None:
        self.failures = 0

    def failure(self, exc: BackendError, *, immediate: bool = False) -> bool:
        """Count a failure; True if this one opened the breaker (so the caller logs it once)."""
        if self.cause is not None:
            return False
        self.failures += 1
        if immediate or self.failures >= self.threshold:
            self.cause = exc
            return True
        return False
