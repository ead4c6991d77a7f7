"""``${VAR}`` expansion. ``$$`` is a literal ``$``; an undefined variable is an error, never ""."""

from __future__ import annotations

import re
from collections.abc import Mapping

BUILTINS = ("REGION", "SOURCE_REGION", "SECRET_NAME", "DEST_SECRET_NAME", "ACCOUNT_ID", "SOURCE_ACCOUNT_ID")
_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?")


class UndefinedVariable(KeyError):
    def __init__(self, name: str, defined: Mapping[str, str]) -> None:
        super().__init__(name)
        self.name = name
        self.defined = sorted(defined)

    def __str__(self) -> str:
        return f"undefined variable ${{{self.name}}} (defined: {', '.join(self.defined) or 'none'})"


def references(text: str) -> list[str]:
    """Names referenced by ``text``; a malformed ``${...}`` is reported as its raw text."""
    out = []
    for m in _REF.finditer(text):
        if m.group(0) == "$$":
            continue
        out.append(m.group(1) if m.group(1) else m.group(0))
    return out


def expand(text: str, values: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if name is None or name not in values:
            raise UndefinedVariable(name or m.group(0), values)
        return values[name]

    return _REF.sub(sub, text) if "$" in text else text
