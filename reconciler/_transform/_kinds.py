"""The closed sets of the transform engine and the one protocol every step implements."""

from __future__ import annotations

import enum
from typing import Protocol, runtime_checkable


class StepKind(enum.StrEnum):
    """How a step is written in the manifest (SPEC, Manifest: ``transform``)."""

    SED = "sed"
    SED_FILE = "sed_file"
    JSON = "json"
    JSON_FILE = "json_file"

    @property
    def mode(self) -> TransformMode:
        return TransformMode.SED if self in (StepKind.SED, StepKind.SED_FILE) else TransformMode.JSON


class TransformMode(enum.StrEnum):
    """The ``TransformMode`` metric dimension and report field: which engines a transform uses."""

    NONE = "none"
    SED = "sed"
    JSON = "json"
    MIXED = "mixed"


@runtime_checkable
class Step(Protocol):
    """A compiled step. ``apply`` raises TransformError (never carrying the value) and gives up,
    with that error, once ``time.monotonic()`` passes ``deadline``."""

    @property
    def mode(self) -> TransformMode: ...

    @property
    def rule_count(self) -> int: ...

    def apply(self, value: str, deadline: float) -> str: ...
