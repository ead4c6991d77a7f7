"""Errors of transform steps raised while a manifest is validated (all ValueError, all load errors).

Messages name the step, the rule or the JSONPath, never a secret value and never the content of a
rules file beyond the rule or path itself.
"""


class TransformSpecError(ValueError):
    """A transform step that cannot be compiled."""


class SedSyntaxError(TransformSpecError):
    """A rule outside the supported sed language. The message says where and why."""


class JsonPathSyntaxError(TransformSpecError):
    """A JSONPath outside the closed subset, or a malformed ``json_file``."""


class JsonValueError(JsonPathSyntaxError):
    """A ``json`` value that is not JSON (a date, binary, set, NaN, infinity, a non-string key...).

    A subclass of JsonPathSyntaxError so every handler written for json step errors catches it.
    """
