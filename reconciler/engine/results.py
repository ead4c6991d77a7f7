"""Results: each item finishes exactly once, with an ItemResult, a log line and a progress tick."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .._exceptions import DeadlineExceeded
from .._types import SecretValue
from ..output.report import ItemResult
from .actions import Action
from .items import Item

log = logging.getLogger("reconciler")

_WARN = frozenset({Action.FAILED, Action.CONFLICT, Action.SOURCE_MISSING, Action.DEFERRED})


class Results:
    """Finishes items. Invariant: an item's result is set once; later calls for it are ignored."""

    def __init__(self, run_id: str, default_region: str, progress: Callable[[int, int], None] | None) -> None:
        self.run_id = run_id
        self.default_region = default_region
        self._progress = progress
        self.done = 0
        self.total = 0

    def tick(self) -> None:
        if self._progress is not None:
            self._progress(self.done, self.total)

    def fail_or_defer(self, item: Item, reason: str, exc: BaseException) -> None:
        """A deadline defers the item (the next run picks it up); any other error fails it."""
        if isinstance(exc, DeadlineExceeded):
            self.finish(item, Action.DEFERRED, "deadline reached before the item finished")
        else:
            self.finish(item, Action.FAILED, reason, error=exc)

    def finish(self, item: Item, action: Action, reason: str, *, error: BaseException | None = None,
               value: SecretValue | None = None, diff: dict[str, Any] | None = None) -> None:
        if item.result is not None:
            return
        err_type = err_msg = None
        retryable = None
        if error is not None:
            err_type = getattr(error, "type", error.__class__.__name__)
            err_msg = getattr(error, "message", None) or str(error)
            retryable = bool(getattr(error, "retryable", False)) or err_type == "CircuitOpen"
        spec = item.spec
        transform = spec.transform
        t_stats = item.transform_stats
        item.result = ItemResult(
            mapping=spec.mapping.id,
            source=item.source.arn if item.source else spec.source_name,
            dest_name=spec.dest.name, dest_region=spec.dest.region, dest_account=spec.dest.account,
            action=action, reason=reason, error_type=err_type, error_message=err_msg, retryable=retryable,
            attempts=item.stats.attempts,
            duration_ms=int((time.monotonic() - item.started) * 1000) if item.started else 0, diff=diff,
            source_region=spec.mapping.source.region or self.default_region,
            transform_mode=transform.mode if transform else "none",
            transform_rules=transform.rule_count if transform else 0,
            size=value.size if value is not None else None,
            transform_ms=t_stats[0] if t_stats else None,
            transform_in=t_stats[1] if t_stats else None,
            transform_out=t_stats[2] if t_stats else None,
        )
        self.done += 1
        if action != Action.IN_SYNC:
            level = logging.WARNING if action in _WARN else logging.INFO
            log.log(level, "item", extra={"run_id": self.run_id, "mapping": spec.mapping.id,
                                          "destination": spec.dest.name, "region": spec.dest.region,
                                          "action": action, "reason": reason, "error_type": err_type})
