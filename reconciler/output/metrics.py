"""Metrics: aggregated in memory, published once per run (SPEC: Metrics).

The report is folded into one ``Batch``: counts per dimension set, and distributions as
Values/Counts (or StatisticValues past 150 distinct values). A sink publishes the batch:

* ``CloudWatchSink`` - PutMetricData, split only where CloudWatch's per-request limits force it
* ``EmfSink``        - CloudWatch Embedded Metric Format on stderr (the log stream, in Lambda)
* ``NullSink``       - nothing

A metrics failure is logged and never changes the run's outcome (``publish`` never raises).
Secret names never become dimensions unless the operator opts in with
``metrics.include_secret_names`` (then the mapping id is added).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from .._constants import MAX_METRICS_PER_REQUEST, MAX_REQUEST_BYTES, MAX_VALUES_PER_METRIC
from .report import Report, action_value

if TYPE_CHECKING:
    from ..manifest import MetricsSettings

log = logging.getLogger("reconciler")

EMF_MAX_VALUES = 100  # values of one metric in one EMF document
EMF_MAX_METRICS = 100  # metrics in one EMF document
PUT_METRIC_DATA_ATTEMPTS = 3  # the SDK's own retries: metrics are best effort and must not hold the run


class MetricUnit(str, Enum):
    COUNT = "Count"
    MILLISECONDS = "Milliseconds"
    BYTES = "Bytes"


class MetricName(str, Enum):
    """SPEC's metric names: the original replicator's, then the reconciler's own."""

    REPLICATION_SUCCESS = "ReplicationSuccess"
    REPLICATION_FAILURE = "ReplicationFailure"
    REPLICATION_DURATION = "ReplicationDuration"
    SECRET_SIZE = "SecretSize"
    TRANSFORMATION_DURATION = "TransformationDuration"
    TRANSFORMATION_INPUT_SIZE = "TransformationInputSize"
    TRANSFORMATION_OUTPUT_SIZE = "TransformationOutputSize"
    TRANSFORMATION_RULES_COUNT = "TransformationRulesCount"
    RETRY_ATTEMPT = "RetryAttempt"
    THROTTLING_EVENT = "ThrottlingEvent"
    DRIFT_DETECTED = "DriftDetected"
    IN_SYNC = "InSync"
    CONFLICT = "Conflict"
    SOURCE_MISSING = "SourceMissing"
    DEFERRED = "Deferred"
    RUN_DURATION = "RunDuration"
    ORPHAN = "Orphan"  # SPEC "Lifecycle": owned secrets no mapping writes (the dashboard's name)
    DELETED = "Deleted"  # scheduled for deletion (run mode only; a plan deletes nothing)


# What each metric counts or measures: the reference docs print this table.
METRIC_DESCRIPTIONS: dict[MetricName, str] = {
    MetricName.REPLICATION_SUCCESS: "Destinations written (created or updated), run mode only.",
    MetricName.REPLICATION_FAILURE: "Items that failed, by error type; also a run total that counts run-level errors.",
    MetricName.REPLICATION_DURATION: "Time spent on each written item.",
    MetricName.SECRET_SIZE: "Size of each value written.",
    MetricName.TRANSFORMATION_DURATION: "Time spent transforming each value.",
    MetricName.TRANSFORMATION_INPUT_SIZE: "Size of each value before its transform.",
    MetricName.TRANSFORMATION_OUTPUT_SIZE: "Size of each value after its transform.",
    MetricName.TRANSFORMATION_RULES_COUNT: "Transform rules applied to each value.",
    MetricName.RETRY_ATTEMPT: "Retried AWS calls, by operation.",
    MetricName.THROTTLING_EVENT: "Throttled AWS calls, by operation.",
    MetricName.DRIFT_DETECTED: "Destinations to create or update; also a run total, for alarms.",
    MetricName.IN_SYNC: "Destinations already in sync.",
    MetricName.CONFLICT: "Destinations the reconciler may not write (not ours, a replica, rotation on).",
    MetricName.SOURCE_MISSING: "Items whose source is missing or scheduled for deletion.",
    MetricName.DEFERRED: "Items not started before the deadline or a stop signal.",
    MetricName.RUN_DURATION: "Wall time of the run; the stack's heartbeat alarm watches `Mode=run`.",
    MetricName.ORPHAN: "Owned secrets no mapping writes any more.",
    MetricName.DELETED: "Destinations scheduled for deletion (run mode only).",
}


