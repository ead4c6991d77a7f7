"""``json`` steps: set JSONPath locations in a JSON-object secret, keeping its layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from jsonpath_ng import Child, Fields, Root
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as jsonpath_parse

from .._exceptions import TransformError
from ._errors import JsonPathSyntaxError


@dataclass(frozen=True)
class JsonSet:
    """One ``json`` step: every path -> its new value, applied in the order written."""

    assignments: tuple[tuple[str, Any, Any], ...]  # (path text, compiled path, value)

    def apply(self, text: str) -> str:
        try:
            data = json.loads(text)
        except ValueError:
            raise TransformError("json step: the value is not JSON") from None
        if not isinstance(data, dict):
            raise TransformError("json step: the value is not a JSON object")
        for path_text, path, value in self.assignments:
            if path.find(data):
                path.update(data, value)
            elif not _create(data, path, value):
                raise TransformError(f"json step: {path_text} matches nothing and its parent does not exist")
        return _dump_like(text, data)


def compile_json_step(spec: dict[str, Any]) -> JsonSet:
    out = []
    for path_text, value in spec.items():
        try:
            path = jsonpath_parse(path_text)
        except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # the parser raises bare Exception too
            raise JsonPathSyntaxError(f"invalid JSONPath {path_text!r}: {exc}") from None
        out.append((path_text, path, value))
    return JsonSet(tuple(out))


def _create(data: Any, path: Any, value: Any) -> bool:
    """Create ``path`` when it is parent.field and the parent exists; True if anything was set."""
    if not (isinstance(path, Child) and isinstance(path.right, Fields)) or len(path.right.fields) != 1:
        return False
    parents = [m.value for m in path.left.find(data)] if not isinstance(path.left, Root) else [data]
    done = False
    for parent in parents:
        if isinstance(parent, dict):
            parent[path.right.fields[0]] = value
            done = True
    return done


def _dump_like(original: str, data: Any) -> str:
    """Serialise ``data`` in the layout ``original`` used: indent, separators, ASCII escaping."""
    ensure_ascii = original.isascii() and "\\u" in original
    stripped = original.strip()
    if "\n" in stripped:
        second = stripped.split("\n", 1)[1]
        indent_chars = second[: len(second) - len(second.lstrip())]
        indent: int | str = len(indent_chars) if set(indent_chars) <= {" "} else indent_chars
        out = json.dumps(data, indent=indent or 2, ensure_ascii=ensure_ascii)
    else:
        compact = ", " not in stripped and ": " not in stripped
        separators = (",", ":") if compact else (", ", ": ")
        out = json.dumps(data, separators=separators, ensure_ascii=ensure_ascii)
    # keep a trailing newline if the source had one
    return out + original[len(original.rstrip()) :]
