"""A mapping's transform: its steps with variables resolved for one destination."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._constants import MAX_SECRET_SIZE, TRANSFORM_ENGINE_VERSION, TRANSFORM_TIMEOUT_SECONDS
from .._exceptions import TransformError
from ._errors import TransformSpecError
from ._kinds import Step, StepKind, TransformMode

if TYPE_CHECKING:
    from ._sed import SedScript

StepKindName = Literal["sed", "sed_file", "json", "json_file"]


@dataclass(frozen=True)
class StepSpec:
    """A step as written. ``rules``: the sed rule(s), a file's text for sed_file. ``assignments``:
    ``(JSONPath, value)`` pairs for json and json_file (see ``parse_seed_transformations``).

    ``kind`` may be given as its plain name; it is a StepKind after construction.
    """

    kind: StepKind | StepKindName
    label: str  # for errors: "transform[1] (sed_file rules/x.sed)"
    rules: tuple[str, ...] = ()
    assignments: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StepKind(self.kind))  # ValueError for an unknown kind


@dataclass(frozen=True)
class SedStep:
    """The Step protocol over a sed script (which keeps only its commands)."""

    script: SedScript

    @property
    def mode(self) -> TransformMode:
        return TransformMode.SED

    @property
    def rule_count(self) -> int:
        return len(self.script.commands)

    def apply(self, value: str, deadline: float) -> str:
        return self.script.apply(value, deadline)


@dataclass(frozen=True)
class Transform:
    """Compiled steps plus their fingerprint (what the version token hashes in)."""

    steps: tuple[tuple[str, Step], ...]  # (label, step)
    fingerprint: str

    @property
    def is_copy(self) -> bool:
        """No steps: the destination is a byte-for-byte copy of the source."""
        return not self.steps

    @property
    def identity(self) -> bool:
        """Deprecated alias of ``is_copy`` (the name clashed with ``Identity``); it goes once the
        engine reads ``is_copy``. No runtime warning: it would fire once per transformed item."""
        return self.is_copy

    @property
    def mode(self) -> TransformMode:
        """TransformMode metric dimension: none, sed, json or mixed."""
        modes = {step.mode for _, step in self.steps}
        if not modes:
            return TransformMode.NONE
        return modes.pop() if len(modes) == 1 else TransformMode.MIXED

    @property
    def rule_count(self) -> int:
        return sum(step.rule_count for _, step in self.steps)

    def apply(self, value: str, *, timeout: float = TRANSFORM_TIMEOUT_SECONDS,
              clock: Callable[[], float] | None = None) -> str:
        """Run every step under one deadline, ``timeout`` seconds from now on ``clock`` (default
        ``time.thread_time``: this thread's CPU time, the clock every step reads, looked up per
        call so a test can fake it)."""
        deadline = (clock or time.thread_time)() + timeout
        for label, step in self.steps:
            try:
                value = step.apply(value, deadline)
            except TransformError as exc:
                raise TransformError(f"{label}: {exc.message}") from None
        if len(value.encode("utf-8")) > MAX_SECRET_SIZE:
            raise TransformError(f"transform output is over the {MAX_SECRET_SIZE}-byte secret size limit")
        return value


COPY = Transform((), hashlib.sha256(b"identity").hexdigest())
IDENTITY = COPY  # the old name, kept while other modules move to COPY


def build_transform(steps: tuple[StepSpec, ...], expand: Callable[..., str]) -> Transform:
    """Resolve variables with ``expand(text) -> text`` and compile.

    Raises TransformSpecError subclasses (SedSyntaxError, JsonPathSyntaxError, JsonValueError),
    prefixed with the step's label, and whatever ``expand`` raises for an undefined variable.
    """
    if not steps:
        return COPY
    # The engines load only for manifests that use them.
    from ._json import compile_json_step
    from ._sed import parse_script

    compiled: list[tuple[str, Step]] = []
    canonical: list[Any] = [TRANSFORM_ENGINE_VERSION]
    for step in steps:
        kind = StepKind(step.kind)
        try:
            if kind.mode is TransformMode.JSON:
                json_step = compile_json_step(step.assignments, expand)
                compiled.append((step.label, json_step))
                canonical.append(["json", [a.canonical() for a in json_step.assignments]])
            else:
                rules = [expand(rule) for rule in step.rules]
                # a rule file's text is never quoted in errors: it may not be a sed script at all
                script = parse_script("\n".join(rules), quote=kind is not StepKind.SED_FILE)
                compiled.append((step.label, SedStep(script)))
                canonical.append(["sed", rules])
        except TransformSpecError as exc:
            raise type(exc)(f"{step.label}: {exc}") from None
    # sort_keys and one separator style: the same steps always hash the same, on any machine.
    digest = hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return Transform(tuple(compiled), digest)