class MetricDimension(str, Enum):
    """Every dimension name the reconciler itself sets (``settings.metrics.dimensions`` adds the operator's)."""

    SOURCE_REGION = "SourceRegion"
    DEST_REGION = "DestRegion"
    TRANSFORM_MODE = "TransformMode"
    ERROR_TYPE = "ErrorType"
    OPERATION = "Operation"
    MODE = "Mode"
    MAPPING = "Mapping"  # only with settings.metrics.include_secret_names


class SinkName(str, Enum):
    CLOUDWATCH = "cloudwatch"
    EMF = "emf"
    NONE = "none"


SINK_NAMES = tuple(s.value for s in SinkName)

# Backwards-compatible unit names (tests and older callers pass the plain strings).
COUNT, MS, BYTES = MetricUnit.COUNT.value, MetricUnit.MILLISECONDS.value, MetricUnit.BYTES.value

# action -> the per-route count metric it feeds
_BY_ACTION = {"create": MetricName.DRIFT_DETECTED, "update": MetricName.DRIFT_DETECTED,
              "in_sync": MetricName.IN_SYNC, "conflict": MetricName.CONFLICT,
              "source_missing": MetricName.SOURCE_MISSING, "deferred": MetricName.DEFERRED,
              "orphan": MetricName.ORPHAN}
_WRITES = frozenset({"create", "update"})


def _str(x: str | Enum) -> str:
    return str(x.value) if isinstance(x, Enum) else x


