"""Metrics: aggregated in memory, published once per run (SPEC: Metrics).

The report is folded into one batch of CloudWatch metric data: counts per dimension set, and
distributions as Values/Counts (or StatisticValues past 150 distinct values). The batch is sent
with PutMetricData, split only where CloudWatch's per-request limits force it, or written as
CloudWatch Embedded Metric Format to stderr (the log stream, in Lambda). A metrics failure is
logged and never changes the run's outcome. Secret names never become dimensions unless the
operator opts in with ``metrics.include_secret_names`` (then the mapping id is added).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._constants import MAX_METRICS_PER_REQUEST, MAX_REQUEST_BYTES, MAX_VALUES_PER_METRIC
from ._manifest import MetricsSettings
from ._planner import CONFLICT, CREATE, DEFERRED, FAILED, IN_SYNC, SOURCE_MISSING, UPDATE
from ._report import Report

log = logging.getLogger("reconciler")

EMF_MAX_VALUES = 100  # values of one metric in one EMF document
COUNT, MS, BYTES = "Count", "Milliseconds", "Bytes"


@dataclass
class Batch:
    """Metric name + dimensions -> observed values, with their units."""

    # dims None: a run total with no dimensions at all, which the stack's alarms watch
    values: dict[tuple[str, tuple[tuple[str, str], ...] | None], list[float]] = field(
        default_factory=lambda: defaultdict(list))
    units: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: float, unit: str, **dims: str) -> None:
        self.units[name] = unit
        self.values[(name, tuple(sorted(dims.items())))].append(value)

    def add_total(self, name: str, value: float, unit: str) -> None:
        self.units[name] = unit
        self.values[(name, None)].append(value)

    def datums(self, extra_dims: dict[str, str]) -> list[dict[str, Any]]:
        out = []
        for (name, dims), values in sorted(self.values.items(), key=lambda kv: (kv[0][0], kv[0][1] or ())):
            all_dims = {} if dims is None else {**extra_dims, **dict(dims)}
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


def build(report: Report, settings: MetricsSettings) -> Batch:
    batch = Batch()
    by_action = {CREATE: "DriftDetected", UPDATE: "DriftDetected", IN_SYNC: "InSync", CONFLICT: "Conflict",
                 SOURCE_MISSING: "SourceMissing", DEFERRED: "Deferred"}
    for item in report.items:
        route = {"SourceRegion": item.source_region, "DestRegion": item.dest_region}
        if settings.include_secret_names:
            route["Mapping"] = item.mapping
        if item.action in by_action:
            batch.add(by_action[item.action], 1, COUNT, **route)
        if item.action in (CREATE, UPDATE) and report.mode == "run":
            batch.add("ReplicationSuccess", 1, COUNT, **route, TransformMode=item.transform_mode)
            batch.add("ReplicationDuration", float(item.duration_ms), MS, **route)
            if item.size is not None:
                batch.add("SecretSize", float(item.size), BYTES, **route)
        if item.action == FAILED:
            batch.add("ReplicationFailure", 1, COUNT, **route, ErrorType=item.error_type or "Unknown")
        if item.transform_ms is not None:
            mode = {"TransformMode": item.transform_mode}
            batch.add("TransformationDuration", round(item.transform_ms, 1), MS, **mode)
            batch.add("TransformationInputSize", float(item.transform_in or 0), BYTES, **mode)
            batch.add("TransformationOutputSize", float(item.transform_out or 0), BYTES, **mode)
            batch.add("TransformationRulesCount", float(item.transform_rules), COUNT, **mode)
    for operation, n in sorted(report.retries.items()):
        batch.add("RetryAttempt", float(n), COUNT, Operation=operation)
    for operation, n in sorted(report.throttles.items()):
        batch.add("ThrottlingEvent", float(n), COUNT, Operation=operation)
    batch.add("RunDuration", float(report.duration_ms), MS, Mode=report.mode)
    # run totals without dimensions, for alarms (an alarm must name a metric's exact dimensions)
    totals = report.totals
    for name, n in (("ReplicationFailure", totals[FAILED]), ("Conflict", totals[CONFLICT]),
                    ("SourceMissing", totals[SOURCE_MISSING]), ("Deferred", totals[DEFERRED]),
                    ("DriftDetected", totals[CREATE] + totals[UPDATE])):
        batch.add_total(name, float(n), COUNT)
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
        all_dims = {} if dims is None else {**settings.dimensions, **dict(dims)}
        groups[tuple(sorted(all_dims.items()))][name] = values
    docs = []
    for dims, metrics in sorted(groups.items()):
        # one document holds at most 100 metrics of at most 100 values each
        names = sorted(metrics)
        for start in range(0, len(names), 100):
            part = names[start : start + 100]
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


async def publish(report: Report, settings: MetricsSettings, *, sink: str, stream: TextIO | None = None,
                  region: str | None = None) -> None:
    """Send the run's one metrics batch. Never raises: a metrics failure is logged only."""
    if sink == "none":
        return
    try:
        batch = build(report, settings)
        if sink == "emf":
            out = stream or sys.stderr
            for doc in emf_documents(batch, settings, int(time.time() * 1000)):
                out.write(json.dumps(doc) + "\n")
            out.flush()
            return
        await _put_metric_data(report, batch, settings, region)
    except Exception as exc:  # never let metrics change the outcome
        log.warning("metrics not published", extra={"error_type": exc.__class__.__name__,
                                                    "sink": sink, "run_id": report.run_id})


async def _put_metric_data(report: Report, batch: Batch, settings: MetricsSettings, region: str | None) -> None:
    import aioboto3
    from aiobotocore.config import AioConfig

    session = aioboto3.Session()
    region = settings.region or region or session.region_name or "us-east-1"
    config = AioConfig(retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=10)
    async with session.client("cloudwatch", region_name=region, config=config) as cw:
        for chunk in split(batch.datums(settings.dimensions)):
            report.api_calls["cloudwatch.PutMetricData"] = report.api_calls.get("cloudwatch.PutMetricData", 0) + 1
            await cw.put_metric_data(Namespace=settings.namespace, MetricData=chunk)
