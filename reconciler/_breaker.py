"""Circuit breakers: give up on an identity or endpoint once it has shown it cannot work.

An identity whose role cannot be assumed is opened at the first failure; an endpoint opens after
``threshold`` consecutive endpoint-wide failures (access denied, expired credentials, transient
errors that outlasted their retries). Once open, calls fail at once with CircuitOpenError that
repeats the first cause, so the log says it once and the report says it per item.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._exceptions import BackendError, CircuitOpenError

DEFAULT_THRESHOLD = 5


@dataclass
class Breaker:
    name: str
    threshold: int = DEFAULT_THRESHOLD
    failures: int = 0
    cause: BackendError | None = None

    @property
    def open(self) -> bool:
        return self.cause is not None

    def check(self) -> None:
        if self.cause is not None:
            raise CircuitOpenError(f"{self.name} given up on after: {self.cause.message}",
                                   code="CircuitOpen", operation=self.cause.operation)

    def success(self) -> None:
        self.failures = 0

    def failure(self, exc: BackendError, *, immediate: bool = False) -> bool:
        """Count a failure; True if this one opened the breaker."""
        if self.cause is not None:
            return False
        self.failures += 1
        if immediate or self.failures >= self.threshold:
            self.cause = exc
            return True
        return False
