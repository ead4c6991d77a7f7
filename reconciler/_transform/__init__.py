"""Transform engine: sed, sed_file and json steps, applied in order to one secret value."""

from ._json import JsonPathSyntaxError
from ._pipeline import IDENTITY, StepSpec, Transform, build_transform
from ._sed import SedSyntaxError, parse_script

__all__ = ["IDENTITY", "JsonPathSyntaxError", "SedSyntaxError", "StepSpec", "Transform", "build_transform",
           "parse_script"]
