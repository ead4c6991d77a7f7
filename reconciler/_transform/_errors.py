"""Syntax errors of transform steps, raised while a manifest is validated."""


class SedSyntaxError(ValueError):
    """A rule outside the supported sed language. The message says where and why."""


class JsonPathSyntaxError(ValueError):
    """A JSONPath jsonpath-ng cannot parse."""
