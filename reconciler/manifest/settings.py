"""The ``settings`` block of a manifest (pydantic models): run-wide knobs, each bounded."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._constants import (
    CONNECT_TIMEOUT,
    DEFAULT_BASE_DELAY,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_DELAY,
    DEFAULT_NAMESPACE,
    DEFAULT_OWNER,
    MAX_CONCURRENCY,
    MAX_DIMENSIONS_PER_METRIC,
    QUOTA_LIST_RPS,
    QUOTA_WRITE_RPS,
    READ_TIMEOUT,
)
from .kinds import MetricsSink, OnExisting
from .rules import REGION_PATTERN, ROLE_ARN_PATTERN, TAG_VALUE_PATTERN

DEFAULT_PRUNE_MAX_DELETES = 25
MIN_RECOVERY_WINDOW_DAYS = 7  # DeleteSecret's RecoveryWindowInDays range
MAX_RECOVERY_WINDOW_DAYS = 30


class Strict(BaseModel):
    """Unknown keys are errors; a validated model is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class RetrySettings(Strict):
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=50)
    base_delay: float = Field(DEFAULT_BASE_DELAY, gt=0, le=60)
    max_delay: float = Field(DEFAULT_MAX_DELAY, gt=0, le=900)

    @model_validator(mode="after")
    def _order(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self


class MetricsSettings(Strict):
    sink: MetricsSink = "cloudwatch"
    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1, max_length=255)
    region: str | None = None
    # the reconciler adds up to 4 dimensions of its own to CloudWatch's 30 per metric
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=MAX_DIMENSIONS_PER_METRIC - 4)
    # Secret names are kept out of metric dimensions unless the operator opts in.
    include_secret_names: bool = False


class RateCeiling(Strict):
    """A lower request rate for one endpoint whose quota is shared with other workloads."""

    region: str | None = None
    account: str | None = Field(None, pattern=r"^\d{12}$")
    writes_per_second: float | None = Field(None, gt=0, le=QUOTA_WRITE_RPS)
    reads_per_second: float | None = Field(None, gt=0, le=QUOTA_LIST_RPS)


class Timeouts(Strict):
    connect: float = Field(CONNECT_TIMEOUT, gt=0, le=120)
    read: float = Field(READ_TIMEOUT, gt=0, le=300)


class PruneSettings(Strict):
    """SPEC "Lifecycle". Strict types: a quoted "false" must not turn deletion on."""

    enabled: bool = Field(False, strict=True)
    max_deletes: int = Field(DEFAULT_PRUNE_MAX_DELETES, ge=0, strict=True)
    recovery_window_days: int = Field(MAX_RECOVERY_WINDOW_DAYS, ge=MIN_RECOVERY_WINDOW_DAYS,
                                      le=MAX_RECOVERY_WINDOW_DAYS, strict=True)


class OrganizationsSettings(Strict):
    """The identity that lists accounts under OUs (SPEC "Organizations"); default credentials if unset."""

    role_arn: str | None = Field(None, pattern=ROLE_ARN_PATTERN)
    region: str | None = Field(None, pattern=REGION_PATTERN)


class Settings(Strict):
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    owner: str = Field(DEFAULT_OWNER, min_length=1, max_length=256, pattern=TAG_VALUE_PATTERN)
    on_existing: OnExisting = "fail"
    retry: RetrySettings = RetrySettings()
    metrics: MetricsSettings = MetricsSettings()
    rate_limits: list[RateCeiling] = Field(default_factory=list)
    timeouts: Timeouts = Timeouts()  # per request, seconds; a timed-out request is retried
    prune: PruneSettings = PruneSettings()
    organizations: OrganizationsSettings | None = None

