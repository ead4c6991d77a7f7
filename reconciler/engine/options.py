"""How to run a manifest: ``Options``, validated on construction."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._exceptions import ManifestError
from .actions import Mode
from .selection import ItemKey, Shard

if TYPE_CHECKING:
    from .planfile import PlanFile

DEADLINE_GRACE_SECONDS = 5.0  # items in flight at the deadline get this long to finish
CONCURRENCY_RANGE = (1, 512)  # SPEC: settings.concurrency and --concurrency

# A monotonic clock in seconds. The default is the event loop's (anyio.current_time); tests pass
# a fake one so deadlines never race a wall clock.
Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class Options:
    """How to run a manifest. Validates itself; every field has a safe default."""

    mode: Mode | str = Mode.RUN  # a plain "run"/"plan" string is converted to Mode
    concurrency: int | None = None  # overrides settings.concurrency
    shard: Shard | tuple[int, int] | None = None  # a (K, N) tuple is converted to Shard
    select: tuple[str, ...] = ()
    deadline: float | None = None  # seconds from the start of the run
    diff: bool = False  # plan only: read values and name the differing paths/lines
    retry_failed: frozenset[ItemKey] | None = None  # (mapping, name, region, account)
    # Only these sources (change events): (region, name or ARN) pairs. None = every source.
    sources: frozenset[tuple[str, str]] | None = None
    grace: float = DEADLINE_GRACE_SECONDS  # items in flight at the deadline get this long to finish
    stop: Any = None  # an anyio.Event: set it to stop starting new work (signals)
    progress: Callable[[int, int], None] | None = None  # (done, total)
    clock: Clock | None = None  # None: the event loop's clock
    plan: PlanFile | None = None  # run --plan: do exactly what this plan says (engine.plangate)
    plan_max_age: float = 24 * 3600.0  # seconds; a plan older than this is refused
    now: Callable[[], datetime] | None = None  # the wall clock plan ages are read on; tests pass a fixed one

    def __post_init__(self) -> None:
        problems = []
        try:
            object.__setattr__(self, "mode", Mode(self.mode))
        except ValueError:
            problems.append(f"mode must be run or plan, not {self.mode!r}")
        if self.shard is not None:
            shard = Shard(*self.shard)
            object.__setattr__(self, "shard", shard)
            if not 1 <= shard.k <= shard.n:
                problems.append("--shard K/N needs 1 <= K <= N")
        low, high = CONCURRENCY_RANGE
        if self.concurrency is not None and not low <= self.concurrency <= high:
            problems.append(f"--concurrency must be between {low} and {high}")
        if self.deadline is not None and not (math.isfinite(self.deadline) and self.deadline > 0):
            problems.append("--deadline must be a positive number of seconds")
        if self.diff and self.mode != Mode.PLAN:
            problems.append("--diff is a plan option")
        if self.plan is not None:
            if self.mode != Mode.RUN:
                problems.append("--plan is a run option (plan --out writes one)")
            if self.select or self.shard is not None or self.sources is not None or self.retry_failed is not None:
                # a plan was made over the whole manifest: its orphans and its guard need the whole run
                problems.append("--plan applies a whole plan: it cannot be combined with --select, --shard, "
                                "--retry-failed or change events")
        if not (math.isfinite(self.plan_max_age) and self.plan_max_age > 0):
            problems.append("--plan-max-age must be a positive number of seconds")
        if problems:
            raise ManifestError(problems)

    @property
    def run_mode(self) -> Mode:
        """``mode`` as the enum (it is converted on construction; this gives the type checker the enum)."""
        return Mode(self.mode)

    @property
    def run_shard(self) -> Shard | None:
        """``shard`` as a Shard (converted on construction)."""
        return None if self.shard is None else Shard(*self.shard)
