"""AWS Lambda entry point: ``reconciler.lambda_handler.handler`` (SPEC: Lambda, Lambda trust).

Two kinds of event:

* EventBridge Scheduler: the JSON input may hold ``mode`` (run | plan), ``shard`` ("K/N") and
  ``select`` (mapping ids); the manifest is ``MANIFEST_URI`` from the environment. An event may
  name its own ``manifest`` (``s3://`` URI, a path in the package, or the manifest inline) only
  where the environment sets ``ALLOW_EVENT_MANIFEST=true``; otherwise such an event is refused:
  whoever can invoke the function must not choose what it reads and writes. Under the same
  trust, ``plan`` (an ``s3://`` URI of a ``plan --out`` file) applies that plan exactly, as
  ``run --plan`` does; ``plan_max_age`` ("24h", seconds...) overrides its default age limit.
* EventBridge for a Secrets Manager change (CloudTrail PutSecretValue, UpdateSecret,
  RestoreSecret, RotationSucceeded): only the mappings whose source the event names run. A change
  made by the function's own role (``RECONCILER_ROLE_ARN``, comma-separated for several) is
  ignored, so its own writes never trigger it again.

``METRICS_NAMESPACE`` and ``METRICS_SINK`` in the environment override the manifest's metrics
settings, so a manifest cannot silence the alarms. New work stops before
``context.get_remaining_time_in_millis()`` runs out. The handler returns the report's totals and
raises ``RunNotConverged`` whenever the CLI would exit 1 (failed, conflict, source_missing,
deferred, a run-level error) so Lambda's retries and on-failure destination act. An event or an
environment it cannot run raises ``InvalidInvocation`` naming the field.

Imports are lazy: a cold start loads only what the event needs (never rich).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._change_event import CHANGE_EVENTS, ChangeEvent, made_by, parse_change_event

__all__ = ["CHANGE_EVENTS", "InvalidInvocation", "LambdaEnvironment", "RunNotConverged", "handler"]

log = logging.getLogger("reconciler")

# The environment the function reads (config/deploy/template.yaml sets them).
ENV_MANIFEST_URI = "MANIFEST_URI"
ENV_ALLOW_EVENT_MANIFEST = "ALLOW_EVENT_MANIFEST"
ENV_METRICS_NAMESPACE = "METRICS_NAMESPACE"
ENV_METRICS_SINK = "METRICS_SINK"
ENV_ROLE_ARN = "RECONCILER_ROLE_ARN"
ENV_LOG_LEVEL = "LOG_LEVEL"

SCHEDULED_KEYS = frozenset({"manifest", "mode", "shard", "select", "plan", "plan_max_age"})
MODES = ("run", "plan")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_NAMESPACE_LENGTH = 255  # CloudWatch's limit
MIN_DEADLINE_SECONDS = 0.5  # even with almost no time left, try: the items are then reported deferred
IN_FLIGHT_SHARE_OF_MARGIN = 1 / 3  # of the safety margin: in-flight items finish, then metrics are sent


class RunNotConverged(Exception):
    """Raised so Lambda counts the invocation as failed; the message is the run's summary (no values)."""


class InvalidInvocation(Exception):
    """The event or the function's environment cannot be run; the message names the field and why."""


