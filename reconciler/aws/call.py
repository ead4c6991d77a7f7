"""Every AWS call goes through one ``Caller``: pacing, retries, the endpoint's breaker, counting.

- Pacing: one ``AdaptiveRate`` per (account, region, service, API class), at the quota of that
  class (``QUOTAS``) or a lower ceiling the operator set. On throttling the whole fan-out to that
  account and region slows down, not just the one task (SPEC: Resilience).
- Retries: only transient errors (``errors.classify``), exponential backoff with full jitter, at
  most ``max_attempts`` attempts, and never a wait that would end past the run's deadline. The
  SDK's own retries are off (``clients``), so attempts do not multiply.
- Breaker: an endpoint given up on fails its calls at once (``breaker``).
- Observer: counts attempts, retries and throttles per operation and per item (``CallStats``).

The clock, sleep and random source are parameters so all of this is tested without a server and
without racing a wall clock.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

import anyio

from .._constants import (
    QUOTA_BATCH_GET_RPS,
    QUOTA_LIST_RPS,
    QUOTA_READ_RPS,
    QUOTA_SSM_DESCRIBE_RPS,
    QUOTA_SSM_GET_RPS,
    QUOTA_SSM_PUT_RPS,
    QUOTA_WRITE_RPS,
)
from .._exceptions import BackendError, CircuitOpenError, DeadlineExceeded, ThrottlingError, TransientError
from .breaker import Breaker
from .errors import ENDPOINT_WIDE_CODES, map_exceptions
from .ratelimit import AdaptiveRate, Clock, Sleep

log = logging.getLogger("reconciler")

T = TypeVar("T")

ApiClass = Literal["write", "list", "batch", "read", "ssm-put", "ssm-get", "ssm-describe", "ssm-write"]

# Request quotas per account and region, by (service, API class). Services absent here (STS,
# Organizations, CloudWatch) are called a handful of times a run and are not paced.
QUOTAS: Mapping[tuple[str, ApiClass], float] = {
    ("secretsmanager", "write"): QUOTA_WRITE_RPS,
    ("secretsmanager", "list"): QUOTA_LIST_RPS,
    ("secretsmanager", "batch"): QUOTA_BATCH_GET_RPS,
    ("secretsmanager", "read"): QUOTA_READ_RPS,
    ("ssm", "ssm-put"): QUOTA_SSM_PUT_RPS,
    ("ssm", "ssm-get"): QUOTA_SSM_GET_RPS,
    ("ssm", "ssm-describe"): QUOTA_SSM_DESCRIBE_RPS,
    # Tagging and deletion: AWS names no rate of their own; paced at PutParameter's, in their own
    # bucket, so a tag storm cannot starve the value writes.
    ("ssm", "ssm-write"): QUOTA_SSM_PUT_RPS,
}
_OPERATION_CLASS: Mapping[tuple[str, str], ApiClass] = {
    ("secretsmanager", "ListSecrets"): "list",
    ("secretsmanager", "BatchGetSecretValue"): "batch",
    ("secretsmanager", "DescribeSecret"): "read",
    ("secretsmanager", "GetSecretValue"): "read",
    ("ssm", "GetParameters"): "ssm-get",
    ("ssm", "GetParameter"): "ssm-get",
    ("ssm", "DescribeParameters"): "ssm-describe",
    ("ssm", "ListTagsForResource"): "ssm-describe",
    ("ssm", "GetParametersByPath"): "ssm-describe",
}
# Any other operation of a paced service is a write.
_DEFAULT_CLASS: Mapping[str, ApiClass] = {"secretsmanager": "write", "ssm": "ssm-put"}
# Which operator ceiling (settings.rate_limits) lowers which class. Secrets Manager's read class
# (10,000/s) is never the bottleneck and has no ceiling.
_WRITE_CLASSES: frozenset[ApiClass] = frozenset({"write", "ssm-put", "ssm-write"})
_READ_CLASSES: frozenset[ApiClass] = frozenset({"list", "batch", "ssm-get", "ssm-describe"})


def api_class(service: str, operation: str) -> ApiClass | None:
    """The quota class an operation is paced in, or None for a service that is not paced."""
    return _OPERATION_CLASS.get((service, operation)) or _DEFAULT_CLASS.get(service)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallSpec:
    """What one call is: which API, in which account and region, about what (for messages)."""

    service: str
    operation: str
    account: str
    region: str
    subject: str = ""  # named in error messages (a role ARN, a profile): never a value
    quota_class: ApiClass | None = None  # set by a facade that knows better than the table

    @property
    def api_class(self) -> ApiClass | None:
        return self.quota_class or api_class(self.service, self.operation)


class RetryConfig(Protocol):
    @property
    def max_attempts(self) -> int: ...
    @property
    def base_delay(self) -> float: ...
    @property
    def max_delay(self) -> float: ...


class RateLimit(Protocol):
    """An operator's lower ceiling for one region and/or account (None matches any)."""

    @property
    def region(self) -> str | None: ...
    @property
    def account(self) -> str | None: ...
    @property
    def writes_per_second(self) -> float | None: ...
    @property
    def reads_per_second(self) -> float | None: ...


def method_name(operation: str) -> str:
    """``PutSecretValue`` -> ``put_secret_value``: the client method of an API operation."""
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(operation))


