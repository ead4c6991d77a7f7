"""Transform engine: sed, sed_file, json and json_file steps, applied in order to one secret value."""

from typing import Any

# Bumps whenever any transform's output for the same input could change (it is part of every wanted
# token, so a bump rewrites transformed destinations once). Defined in _constants, shared with _pipeline.
from .._constants import TRANSFORM_ENGINE_VERSION
from ._errors import JsonPathSyntaxError, JsonValueError, SedSyntaxError, TransformSpecError
from ._kinds import Step, StepKind, TransformMode
from ._pipeline import COPY, IDENTITY, StepSpec, Transform, build_transform

__all__ = ["COPY", "IDENTITY", "TRANSFORM_ENGINE_VERSION",
           "JsonPathSyntaxError", "JsonValueError", "SedSyntaxError", "Step", "StepKind",
           "StepSpec", "Transform", "TransformMode", "TransformSpecError", "build_transform",
           "parse_script", "parse_seed_transformations"]


def parse_script(text: str, *, quote: bool = True) -> Any:
    """Parse sed rules (see ``_sed.parse_script``); imported lazily with the regex engine."""
    from ._sed import parse_script as parse

    return parse(text, quote=quote)


def parse_seed_transformations(text: str, label: str) -> tuple[tuple[str, Any], ...]:
    """Read the original replicator's transformation file (see ``_json.parse_seed_transformations``)
    into assignments for ``StepSpec(StepKind.JSON_FILE, label, assignments=...)``."""
    from ._json import parse_seed_transformations as parse

    return parse(text, label)
