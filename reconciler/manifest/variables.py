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

import functools
import re
from collections.abc import Iterable, Mapping, MutableMapping, Set

BUILTINS = ("REGION", "SOURCE_REGION", "SECRET_NAME", "DEST_SECRET_NAME", "ACCOUNT_ID", "SOURCE_ACCOUNT_ID")
_BUILTIN_SET = frozenset(BUILTINS)
MAX_VARIABLE_LENGTH = 64 * 1024  # characters of one variable's value after expansion
MAX_EXPANDED_LENGTH = 1024 * 1024  # characters of any text (a rule, a name, a json value) after expansion
MAX_RESOLUTION_STEPS = 100_000  # variable values built while loading one manifest (see Budget)
_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{[^}]*\}?")


class VariableError(ValueError):
    """A variable cannot be expanded. ``str()`` is the whole message, naming the variable chain."""


class UndefinedVariable(VariableError, KeyError):
    def __init__(self, name: str, defined: Mapping[str, str], chain: tuple[str, ...] = ()) -> None:
        super().__init__(name)
        self.name = name
        self.defined = sorted(defined)
        self.chain = chain  # the variables whose values led to the reference, outermost first

    def with_defined(self, names: Iterable[str]) -> UndefinedVariable:
        """The same error listing ``names`` as defined (a caller that knows the whole scope)."""
        return UndefinedVariable(self.name, dict.fromkeys(names, ""), self.chain)

    def __str__(self) -> str:
        via = "".join(f"${{{c}}} uses " for c in self.chain)
        return f"{via}undefined variable ${{{self.name}}} (defined: {', '.join(self.defined) or 'none'})"


class VariableCycle(VariableError):
    def __init__(self, chain: tuple[str, ...]) -> None:
        # one message per cycle wherever it was entered: start it at its first name in sort order
        ring = chain[:-1]
        start = ring.index(min(ring))
        chain = (*ring[start:], *ring[:start], ring[start])
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


class Budget:
    """Work allowed for resolving variables across one manifest (a load stays bounded in time).

    Overrides at mapping and destination level make some variables resolve once per scope; a
    manifest that makes that quadratic (thousands of variables times thousands of overrides) is
    refused with :class:`VariableBudgetExceeded` instead of taking minutes.
    """

    def __init__(self, steps: int = MAX_RESOLUTION_STEPS) -> None:
        self.left = steps
        self.steps = steps

    def spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise VariableBudgetExceeded(self.steps)


class VariableBudgetExceeded(VariableError):
    def __init__(self, steps: int) -> None:
        super().__init__(steps)
        self.steps = steps

    def __str__(self) -> str:
        return (f"resolving the variables takes over {self.steps} steps (many variables overridden in many "
                "mappings or destinations); define them at fewer levels")


def resolve(variables: Mapping[str, str], *, roots: Iterable[str] | None = None,
            done: MutableMapping[str, str] | None = None, limit: int = MAX_VARIABLE_LENGTH,
            budget: Budget | None = None) -> MutableMapping[str, str]:
    """Expand custom variables inside custom variables, leaving ``${BUILTIN}`` and ``$$`` in place.

    ``roots`` (default: every variable) are resolved with everything they use, into ``done``, which
    may hold values resolved before (they are reused, not recomputed); ``done`` is returned.
    Iterative depth-first walk (no recursion: a chain of thousands of variables is fine). Each value
    is built only after its length is known to be within ``limit``. Raises :class:`UndefinedVariable`
    (its ``chain`` names the variables that led to it), :class:`VariableCycle`,
    :class:`VariableTooLong` or :class:`VariableBudgetExceeded`.
    """
    done = {} if done is None else done
    for start in variables if roots is None else roots:
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
                if budget is not None:
                    budget.spend(1 + len(variables[name]) // 1024)
                done[name] = _fill(name, variables[name], done, limit)
                on_path.discard(name)
                path.pop()
                continue
            ref = todo.pop()
            if ref in on_path:
                names = [n for n, _ in path]
                raise VariableCycle((*names[names.index(ref):], ref))
            if budget is not None:
                budget.spend(1)
            path.append((ref, _custom_refs(ref, variables, path)))
            on_path.add(ref)
    return done


def tainted(variables: Mapping[str, str], names: Set[str]) -> set[str]:
    """The variables whose value uses (transitively) any of ``names``, and ``names`` themselves.

    An undefined reference counts too: an override may define it. Iterative, linear in the graph.
    """
    users: dict[str, list[str]] = {}
    for var, value in variables.items():
        for ref in references(value):
            users.setdefault(ref, []).append(var)
    out = set(names)
    todo = list(names)
    while todo:
        for user in users.get(todo.pop(), ()):
            if user not in out:
                out.add(user)
                todo.append(user)
    return out


def _custom_refs(name: str, variables: Mapping[str, str], path: list[tuple[str, list[str]]]) -> list[str]:
    """The custom variables ``name``'s value uses; ``path`` (the chain that led here) is for errors."""
    out = list(_custom_references(variables[name]))
    for ref in out:
        if ref not in variables:  # also a malformed ``${...}``, reported as its raw text
            chain = (*(n for n, _ in path), name)
            raise UndefinedVariable(ref, {**variables, **dict.fromkeys(BUILTINS, "")}, chain)
    return out


@functools.lru_cache(maxsize=4096)
def _custom_references(value: str) -> tuple[str, ...]:
    """References in ``value`` that are not built-ins (cached: a value is met once per scope)."""
    return tuple(ref for ref in references(value) if ref not in _BUILTIN_SET)


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