@dataclass(frozen=True, slots=True)
class LambdaEnvironment:
    manifest_uri: str | None
    allow_event_manifest: bool
    metrics_namespace: str | None
    metrics_sink: str | None
    role_arns: tuple[str, ...]
    log_level: str
    task_root: Path

    @classmethod
    def read(cls, env: Mapping[str, str]) -> LambdaEnvironment:
        from .output.metrics import SINK_NAMES

        sink = env.get(ENV_METRICS_SINK) or None
        if sink is not None and sink not in SINK_NAMES:
            raise InvalidInvocation(f"{ENV_METRICS_SINK} must be one of {', '.join(SINK_NAMES)}, not {sink!r}")
        namespace = env.get(ENV_METRICS_NAMESPACE) or None
        if namespace is not None and (len(namespace) > MAX_NAMESPACE_LENGTH or namespace.startswith("AWS/")):
            raise InvalidInvocation(f"{ENV_METRICS_NAMESPACE} must be at most {MAX_NAMESPACE_LENGTH} characters "
                                    "and not start with AWS/")
        level = (env.get(ENV_LOG_LEVEL) or "INFO").strip().upper()
        if level not in LOG_LEVELS:
            raise InvalidInvocation(f"{ENV_LOG_LEVEL} must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
        return cls(
            manifest_uri=env.get(ENV_MANIFEST_URI) or None,
            allow_event_manifest=env.get(ENV_ALLOW_EVENT_MANIFEST, "").strip().lower() == "true",
            metrics_namespace=namespace,
            metrics_sink=sink,
            role_arns=tuple(a.strip() for a in env.get(ENV_ROLE_ARN, "").split(",") if a.strip()),
            log_level=level,
            task_root=Path(env.get("LAMBDA_TASK_ROOT") or os.getcwd()),
        )


def handler(event: dict[str, Any] | None, context: Any = None) -> dict[str, Any]:
    import anyio

    from ._run import run_once
    from .engine import Options
    from .output import logs
    from .output.report import ExitCode

    env = LambdaEnvironment.read(os.environ)
    logs.configure(env.log_level)
    event = {} if event is None else event
    if not isinstance(event, dict):
        raise InvalidInvocation(f"the event must be a JSON object, not {type(event).__name__}")
    change = parse_change_event(event)
    fields: dict[str, Any]
    if change is not None:
        reason = _ignore_reason(change, env)
        if reason is not None:
            log.info("change event ignored", extra={"event_name": change.event_name, "reason": reason})
            return _ignored(reason)
        manifest: Any = _manifest_from_environment(env)
        fields = {"sources": change.sources}
    else:
        scheduled = _scheduled_input(event)
        manifest = _scheduled_manifest(scheduled, env)
        fields = _scheduled_options(scheduled)
        fields.update(_scheduled_plan(scheduled, env))
    fields.update(_deadline(context))
    options = Options(**fields)

    async def go() -> Any:
        return await run_once(manifest, options, sink_override=env.metrics_sink,
                              namespace_override=env.metrics_namespace)

    report = anyio.run(go)
    result = {"run_id": report.run_id, "mode": report.mode, "totals": report.totals,
              "errors": len(report.errors), "exit_code": int(report.exit_code), "duration_ms": report.duration_ms}
    if report.exit_code == ExitCode.NOT_CONVERGED:  # a plan with changes pending (3) is not a failure
        raise RunNotConverged(json.dumps(result))
    return result


def _ignore_reason(change: ChangeEvent, env: LambdaEnvironment) -> str | None:
    if change.event_name not in CHANGE_EVENTS:
        return f"{change.event_name or 'an event'} does not change a secret's value"
    if change.error_code is not None:
        return f"the call failed ({change.error_code}): nothing changed"
    if not change.secrets:
        return "the event names no secret"
    if made_by(change, env.role_arns):
        return "made by the reconciler's own role"
    return None


def _ignored(reason: str) -> dict[str, Any]:
    from .output.report import Report

    empty = Report(mode="run", started_at="", run_id="")
    return {"run_id": None, "mode": "run", "totals": empty.totals, "errors": 0, "exit_code": 0, "duration_ms": 0,
            "ignored": reason}


def _scheduled_input(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("source") == "aws.events" and "detail-type" in event:
        return {}  # a classic EventBridge scheduled rule: it carries no input of ours
    unknown = sorted(set(event) - SCHEDULED_KEYS)
    if unknown:
        raise InvalidInvocation(f"event input: unknown key(s) {', '.join(map(repr, unknown))}; "
                                f"expected some of {', '.join(sorted(SCHEDULED_KEYS))}")
    return event


def _scheduled_options(event: dict[str, Any]) -> dict[str, Any]:
    from .engine.selection import InvalidShard, parse_shard

    mode = event.get("mode", "run")
    if mode not in MODES:
        raise InvalidInvocation(f"event input: mode must be one of {', '.join(MODES)}, not {mode!r}")
    fields: dict[str, Any] = {"mode": mode}
    if event.get("shard") is not None:
        try:
            fields["shard"] = parse_shard(event["shard"])
        except InvalidShard as exc:
            raise InvalidInvocation(f"event input: {exc}") from None
    select = event.get("select")
    if select is not None:
        select = [select] if isinstance(select, str) else select
        if not isinstance(select, list) or not all(isinstance(s, str) and s for s in select):
            raise InvalidInvocation("event input: select must be a mapping id or a list of mapping ids")
        fields["select"] = tuple(select)
    return fields


def _scheduled_manifest(event: dict[str, Any], env: LambdaEnvironment) -> Any:
    """The manifest to run: the event's own only where the environment trusts events (SPEC: Lambda trust)."""
    spec = event.get("manifest")
    if spec is None:
        return _manifest_from_environment(env)
    if not env.allow_event_manifest:
        raise InvalidInvocation(f"event input: 'manifest' is refused: this function runs {ENV_MANIFEST_URI} only "
                                f"(set {ENV_ALLOW_EVENT_MANIFEST}=true to let events name a manifest)")
    if isinstance(spec, dict):
        from .manifest.load import manifest_from_object

        return manifest_from_object(spec, origin="<event manifest>", base_dir=env.task_root)
    if not isinstance(spec, str) or not spec:
        raise InvalidInvocation("event input: manifest must be an s3:// URI, a path, or the manifest as an object")
    return _location(spec, env)


def _scheduled_plan(event: dict[str, Any], env: LambdaEnvironment) -> dict[str, Any]:
    """``plan``: a plan file to apply, trusted as an event manifest is (it chooses what is written)."""
    spec, age = event.get("plan"), event.get("plan_max_age")
    if spec is None:
        if age is not None:
            raise InvalidInvocation("event input: plan_max_age needs plan")
        return {}
    if not env.allow_event_manifest:
        raise InvalidInvocation(f"event input: 'plan' is refused: this function runs {ENV_MANIFEST_URI} only "
                                f"(set {ENV_ALLOW_EVENT_MANIFEST}=true to let events name a plan)")
    if not isinstance(spec, str) or not spec.startswith("s3://"):
        raise InvalidInvocation("event input: plan must be the s3:// URI of a plan file (reconciler plan --out)")
    from .engine.planfile import parse_age, read_plan

    fields: dict[str, Any] = {"plan": read_plan(spec)}  # a bad file: ManifestError, before any AWS call
    if age is not None:
        try:
            fields["plan_max_age"] = parse_age(str(age))
        except ValueError as exc:
            raise InvalidInvocation(f"event input: plan_max_age: {exc}") from None
    return fields


def _manifest_from_environment(env: LambdaEnvironment) -> str:
    if env.manifest_uri is None:
        from ._exceptions import ManifestError

        raise ManifestError([f"no manifest: set {ENV_MANIFEST_URI} in the function's environment"])
    return _location(env.manifest_uri, env)


def _location(spec: str, env: LambdaEnvironment) -> str:
    """An s3:// URI as is; a path relative to the function's code (LAMBDA_TASK_ROOT)."""
    if spec.startswith("s3://") or os.path.isabs(spec):
        return spec
    return str(env.task_root / spec)


def _deadline(context: Any) -> dict[str, float]:
    from ._constants import LAMBDA_SAFETY_MARGIN_SECONDS

    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return {}
    remaining = context.get_remaining_time_in_millis() / 1000.0
    margin = min(LAMBDA_SAFETY_MARGIN_SECONDS, remaining * 0.25)
    return {"deadline": max(MIN_DEADLINE_SECONDS, remaining - margin), "grace": margin * IN_FLIGHT_SHARE_OF_MARGIN}
