"""Scheduling: a bounded queue of units, N workers, the stop signal and the deadline.

The deadline is read from one clock (the event loop's, ``anyio.current_time``, unless a test
injects a fake one), so deadline behaviour is testable without racing a wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._constants import BATCH_GET_MAX_IDS
from .._exceptions import ItemError
from .actions import Action

if TYPE_CHECKING:
    from .items import Item, Unit
    from .results import Results
    from .unit import ReadAhead

log = logging.getLogger("reconciler")

NOT_STARTED = "not started before the deadline or stop signal"


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


class Scheduler:
    """Feeds units to ``concurrency`` workers; defers what the stop signal or the deadline leaves."""

    def __init__(self, concurrency: int, deadline: Deadline, results: Results, read_ahead: ReadAhead,
                 process: Callable[[Unit], Awaitable[None]]) -> None:
        self.concurrency = concurrency
        self.deadline = deadline
        self.results = results
        self.read_ahead = read_ahead
        self.process = process

    async def run(self, units: list[Unit], items: list[Item]) -> None:
        # Queue a batch's worth of units ahead of the workers so their reads can share calls.
        send, receive = anyio.create_memory_object_stream[Any](BATCH_GET_MAX_IDS)
        with anyio.CancelScope(deadline=self.deadline.hard_stop()) as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(min(self.concurrency, max(1, len(units)))):
                    tg.start_soon(self._worker, receive.clone())
                receive.close()
                async with send:
                    for unit in units:
                        if self.deadline.stopping():
                            self._defer(unit, NOT_STARTED)
                            continue
                        self.read_ahead.announce(unit)
                        await send.send(unit)
        if scope.cancelled_caught:
            for item in items:
                if item.result is None:
                    self.results.finish(item, Action.DEFERRED, "abandoned at the deadline; the next run picks it up")

    def _defer(self, unit: Unit, reason: str) -> None:
        for item in unit.items:
            self.results.finish(item, Action.DEFERRED, reason)

    async def _worker(self, receive: Any) -> None:
        async with receive:
            async for unit in receive:
                if self.deadline.stopping():  # queued before the deadline, not started by it
                    self.read_ahead.release(unit)
                    self._defer(unit, NOT_STARTED)
                else:
                    try:
                        await self.process(unit)
                    except Exception as exc:  # a bug must not stop the other items, nor leak a value
                        log.error("internal error", extra={"mapping": unit.first.spec.mapping.id,
                                                           "exception_type": exc.__class__.__name__})
                        for item in unit.items:
                            self.results.finish(item, Action.FAILED, "internal error",
                                                error=ItemError(f"internal error ({exc.__class__.__name__})"))
                self.results.tick()
