"""Adaptive request pacing per (account, region, service, API class): AIMD on a paced schedule.

Each caller reserves the next free send slot (GCRA-style virtual scheduling), so waiting callers
leave one at a time at the current rate rather than all at once when a throttle clears. A
throttle cuts the rate to 90% of what the endpoint actually accepted over the last second, but
never below half the current rate, at most once per cool-down; every caller still waiting for a
slot reserved at the old rate takes a new one. While calls succeed the rate climbs back by a
fixed share of the ceiling per second, up to the ceiling: the AWS quota, or a lower one the
operator set.

The clock and the sleep are parameters (anyio's by default) so the arithmetic is tested on a
fake clock, without racing a wall clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio

DECREASE_COOLDOWN = 0.5  # seconds between two decreases: the calls in flight answer for the old rate
ACCEPTED_WINDOW = 1.0  # seconds of successes that estimate what the endpoint accepts
MIN_RATE = 0.5  # requests per second
INCREASE_PER_SECOND = 0.2  # share of the ceiling regained per second of successful calls
DECREASE_FACTOR = 0.9  # multiplicative decrease, and the share of the accepted rate kept
MAX_DECREASE = 0.5  # one decrease never takes more than half the current rate

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class AdaptiveRate:
    def __init__(self, ceiling: float, *, clock: Clock | None = None, sleep: Sleep | None = None) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self._clock: Clock = clock or anyio.current_time
        self._sleep: Sleep = sleep or anyio.sleep
        self._next_free = 0.0
        self._last_decrease: float | None = None
        self._generation = 0  # bumped on every decrease: reservations made before are void
        self._successes: deque[float] = deque()
        self._last_success: float | None = None

    async def acquire(self) -> None:
        while True:
            generation = self._generation
            now = self._clock()
            slot = max(self._next_free, now)
            self._next_free = slot + 1.0 / self.rate
            if slot > now:
                await self._sleep(slot - now)
            if generation == self._generation:
                return

    def on_throttle(self) -> None:
        now = self._clock()
        if self._last_decrease is not None and now - self._last_decrease < DECREASE_COOLDOWN:
            return
        self._last_decrease = now
        accepted = self._accepted(now)
        target = max(self.rate * MAX_DECREASE, DECREASE_FACTOR * accepted)
        self.rate = max(MIN_RATE, min(self.rate * DECREASE_FACTOR, target))
        self._generation += 1
        self._next_free = now + 1.0 / self.rate

    def on_success(self) -> None:
        now = self._clock()
        self._successes.append(now)
        # The first success after creation earns no increase: there is no interval to credit yet.
        elapsed = 0.0 if self._last_success is None else min(1.0, now - self._last_success)
        self._last_success = now
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + self.ceiling * INCREASE_PER_SECOND * elapsed)

    def _accepted(self, now: float) -> float:
        while self._successes and self._successes[0] < now - ACCEPTED_WINDOW:
            self._successes.popleft()
        return len(self._successes) / ACCEPTED_WINDOW
