"""Adaptive request pacing per (account, region, API class): AIMD on a paced token schedule.

Each caller reserves the next free send slot (GCRA-style virtual scheduling), so waiting callers
leave one at a time at the current rate rather than all at once when a throttle clears. A
throttle halves the rate (at most once per cool-down, since the calls already in flight answer
for the old rate); every success adds back a little, up to the ceiling: the AWS quota or a lower
one the operator set.
"""

from __future__ import annotations

import time

import anyio

DECREASE_FACTOR = 0.5
DECREASE_COOLDOWN = 1.0  # seconds between two decreases
MIN_RATE = 0.5  # requests per second


class AdaptiveRate:
    def __init__(self, ceiling: float, *, burst: float = 1.0) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self._burst = burst
        self._next_free = 0.0
        self._last_decrease = -DECREASE_COOLDOWN
        self.throttles = 0

    async def acquire(self) -> None:
        now = time.monotonic()
        interval = 1.0 / self.rate
        slot = max(self._next_free, now - interval * (self._burst - 1))
        self._next_free = slot + interval
        if slot > now:
            await anyio.sleep(slot - now)

    def on_throttle(self) -> None:
        self.throttles += 1
        now = time.monotonic()
        if now - self._last_decrease >= DECREASE_COOLDOWN:
            self._last_decrease = now
            self.rate = max(MIN_RATE, self.rate * DECREASE_FACTOR)
            # push the schedule out so the callers already queued spread over the new rate
            self._next_free = max(self._next_free, now + 1.0 / self.rate)

    def on_success(self) -> None:
        if self.rate < self.ceiling:
            # additive increase: back to the ceiling after roughly 2 * ceiling successes
            self.rate = min(self.ceiling, self.rate + max(0.05, self.ceiling / 100.0))
