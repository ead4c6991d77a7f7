"""One run, the same for every caller: logging -> load -> reconcile -> publish metrics -> report.

The CLI (``run``/``plan``), the Lambda handler and ``reconciler demo`` all call ``run_once``; what
differs between them (signals, progress bars, deadlines from a Lambda context, where the manifest
may come from) is in their ``Options`` and in what they pass here, never in a copy of this loop.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Options
    from .manifest.spec import Manifest
    from .output.report import Report

    # a path, s3://bucket/key or "-" (stdin); or a manifest already loaded
    ManifestSource = str | os.PathLike[str] | Manifest


async def run_once(manifest: ManifestSource, options: Options, *, sink_override: str | None = None,
                   namespace_override: str | None = None, log_level: str | None = None) -> Report:
    """Run a manifest once and publish its one metrics batch. Returns the report; never renders it.

    Raises ``ManifestError`` for a manifest that does not load or options it cannot run with,
    before any AWS write. A metrics failure is logged and never raised (SPEC: Metrics).
    ``log_level`` None leaves logging as the caller set it up.
    """
    from .engine import reconcile
    from .manifest.load import load_manifest
    from .manifest.spec import Manifest
    from .output import logs
    from .output.metrics import publish

    if log_level is not None:
        logs.configure(log_level)
    loaded = manifest if isinstance(manifest, Manifest) else load_manifest(os.fspath(manifest))
    report = await reconcile(loaded, options)
    settings = loaded.settings.metrics
    if namespace_override:
        settings = settings.model_copy(update={"namespace": namespace_override})
    await publish(report, settings, sink=sink_override or settings.sink)
    return report
