"""Scheduling: a bounded queue of units, N workers, the stop signal and the deadline.

The deadline itself (``Deadline``) lives in ``deadline.py``, below everything that reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from .._constants import BATCH_GET_MAX_IDS
from .._exceptions import ItemError
from .actions import Action
from .deadline import Deadline

if TYPE_CHECKING:
    from .items import Item, Unit
    from .results import Results
    from .unit import ReadAhead

log = logging.getLogger("reconciler")

NOT_STARTED = "not started before the deadline or stop signal"


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
