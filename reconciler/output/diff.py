"""``plan --diff``: where two values differ, by JSON path or line number, never what they hold.

Invariant: nothing taken from a secret value reaches the output. A JSON object's keys are part of
the value (``{"hunter2": true}``), so a key is shown by name only when the manifest itself names it
(a field in one of the mapping's json-step paths: trusted config); any other key is shown by its
position in its object, ``[{key N}]``, counted from 1 over the current value's keys in order, then
the keys only the new value has. Array indices are structure and stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from .._types import SecretValue

MAX_LISTED = 50  # paths or line numbers listed per item
_MISSING = object()  # a key one side does not have: differs from any value
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # shown as .name; any other trusted key as ['...']


def json_path_fields(steps: Iterable[Any]) -> frozenset[str]:
    """The member names the json / json_file steps' paths name: the keys ``--diff`` may show.

    A path that holds a ``${VAR}`` or does not parse names nothing (it is shown by position).
    """
    from .._transform._jsonpath import SelectorKind, parse_jsonpath

    names: set[str] = set()
    for step in steps:
        for path, _ in getattr(step, "assignments", ()):
            if not isinstance(path, str) or "${" in path:
                continue
            try:
                parsed = parse_jsonpath(path)
            except ValueError:
                continue
            names.update(s.name for s in parsed.segments if s.kind is SelectorKind.NAME)
    return frozenset(names)


def describe_difference(current: SecretValue | None, wanted: SecretValue,
                        named: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Where ``current`` and ``wanted`` differ. ``named``: the keys that may be shown by name, the
    mapping's ``json_path_fields`` (none by default: every key is shown by its position)."""
    if current is None:
        return {"kind": "new", "paths": []}
    if current.binary is not None or wanted.binary is not None:
        return {"kind": "binary", "paths": [], "differs": current.binary != wanted.binary}
    a, b = current.string or "", wanted.string or ""
    ja, jb = _json_object(a), _json_object(b)
    if ja is not None and jb is not None:
        paths, count = _json_paths(ja, jb, named)
        return {"kind": "json", "paths": paths, "count": count}
    la, lb = a.split("\n"), b.split("\n")
    lines = [i + 1 for i in range(max(len(la), len(lb))) if (la[i] if i < len(la) else None) !=
             (lb[i] if i < len(lb) else None)]
    return {"kind": "lines", "lines": lines[:MAX_LISTED], "count": len(lines)}


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        v = json.loads(text)
    except (ValueError, RecursionError):  # nested past the parser's depth: compared as lines
        return None
    return v if isinstance(v, dict) else None


def _key(key: str, position: int, trusted: frozenset[str]) -> str:
    if key not in trusted:
        return f"[{{key {position}}}]"
    if _IDENTIFIER.fullmatch(key):
        return f".{key}"
    return "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _json_paths(a: Any, b: Any, trusted: frozenset[str]) -> tuple[list[str], int]:
    """(the first MAX_LISTED differing paths, how many differ). Iterative: a value nested deeper
    than the stack is fine; each node is visited once."""
    out: list[str] = []
    count = 0
    stack: list[tuple[Any, Any, str]] = [(a, b, "$")]
    while stack:
        x, y, path = stack.pop()
        children: list[tuple[Any, Any, str]] = []
        if isinstance(x, dict) and isinstance(y, dict):
            children = [(x.get(k, _MISSING), y.get(k, _MISSING), path + _key(k, position, trusted))
                        for position, k in enumerate([*x, *(k for k in y if k not in x)], start=1)]
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            children = [(p, q, f"{path}[{i}]") for i, (p, q) in enumerate(zip(x, y, strict=True))]
        elif x != y or type(x) is not type(y):
            count += 1
            if len(out) < MAX_LISTED:
                out.append(path)
        stack.extend(reversed(children))  # document order
    return out, count
