"""A mapping's transform: its steps with variables resolved for one destination."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._constants import MAX_SECRET_SIZE, TRANSFORM_ENGINE_VERSION, TRANSFORM_TIMEOUT_SECONDS
from .._exceptions import TransformError
from ._errors import JsonPathSyntaxError, SedSyntaxError

if TYPE_CHECKING:
    from ._json import JsonSet
    from ._sed import SedScript


@dataclass(frozen=True)
class StepSpec:
    """A step as written: ``kind`` is sed | sed_file | json; ``text`` the rule(s) after reading files."""

    kind: str
    label: str  # for errors: "transform[1] (sed_file rules/x.sed)"
    rules: tuple[str, ...] = ()
    assignments: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Transform:
    """Compiled steps plus their fingerprint (what the version token hashes in)."""

    steps: tuple[tuple[str, Any], ...]  # (label, SedScript | JsonSet)
    fingerprint: str

    @property
    def identity(self) -> bool:
        return not self.steps

    @property
    def mode(self) -> str:
        """TransformMode metric dimension: none, sed, json or mixed."""
        kinds = {"json" if hasattr(s, "assignments") else "sed" for _, s in self.steps}
        return "none" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"

    @property
    def rule_count(self) -> int:
        return sum(len(s.commands) if hasattr(s, "commands") else len(s.assignments) for _, s in self.steps)

    def apply(self, value: str, *, timeout: float = TRANSFORM_TIMEOUT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        for label, step in self.steps:
            try:
                value = step.apply(value, deadline) if hasattr(step, "commands") else step.apply(value)
            except TransformError as exc:
                raise TransformError(f"{label}: {exc.message}") from None
        if len(value.encode("utf-8")) > MAX_SECRET_SIZE:
            raise TransformError(f"transform output is over the {MAX_SECRET_SIZE}-byte secret size limit")
        return value


IDENTITY = Transform((), hashlib.sha256(b"identity").hexdigest())


def build_transform(steps: tuple[StepSpec, ...], expand: Any) -> Transform:
    """Resolve variables with ``expand(text) -> text`` and compile. Raises ValueError subclasses."""
    if not steps:
        return IDENTITY
    from ._json import compile_json_step  # the engines load only for manifests that use them
    from ._sed import parse_script

    compiled: list[tuple[str, SedScript | JsonSet]] = []
    canonical: list[Any] = [TRANSFORM_ENGINE_VERSION]
    for step in steps:
        try:
            if step.kind == "json":
                resolved = {path: _expand_json(value, expand) for path, value in step.assignments}
                compiled.append((step.label, compile_json_step(resolved)))
                canonical.append(["json", list(resolved.items())])
            else:
                rules = [expand(rule) for rule in step.rules]
                compiled.append((step.label, parse_script("\n".join(rules))))
                canonical.append(["sed", rules])
        except (SedSyntaxError, JsonPathSyntaxError) as exc:
            raise type(exc)(f"{step.label}: {exc}") from None
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return Transform(tuple(compiled), digest)


def _expand_json(value: Any, expand: Any) -> Any:
    if isinstance(value, str):
        return expand(value)
    if isinstance(value, list):
        return [_expand_json(v, expand) for v in value]
    if isinstance(value, dict):
        return {k: _expand_json(v, expand) for k, v in value.items()}
    return value
