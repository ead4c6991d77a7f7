"""``${VAR}`` expansion. ``$$`` is a literal ``$``; an undefined variable is an error, never "".

Two stages (SPEC "Transforms": a variable's value may use other variables, expanded at load):

- at load, :func:`resolve` expands custom variables inside custom variables. ``${BUILTIN}``
  references and ``$$`` escapes are left in place, so a resolved value is still a template: the
  built-ins (the region, the account, the secret's name) are known only at run time;
- at run time, :func:`expand` substitutes a template. A custom variable's (resolved) value is itself
  expanded once more, which fills in the built-ins it uses; a built-in's value is always literal.

Both stages are bounded (a value may not grow past :data:`MAX_VARIABLE_LENGTH`, any expanded text
past :data:`MAX_EXPANDED_LENGTH`) and iterative, so ``A: ${B}${B}``, ``B: ${C}${C}``, ... is refused
before the string is built, and a long chain cannot exhaust the stack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

BUILTINS = ("REGION", "SOURCE_REGION", "SECRET_NAME", "DEST_SECRET_NAME", "ACCOUNT_ID", "SOURCE_ACCOUNT_ID")
_BUILTIN_SET = frozenset(BUILTINS)
MAX_VARIABLE_LENGTH = 64 * 1024  # characters of one variable's value after expansion
MAX_EXPANDED_LENGTH = 1024 * 1024  # characters of any text (a rule, a name, a json value) after expansion
_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?")


class VariableError(ValueError):
    """A variable cannot be expanded. ``str()`` is the whole message, naming the variable chain."""


class UndefinedVariable(VariableError, KeyError):
    def __init__(self, name: str, defined: Mapping[str, str], chain: tuple[str, ...] = ()) -> None:
        super().__init__(name)
        self.name = name
        self.defined = sorted(defined)
        self.chain = chain  # the variables whose values led to the reference, outermost first

    def __str__(self) -> str:
        via = "".join(f"${{{c}}} uses " for c in self.chain)
        return f"{via}undefined variable ${{{self.name}}} (defined: {', '.join(self.defined) or 'none'})"


class VariableCycle(VariableError):
    def __init__(self, chain: tuple[str, ...]) -> None:
        super().__init__(" -> ".join(f"${{{c}}}" for c in chain))
        self.chain = chain

    def __str__(self) -> str:
        return "variables refer to each other in a cycle: " + " -> ".join(f"${{{c}}}" for c in self.chain)


class VariableTooLong(VariableError):
    def __init__(self, what: str, limit: int) -> None:
        super().__init__(what)
        self.what = what
        self.limit = limit

    def __str__(self) -> str:
        return f"{self.what} would be over {self.limit} characters after expanding variables"


def references(text: str) -> list[str]:
    """Names referenced by ``text``; a malformed ``${...}`` is reported as its raw text."""
    out = []
    for m in _REF.finditer(text):
        if m.group(0) == "$$":
            continue
        out.append(m.group(1) if m.group(1) else m.group(0))
    return out


def closure(names: list[str] | tuple[str, ...] | set[str], values: Mapping[str, str]) -> tuple[str, ...]:
    """``names`` plus every variable their values use, transitively (a cache key's inputs)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name not in _BUILTIN_SET and name in values:
            todo.extend(references(values[name]))
    return tuple(sorted(seen))


def expand(text: str, values: Mapping[str, str], *, limit: int = MAX_EXPANDED_LENGTH) -> str:
    """Substitute ``${NAME}`` in ``text``. Custom values are templates (see the module docstring).

    Raises :class:`UndefinedVariable` or :class:`VariableTooLong` (both ``ValueError``).
    """
    if "$" not in text:
        return text
    return _substitute(text, values, limit, nested=False)


def _substitute(text: str, values: Mapping[str, str], limit: int, *, nested: bool) -> str:
    out: list[str] = []
    size = 0
    pos = 0
    for m in _REF.finditer(text):
        piece = text[pos:m.start()]
        pos = m.end()
        if m.group(0) == "$$":
            piece += "$"
        else:
            name = m.group(1)
            if name is None or name not in values:
                raise UndefinedVariable(name or m.group(0), values)
            value = values[name]
            if name not in _BUILTIN_SET and "$" in value:
                if nested:  # resolve() leaves no custom reference in a custom value
                    raise UndefinedVariable(name, values)
                value = _substitute(value, values, limit, nested=True)
            piece += value
        size += len(piece)
        if size > limit:
            raise VariableTooLong("the text", limit)
        out.append(piece)
    out.append(text[pos:])
    if size + len(text) - pos > limit:
        raise VariableTooLong("the text", limit)
    return "".join(out)


def resolve(variables: Mapping[str, str], *, limit: int = MAX_VARIABLE_LENGTH) -> dict[str, str]:
    """Expand custom variables inside custom variables, leaving ``${BUILTIN}`` and ``$$`` in place.

    Iterative depth-first walk (no recursion: a chain of thousands of variables is fine). Each value
    is built only after its length is known to be within ``limit``. Raises :class:`UndefinedVariable`
    (its ``chain`` names the variables that led to it), :class:`VariableCycle` or
    :class:`VariableTooLong`.
    """
    done: dict[str, str] = {}
    for start in variables:
        if start in done:
            continue
        # the variables being resolved, each using the next, with the references still to visit
        path: list[tuple[str, list[str]]] = [(start, _custom_refs(start, variables, []))]
        on_path = {start}
        while path:
            name, todo = path[-1]
            while todo and todo[-1] in done:
                todo.pop()
            if not todo:
                done[name] = _fill(name, variables[name], done, limit)
                on_path.discard(name)
                path.pop()
                continue
            ref = todo.pop()
            if ref in on_path:
                names = [n for n, _ in path]
                raise VariableCycle((*names[names.index(ref):], ref))
            path.append((ref, _custom_refs(ref, variables, path)))
            on_path.add(ref)
    return done


def _custom_refs(name: str, variables: Mapping[str, str], path: list[tuple[str, list[str]]]) -> list[str]:
    """The custom variables ``name``'s value uses; ``path`` (the chain that led here) is for errors."""
    out = []
    for ref in references(variables[name]):
        if ref in _BUILTIN_SET:
            continue
        if ref not in variables:  # also a malformed ``${...}``, reported as its raw text
            chain = (*(n for n, _ in path), name)
            raise UndefinedVariable(ref, {**variables, **dict.fromkeys(BUILTINS, "")}, chain)
        out.append(ref)
    return out


def _fill(name: str, value: str, done: Mapping[str, str], limit: int) -> str:
    """``value`` with its custom references replaced by their resolved values (all in ``done``)."""
    size = len(value)
    for m in _REF.finditer(value):
        if m.group(1) and m.group(1) not in _BUILTIN_SET:
            size += len(done[m.group(1)]) - len(m.group(0))
    if size > limit:
        raise VariableTooLong(f"variable ${{{name}}}", limit)

    def sub(m: re.Match[str]) -> str:
        ref = m.group(1)
        return done[ref] if ref and ref not in _BUILTIN_SET else m.group(0)

    return _REF.sub(sub, value) if "$" in value else value
