"""``plan --diff``: where two values differ, by JSON path or line number, never what they hold."""

from __future__ import annotations

import json
from typing import Any

from .._types import SecretValue

MAX_LISTED = 50  # paths or line numbers listed per item


def describe_difference(current: SecretValue | None, wanted: SecretValue) -> dict[str, Any]:
    if current is None:
        return {"kind": "new", "paths": []}
    if current.binary is not None or wanted.binary is not None:
        return {"kind": "binary", "paths": [], "differs": current.binary != wanted.binary}
    a, b = current.string or "", wanted.string or ""
    ja, jb = _json_object(a), _json_object(b)
    if ja is not None and jb is not None:
        paths: list[str] = []
        _json_paths(ja, jb, "$", paths)
        return {"kind": "json", "paths": paths[:MAX_LISTED], "count": len(paths)}
    la, lb = a.split("\n"), b.split("\n")
    lines = [i + 1 for i in range(max(len(la), len(lb))) if (la[i] if i < len(la) else None) !=
             (lb[i] if i < len(lb) else None)]
    return {"kind": "lines", "lines": lines[:MAX_LISTED], "count": len(lines)}


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        v = json.loads(text)
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _json_paths(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append(f"{path}.{k}")
            else:
                _json_paths(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _json_paths(x, y, f"{path}[{i}]", out)
    elif a != b or type(a) is not type(b):
        out.append(path)