def backoff_delay(retry: RetryConfig, retry_number: int, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base_delay * 2**(n-1))] before the n-th retry.

    The schedule is the ``backoff`` library's ``expo`` generator; the loop around it is ours
    because the wait must be taken on the run's clock (a fake one in tests) and stop at the run's
    deadline, and the jitter is drawn from the caller's ``rng`` so tests can seed it.
    """
    import backoff

    schedule = backoff.expo(base=2, factor=retry.base_delay, max_value=retry.max_delay)
    next(schedule)  # backoff's wait generators are primed before their first value
    cap = 0.0
    for _ in range(retry_number):
        cap = float(next(schedule))
    return rng.uniform(0.0, cap)


# --- the observer for counts ------------------------------------------------------------------


@dataclass(slots=True)
class ItemStats:
    """Per-item counters, found through a context variable set by the engine."""

    attempts: int = 0
    retries: int = 0
    throttles: int = 0


current_item: contextvars.ContextVar[ItemStats | None] = contextvars.ContextVar("current_item", default=None)


class CallObserver(Protocol):
    def attempted(self, spec: CallSpec) -> None: ...
    def throttled(self, spec: CallSpec) -> None: ...
    def retrying(self, spec: CallSpec, exc: BackendError, wait: float) -> None: ...


@dataclass
class CallStats:
    """The run's counters (a ``CallObserver``), and the current item's through ``current_item``."""

    calls: Counter[str] = field(default_factory=Counter)  # by "service.Operation"
    retries: Counter[str] = field(default_factory=Counter)  # by operation
    throttles: Counter[str] = field(default_factory=Counter)  # by operation

    def attempted(self, spec: CallSpec) -> None:
        self.calls[f"{spec.service}.{spec.operation}"] += 1
        item = current_item.get()
        if item is not None:
            item.attempts += 1

    def throttled(self, spec: CallSpec) -> None:
        self.throttles[spec.operation] += 1
        item = current_item.get()
        if item is not None:
            item.throttles += 1

    def retrying(self, spec: CallSpec, exc: BackendError, wait: float) -> None:
        self.retries[spec.operation] += 1
        item = current_item.get()
        if item is not None:
            item.retries += 1
        log.debug("retrying", extra={"operation": spec.operation, "error_type": exc.type, "wait_s": round(wait, 3)})


# --- the caller -------------------------------------------------------------------------------


class Caller:
    def __init__(
        self,
        *,
        retry: RetryConfig,
        deadline: float | None = None,
        observer: CallObserver | None = None,
        rate_limits: Sequence[RateLimit] = (),
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.retry = retry
        self.deadline = deadline  # on ``clock``'s scale (time.monotonic() by default); retries stop there
        self.observer: CallObserver = observer or CallStats()
        self.rate_limits = list(rate_limits)
        self._clock: Clock = clock or anyio.current_time
        self._sleep: Sleep = sleep or anyio.sleep
        self._rng = rng or random.Random()
        self._rates: dict[tuple[str, str, str, ApiClass], AdaptiveRate] = {}

    def rate(self, spec: CallSpec) -> AdaptiveRate | None:
        """The pacer shared by every call to this (account, region, service, API class)."""
        cls = spec.api_class
        if cls is None:
            return None
        key = (spec.account, spec.region, spec.service, cls)
        r = self._rates.get(key)
        if r is None:
            r = self._rates[key] = AdaptiveRate(self._ceiling(spec, cls), clock=self._clock, sleep=self._sleep)
        return r

    def _ceiling(self, spec: CallSpec, cls: ApiClass) -> float:
        ceiling = QUOTAS[(spec.service, cls)]
        for c in self.rate_limits:
            # A ceiling names no service today: it was written for Secrets Manager's quotas.
            if getattr(c, "service", "secretsmanager") != spec.service:
                continue
            if c.region not in (None, spec.region) or c.account not in (None, spec.account):
                continue
            limit = c.writes_per_second if cls in _WRITE_CLASSES else (
                c.reads_per_second if cls in _READ_CLASSES else None)
            if limit is not None:
                ceiling = min(ceiling, limit)
        return ceiling

    async def call(self, spec: CallSpec, send: Callable[[], Awaitable[T]], *, breaker: Breaker | None = None) -> T:
        """``send()`` paced, retried and counted; errors leave translated (``errors``).

        With ``breaker``, an open breaker fails the call at once, and endpoint-wide failures
        (access denied, transient errors that outlasted their retries) count towards opening it.
        """
        if breaker is not None:
            breaker.check()
        try:
            result = await self._with_retries(spec, send)
        except BackendError as exc:
            if breaker is not None and not isinstance(exc, CircuitOpenError) and (
                exc.code in ENDPOINT_WIDE_CODES or isinstance(exc, TransientError)
            ) and breaker.failure(exc):
                log.error("endpoint given up on; its remaining items fail",
                          extra={"endpoint": breaker.name, "error_type": exc.type})
            raise
        if breaker is not None:
            breaker.success()
        return result

    async def _with_retries(self, spec: CallSpec, send: Callable[[], Awaitable[T]]) -> T:
        if self.deadline is not None and self._clock() >= self.deadline:
            raise DeadlineExceeded(f"{spec.operation}: the run's deadline passed")
        rate = self.rate(spec)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(spec, send, rate)
            except TransientError as exc:
                if attempt >= self.retry.max_attempts:
                    raise
                wait = backoff_delay(self.retry, attempt, self._rng)
                if self.deadline is not None and self._clock() + wait >= self.deadline:
                    raise  # the retry would start after the deadline: the last error stands
                self.observer.retrying(spec, exc, wait)
                await self._sleep(wait)

    async def _attempt(self, spec: CallSpec, send: Callable[[], Awaitable[T]], rate: AdaptiveRate | None) -> T:
        if rate is not None:
            await rate.acquire()
        self.observer.attempted(spec)
        try:
            with map_exceptions(spec.operation, subject=spec.subject):
                result = await send()
        except ThrottlingError:
            self.observer.throttled(spec)
            if rate is not None:
                rate.on_throttle()
            raise
        if rate is not None:
            rate.on_success()
        return result
