"""``reconciler --version``: the tool's version and the transform engine's (SPEC "Sync rule": the
engine version is part of every wanted token, so two tools with the same engine version write the
same value for the same input)."""

from __future__ import annotations

from . import __version__
from ._transform import TRANSFORM_ENGINE_VERSION


def version_line() -> str:
    return f"reconciler {__version__} (transform engine {TRANSFORM_ENGINE_VERSION})"
