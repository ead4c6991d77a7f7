"""AWS Lambda entry point: ``reconciler.lambda_handler.handler`` (SPEC: Lambda).

Two kinds of event:

* EventBridge Scheduler: the JSON input may hold ``manifest`` (``s3://`` URI, a path in the
  package, or the manifest inline as an object), ``mode`` (run | plan), ``shard`` ("K/N") and
  ``select`` (mapping ids); ``MANIFEST_URI`` in the environment is the fallback.
* EventBridge for a Secrets Manager change (CloudTrail PutSecretValue, UpdateSecret,
  RestoreSecret, RotationSucceeded): only the mappings whose source the event names run.

New work stops before ``context.get_remaining_time_in_millis()`` runs out. The handler returns
the report's totals, and raises ``RunNotConverged`` when the CLI would exit 1 (failed, conflict,
source_missing, deferred) so Lambda's retries and on-failure destination act. Imports are lazy:
a cold start loads only what the event needs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CHANGE_EVENTS = frozenset({"PutSecretValue", "UpdateSecret", "RestoreSecret", "RotationSucceeded"})


class RunNotConverged(Exception):
    """Raised so Lambda counts the invocation as failed; the message is the run's summary (no values)."""


def handler(event: dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
    import anyio

    from . import _logging
    from ._constants import LAMBDA_SAFETY_MARGIN_SECONDS
    from ._engine import Options, reconcile
    from ._metrics import publish

    _logging.configure(os.environ.get("LOG_LEVEL", "INFO"))
    event = event or {}
    sources = change_event_sources(event)
    manifest = _manifest(event if sources is None else {})
    options: dict[str, Any] = {}
    if sources is None:
        options["mode"] = event.get("mode", "run")
        if event.get("shard"):
            k, _, n = str(event["shard"]).partition("/")
            options["shard"] = (int(k), int(n))
        if event.get("select"):
            sel = event["select"]
            options["select"] = tuple([sel] if isinstance(sel, str) else sel)
    else:
        options["sources"] = sources
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000.0
        margin = min(LAMBDA_SAFETY_MARGIN_SECONDS, remaining * 0.25)
        options["deadline"] = max(0.5, remaining - margin)
        options["grace"] = margin / 3  # in-flight items, then metrics, all before the end
    opts = Options(**options)

    async def go() -> Any:
        report = await reconcile(manifest, opts)
        await publish(report, manifest.settings.metrics, sink=manifest.settings.metrics.sink)
        return report

    report = anyio.run(go)
    result = {"run_id": report.run_id, "mode": report.mode, "totals": report.totals,
              "exit_code": report.exit_code, "duration_ms": report.duration_ms}
    if report.exit_code == 1:
        raise RunNotConverged(json.dumps(result))
    return result


def _manifest(event: dict[str, Any]) -> Any:
    from ._manifest import load_manifest, manifest_from_object

    root = Path(os.environ.get("LAMBDA_TASK_ROOT", os.getcwd()))
    spec = event.get("manifest") or os.environ.get("MANIFEST_URI")
    if isinstance(spec, dict):
        return manifest_from_object(spec, origin="<event manifest>", base_dir=root)
    if not spec:
        from ._exceptions import ManifestError

        raise ManifestError(["no manifest: give 'manifest' in the event input or set MANIFEST_URI"])
    spec = str(spec)
    if not spec.startswith("s3://") and not os.path.isabs(spec):
        spec = str(root / spec)
    return load_manifest(spec)


def change_event_sources(event: dict[str, Any]) -> frozenset[tuple[str, str]] | None:
    """(region, secret id) pairs a Secrets Manager change event names; None if it is not one."""
    if event.get("source") != "aws.secretsmanager" or "detail" not in event:
        return None
    detail = event.get("detail") or {}
    name = detail.get("eventName")
    if name not in CHANGE_EVENTS:
        return frozenset()
    region = detail.get("awsRegion") or event.get("region") or ""
    ids = set()
    for part in (detail.get("requestParameters"), detail.get("additionalEventData"),
                 detail.get("responseElements")):
        if isinstance(part, dict):
            for key in ("secretId", "SecretId", "arn", "ARN"):
                if isinstance(part.get(key), str):
                    ids.add(part[key])
    return frozenset((region, i) for i in ids)
