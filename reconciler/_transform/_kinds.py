"""The closed sets of the transform engine and the one protocol every step implements."""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class _StrEnum(str, enum.Enum):
    """A str whose ``str()`` and ``format()`` are its value on every Python (enum.StrEnum is 3.11+;
    the package supports 3.10), so it serialises, logs and compares as the plain name."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class StepKind(_StrEnum):
    """How a step is written in the manifest (SPEC, Manifest: ``transform``)."""

    SED = "sed"
    SED_FILE = "sed_file"
    JSON = "json"
    JSON_FILE = "json_file"

    @property
    def mode(self) -> TransformMode:
        return TransformMode.SED if self in (StepKind.SED, StepKind.SED_FILE) else TransformMode.JSON


class TransformMode(_StrEnum):
    """The ``TransformMode`` metric dimension and report field: which engines a transform uses."""

    NONE = "none"
    SED = "sed"
    JSON = "json"
    MIXED = "mixed"


@runtime_checkable
class Step(Protocol):
    """A compiled step. ``apply`` raises TransformError (never carrying the value) and gives up,
    with that error, once ``time.thread_time()`` (this thread's CPU time) passes ``deadline``."""

    @property
    def mode(self) -> TransformMode: ...

    @property
    def rule_count(self) -> int: ...

    def apply(self, value: str, deadline: float) -> str: ...
