"""Moved to ``reconciler.output.metrics``: a shim until callers move."""

from .output.metrics import (
    BYTES,
    COUNT,
    EMF_MAX_VALUES,
    MS,
    Batch,
    CloudWatchSink,
    EmfSink,
    MetricName,
    MetricUnit,
    NullSink,
    build,
    emf_documents,
    publish,
    split,
)

__all__ = ["BYTES", "COUNT", "EMF_MAX_VALUES", "MS", "Batch", "CloudWatchSink", "EmfSink", "MetricName",
           "MetricUnit", "NullSink", "build", "emf_documents", "publish", "split"]
