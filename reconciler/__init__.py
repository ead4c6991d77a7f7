"""secrets-reconciler: keep AWS Secrets Manager secrets in step across regions and accounts.

The public API is re-exported here; everything in ``_``-modules is private and may change.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so ``import reconciler.lambda_handler`` stays cheap
# on a Lambda cold start and the CLI loads only what a command needs.
_EXPORTS = {
    "Options": "engine", "reconcile": "engine",
    "BackendError": "_exceptions", "CircuitOpenError": "_exceptions", "DeadlineExceeded": "_exceptions",
    "ItemError": "_exceptions", "ManifestError": "_exceptions", "PermanentError": "_exceptions",
    "ReconcilerError": "_exceptions", "ThrottlingError": "_exceptions", "TransformError": "_exceptions",
    "TransientError": "_exceptions",
    "Manifest": "manifest", "load_manifest": "manifest", "manifest_from_object": "manifest",
    "parse_manifest": "manifest",
    "ItemResult": "output.report", "Report": "output.report", "RunError": "output.report",
    "run_once": "_run",
}

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
    "RunError",
    "ThrottlingError",
    "TransformError",
    "TransientError",
    "__version__",
    "load_manifest",
    "manifest_from_object",
    "parse_manifest",
    "reconcile",
    "run_once",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconciler' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"reconciler.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
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
    from ._run import run_once
    from .engine import Options, reconcile
    from .manifest import Manifest, load_manifest, manifest_from_object, parse_manifest
    from .output.report import ItemResult, Report, RunError
