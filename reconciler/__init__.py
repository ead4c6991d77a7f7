"""secrets-reconciler: keep AWS Secrets Manager secrets in step across regions and accounts.

The public API is re-exported here; everything in ``_``-modules is private and may change.
"""

from ._engine import Options, reconcile
from ._exceptions import (
    BackendError,
    CircuitOpenError,
    DeadlineExceeded,
    ItemError,
    ManifestError,
    PermanentError,
    ReconcilerError,
    ThrottlingError,
    TransformError,
    TransientError,
)
from ._manifest import Manifest, load_manifest, manifest_from_object, parse_manifest
from ._report import ItemResult, Report

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "CircuitOpenError",
    "DeadlineExceeded",
    "ItemError",
    "ItemResult",
    "Manifest",
    "ManifestError",
    "Options",
    "PermanentError",
    "ReconcilerError",
    "Report",
    "ThrottlingError",
    "TransformError",
    "TransientError",
    "__version__",
    "load_manifest",
    "manifest_from_object",
    "parse_manifest",
    "reconcile",
]
