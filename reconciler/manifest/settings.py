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
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=50,
        description="Attempts per AWS call, the first included (1-50).")
    base_delay: float = Field(DEFAULT_BASE_DELAY, gt=0, le=60,
        description="First retry delay in seconds (full-jitter exponential backoff).")
    max_delay: float = Field(DEFAULT_MAX_DELAY, gt=0, le=900,
        description="Longest retry delay in seconds; at least base_delay.")

    @model_validator(mode="after")
    def _order(self) -> RetrySettings:
        if self.max_delay < self.base_delay:
            raise ValueError("max_delay must be at least base_delay")
        return self


class MetricsSettings(Strict):
    sink: MetricsSink = Field("cloudwatch", description="Where metrics go: cloudwatch, emf, or none.")
    namespace: str = Field(DEFAULT_NAMESPACE, min_length=1, max_length=255, description="CloudWatch metric namespace.")
    region: str | None = Field(None, description="Region metrics are published to (the first source's when absent).")
    # the reconciler adds up to 4 dimensions of its own to CloudWatch's 30 per metric
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=MAX_DIMENSIONS_PER_METRIC - 4,
        description="Extra dimensions added to every metric.")
    # Secret names are kept out of metric dimensions unless the operator opts in.
    include_secret_names: bool = Field(False,
        description="Add secret names as a metric dimension (off: names stay out of metrics).")


class RateCeiling(Strict):
    """A lower request rate for one endpoint whose quota is shared with other workloads."""

    region: str | None = Field(None, description="Region this ceiling applies to (every region when absent).")
    account: str | None = Field(None, pattern=r"^\d{12}$",
        description="12-digit account id this ceiling applies to (every account when absent).")
    writes_per_second: float | None = Field(None, gt=0, le=QUOTA_WRITE_RPS,
        description="Ceiling on write requests per second for this endpoint.")
    reads_per_second: float | None = Field(None, gt=0, le=QUOTA_LIST_RPS,
        description="Ceiling on read and list requests per second for this endpoint.")


class Timeouts(Strict):
    connect: float = Field(CONNECT_TIMEOUT, gt=0, le=120, description="Connect timeout per request, in seconds.")
    read: float = Field(READ_TIMEOUT, gt=0, le=300,
        description="Read timeout per request, in seconds; a timed-out request is retried.")


class PruneSettings(Strict):
    """SPEC "Lifecycle". Strict types: a quoted "false" must not turn deletion on."""

    enabled: bool = Field(False, strict=True,
        description="Delete owned destinations whose mapping is gone (a boolean, never a string).")
    max_deletes: int = Field(DEFAULT_PRUNE_MAX_DELETES, ge=0, strict=True,
        description="Refuse to delete more than this many orphans in one run (prune guard).")
    recovery_window_days: int = Field(MAX_RECOVERY_WINDOW_DAYS, ge=MIN_RECOVERY_WINDOW_DAYS,
                                      le=MAX_RECOVERY_WINDOW_DAYS, strict=True,
                                      description="DeleteSecret recovery window in days (7-30).")


class OrganizationsSettings(Strict):
    """The identity that lists accounts under OUs (SPEC "Organizations"); default credentials if unset."""

    role_arn: str | None = Field(None, pattern=ROLE_ARN_PATTERN, description="Role assumed to list accounts under OUs.")
    region: str | None = Field(None, pattern=REGION_PATTERN, description="Region of the Organizations API calls.")


class Settings(Strict):
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY, description="Items reconciled at once.")
    owner: str = Field(DEFAULT_OWNER, min_length=1, max_length=256, pattern=TAG_VALUE_PATTERN,
        description="Owner tag value naming this reconciler instance; destinations owned by another are conflicts.")
    on_existing: OnExisting = Field("fail",
        description="What to do with a destination that exists but is not owned by this reconciler.")
    retry: RetrySettings = Field(RetrySettings(), description="Retry policy for AWS calls.")
    metrics: MetricsSettings = Field(MetricsSettings(), description="Metrics publishing.")
    rate_limits: list[RateCeiling] = Field(default_factory=list,
        description="Lower request-rate ceilings for endpoints whose quota is shared.")
    timeouts: Timeouts = Field(Timeouts(),
        description="Per-request timeouts, in seconds.")  # per request, seconds; a timed-out request is retried
    prune: PruneSettings = Field(PruneSettings(), description="Deleting orphans (SPEC Lifecycle).")
    organizations: OrganizationsSettings | None = Field(None,
        description="The identity that lists accounts under OUs; default credentials when absent.")

