"""Transform engine: sed, sed_file and json steps, applied in order to one secret value."""

from typing import Any

from ._errors import JsonPathSyntaxError, SedSyntaxError
from ._pipeline import IDENTITY, StepSpec, Transform, build_transform

__all__ = ["IDENTITY", "JsonPathSyntaxError", "SedSyntaxError", "StepSpec", "Transform", "build_transform",
           "parse_script"]


def parse_script(text: str) -> Any:
    """Parse sed rules (see ``_sed.parse_script``); imported lazily with the regex engine."""
    from ._sed import parse_script as parse

    return parse(text)