@dataclass
class Batch:
    """Metric name + dimensions -> observed values, with their units."""

    # dims None: a run total with no dimensions at all, which the stack's alarms watch
    values: dict[tuple[str, tuple[tuple[str, str], ...] | None], list[float]] = field(
        default_factory=lambda: defaultdict(list))
    units: dict[str, str] = field(default_factory=dict)

    def add(self, name: str | MetricName, value: float, unit: str | MetricUnit, **dims: str) -> None:
        self.units[_str(name)] = _str(unit)
        self.values[(_str(name), tuple(sorted(dims.items())))].append(value)

    def add_total(self, name: str | MetricName, value: float, unit: str | MetricUnit) -> None:
        self.units[_str(name)] = _str(unit)
        self.values[(_str(name), None)].append(value)

    def add_exact(self, name: str | MetricName, value: float, unit: str | MetricUnit, **dims: str) -> None:
        """A series with exactly these dimensions, whatever settings.metrics.dimensions adds elsewhere."""
        self.units[_str(name)] = _str(unit)
        self.values[(_str(name), (_EXACT, *sorted(dims.items())))].append(value)

    def datums(self, extra_dims: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for (name, dims), values in sorted(self.values.items(), key=lambda kv: (kv[0][0], kv[0][1] or ())):
            all_dims = _dimensions(dims, extra_dims)
            dimensions = [{"Name": k, "Value": v} for k, v in sorted(all_dims.items())]
            datum: dict[str, Any] = {"MetricName": name, "Dimensions": dimensions, "Unit": self.units[name]}
            counts = Counter(values)
            if len(counts) <= MAX_VALUES_PER_METRIC:
                datum["Values"] = list(counts)
                datum["Counts"] = [float(c) for c in counts.values()]
            else:
                datum["StatisticValues"] = {"SampleCount": float(len(values)), "Sum": float(sum(values)),
                                            "Minimum": float(min(values)), "Maximum": float(max(values))}
            out.append(datum)
        return out


_EXACT = ("\x00exact", "")  # marks a dimension tuple that takes no extra dimensions


def _dimensions(dims: tuple[tuple[str, str], ...] | None, extra: dict[str, str]) -> dict[str, str]:
    """A series' dimensions: none for a run total, its own only for an exact series, else extra + own."""
    if dims is None:
        return {}
    if dims and dims[0] == _EXACT:
        return dict(dims[1:])
    return {**extra, **dict(dims)}


def build(report: Report, settings: MetricsSettings) -> Batch:
    N, U, D = MetricName, MetricUnit, MetricDimension
    batch = Batch()
    for item in report.items:
        action = action_value(item.action)
        route = {D.SOURCE_REGION.value: item.source_region, D.DEST_REGION.value: item.dest_region}
        if settings.include_secret_names:
            route[D.MAPPING.value] = item.mapping
        if action in _BY_ACTION:
            batch.add(_BY_ACTION[action], 1, U.COUNT, **route)
        if action in _WRITES and report.mode == "run":
            batch.add(N.REPLICATION_SUCCESS, 1, U.COUNT, **route, **{D.TRANSFORM_MODE.value: item.transform_mode})
            batch.add(N.REPLICATION_DURATION, float(item.duration_ms), U.MILLISECONDS, **route)
            if item.size is not None:
                batch.add(N.SECRET_SIZE, float(item.size), U.BYTES, **route)
        if action == "delete" and report.mode == "run":
            # per route only, no dimensionless total: the dashboard sums every series of the name
            batch.add(N.DELETED, 1, U.COUNT, **route)
        if action == "failed":
            batch.add(N.REPLICATION_FAILURE, 1, U.COUNT, **route,
                      **{D.ERROR_TYPE.value: item.error_type or "Unknown"})
        if item.transform_ms is not None:
            mode = {D.TRANSFORM_MODE.value: item.transform_mode}
            batch.add(N.TRANSFORMATION_DURATION, round(item.transform_ms, 1), U.MILLISECONDS, **mode)
            batch.add(N.TRANSFORMATION_INPUT_SIZE, float(item.transform_in or 0), U.BYTES, **mode)
            batch.add(N.TRANSFORMATION_OUTPUT_SIZE, float(item.transform_out or 0), U.BYTES, **mode)
            batch.add(N.TRANSFORMATION_RULES_COUNT, float(item.transform_rules), U.COUNT, **mode)
    for operation, n in sorted(report.retries.items()):
        batch.add(N.RETRY_ATTEMPT, float(n), U.COUNT, **{D.OPERATION.value: operation})
    for operation, n in sorted(report.throttles.items()):
        batch.add(N.THROTTLING_EVENT, float(n), U.COUNT, **{D.OPERATION.value: operation})
    batch.add(N.RUN_DURATION, float(report.duration_ms), U.MILLISECONDS, **{D.MODE.value: report.mode})
    # The stack's heartbeat alarm watches RunDuration{Mode=run} exactly: custom dimensions from the
    # manifest must not move the series it watches (a manifest cannot silence the heartbeat).
    if settings.dimensions:
        batch.add_exact(N.RUN_DURATION, float(report.duration_ms), U.MILLISECONDS, **{D.MODE.value: report.mode})
    # Run totals without dimensions, for alarms (an alarm must name a metric's exact dimensions).
    # A run-level error counts as a failure: the alarms must see a run that could not observe.
    t = report.totals
    for name, n in ((N.REPLICATION_FAILURE, t.get("failed", 0) + len(report.errors)),
                    (N.CONFLICT, t.get("conflict", 0)), (N.SOURCE_MISSING, t.get("source_missing", 0)),
                    (N.DEFERRED, t.get("deferred", 0)), (N.DRIFT_DETECTED, t.get("create", 0) + t.get("update", 0))):
        batch.add_total(name, float(n), U.COUNT)
    return batch


def split(datums: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Chunks within CloudWatch's limits: 1,000 metric data and about 1 MB a request."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for d in datums:
        n = len(json.dumps(d)) + 64
        if chunks[-1] and (len(chunks[-1]) >= MAX_METRICS_PER_REQUEST or size + n > MAX_REQUEST_BYTES * 0.9):
            chunks.append([])
            size = 0
        chunks[-1].append(d)
        size += n
    return [c for c in chunks if c]


def emf_documents(batch: Batch, settings: MetricsSettings, timestamp_ms: int) -> list[dict[str, Any]]:
    groups: dict[tuple[tuple[str, str], ...], dict[str, list[float]]] = defaultdict(dict)
    for (name, dims), values in batch.values.items():
        all_dims = _dimensions(dims, settings.dimensions)
        groups[tuple(sorted(all_dims.items()))][name] = values
    docs = []
    for dims, metrics in sorted(groups.items()):
        names = sorted(metrics)
        for start in range(0, len(names), EMF_MAX_METRICS):
            part = names[start : start + EMF_MAX_METRICS]
            longest = max(len(metrics[n]) for n in part)
            for offset in range(0, longest, EMF_MAX_VALUES):
                doc: dict[str, Any] = {"_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
                    "Namespace": settings.namespace, "Dimensions": [[k for k, _ in dims]],
                    "Metrics": [{"Name": n, "Unit": batch.units[n]} for n in part
                                if metrics[n][offset : offset + EMF_MAX_VALUES]]}]}}
                doc.update(dict(dims))
                for n in part:
                    chunk = metrics[n][offset : offset + EMF_MAX_VALUES]
                    if chunk:
                        doc[n] = chunk if len(chunk) > 1 else chunk[0]
                docs.append(doc)
    return docs


