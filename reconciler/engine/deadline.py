"""The deadline: when a run stops starting new work, and when work in flight is abandoned.

The deadline is read from one clock (the event loop's, ``anyio.current_time``, unless a test
injects a fake one), so deadline behaviour is testable without racing a wall clock.

A bottom module of the engine: observation (inventory), writes (lifecycle) and the pipeline
(scheduler) all read it, and it imports none of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio


class Deadline:
    """When to stop starting new work: a stop signal, or ``seconds`` after the start on ``clock``.

    With the event loop's clock, work still in flight ``grace`` seconds after the deadline is
    abandoned (and the AWS layer stops retrying then). An injected clock (tests: one that ticks
    per API call) governs only when work stops starting: it has no real-time meaning, so nothing
    is abandoned on a loaded machine's wall clock.
    """

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] | None = None, stop: Any = None,
                 grace: float = 0.0) -> None:
        self._real_time = clock is None
        self.clock = clock or anyio.current_time
        self.start = self.clock()
        self.at = None if seconds is None else self.start + seconds
        self.stop = stop  # an anyio.Event, or None
        self.grace = grace  # items in flight at the deadline get this long to finish
        self._monotonic_start = time.monotonic()
        self._seconds = seconds

    def passed(self) -> bool:
        return self.at is not None and self.clock() >= self.at

    def stopping(self) -> bool:
        return (self.stop is not None and self.stop.is_set()) or self.passed()

    def hard_stop(self) -> float:
        """The event loop time at which work still in flight is abandoned (deadline + grace)."""
        if self.at is None or not self._real_time:
            return float("inf")
        return anyio.current_time() + max(0.0, self.at - self.clock()) + self.grace

    def backend_deadline(self) -> float | None:
        """The same hard stop on ``time.monotonic``, for the AWS layer's retry budget."""
        if self._seconds is None or not self._real_time:
            return None
        return self._monotonic_start + self._seconds + self.grace