# --- sinks -------------------------------------------------------------------------------------


class MetricsSink(Protocol):
    """Publishes one run's batch. May raise: ``publish`` logs and swallows every failure."""

    async def send(self, report: Report, batch: Batch, settings: MetricsSettings) -> None: ...


class NullSink:
    async def send(self, report: Report, batch: Batch, settings: MetricsSettings) -> None:
        return None


@dataclass
class EmfSink:
    stream: TextIO | None = None  # default: stderr at send time (pytest swaps sys.stderr)

    async def send(self, report: Report, batch: Batch, settings: MetricsSettings) -> None:
        out = self.stream or sys.stderr
        for doc in emf_documents(batch, settings, int(time.time() * 1000)):
            out.write(json.dumps(doc) + "\n")
        out.flush()


@dataclass
class CloudWatchSink:
    region: str | None = None  # used when the settings name none; then the SDK's default region

    async def send(self, report: Report, batch: Batch, settings: MetricsSettings) -> None:
        import aioboto3
        from aiobotocore.config import AioConfig

        from ..aws._sdk import SharedTLSHTTPSession, check_ca_bundle, new_session

        core = new_session()
        check_ca_bundle(core)  # an unusable bundle is logged as InvalidCABundle, not HTTPClientError
        session = aioboto3.Session(botocore_session=core)
        region = settings.region or self.region or session.region_name or "us-east-1"
        config = AioConfig(retries={"total_max_attempts": PUT_METRIC_DATA_ATTEMPTS, "mode": "standard"},
                           connect_timeout=5, read_timeout=10, http_session_cls=SharedTLSHTTPSession)
        async with session.client("cloudwatch", region_name=region, config=config) as cw:
            for chunk in split(batch.datums(settings.dimensions)):
                report.api_calls["cloudwatch.PutMetricData"] = report.api_calls.get("cloudwatch.PutMetricData", 0) + 1
                await cw.put_metric_data(Namespace=settings.namespace, MetricData=chunk)


def sink_for(name: str | SinkName, *, stream: TextIO | None = None, region: str | None = None) -> MetricsSink:
    """The sink class for a sink name (``ValueError`` for an unknown one)."""
    kind = SinkName(name)
    if kind is SinkName.CLOUDWATCH:
        return CloudWatchSink(region=region)
    if kind is SinkName.EMF:
        return EmfSink(stream=stream)
    return NullSink()


async def publish(report: Report, settings: MetricsSettings, *, sink: str | SinkName | MetricsSink,
                  stream: TextIO | None = None, region: str | None = None) -> None:
    """Send the run's one metrics batch. Never raises: a metrics failure is logged only."""
    name = _str(sink) if isinstance(sink, (str, SinkName)) else type(sink).__name__
    try:
        target = sink_for(sink, stream=stream, region=region) if isinstance(sink, (str, SinkName)) else sink
        if isinstance(target, NullSink):
            return
        await target.send(report, build(report, settings), settings)
    except Exception as exc:  # never let metrics change the outcome
        kind = getattr(exc, "type", None)  # a BackendError's AWS error type, else the class
        error_type = kind if isinstance(kind, str) else exc.__class__.__name__
        log.warning("metrics not published", extra={"error_type": error_type, "sink": name, "run_id": report.run_id})
