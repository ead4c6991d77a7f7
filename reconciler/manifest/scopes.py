"""Each destination's custom variables, resolved at load over its merged scope (bounded)."""

from __future__ import annotations

from typing import Any

from . import variables as _variables
from .rules import Problem
from .schema import DestinationEndpoint, ManifestModel, MappingModel
from .yaml import NO_MARKS, Marks, locate, parse_field


class _Layered(dict[str, str]):
    """``own`` over a read-only ``base``: a ChainMap of two, at dict speed for the common lookups."""

    def __init__(self, own: dict[str, str], base: dict[str, str]) -> None:
        super().__init__(own)
        self.base = base

    def __missing__(self, key: str) -> str:
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base



class VariableScopes:
    """Each destination's variables (manifest < defaults.destination < mapping < destination), resolved.

    Resolution is over the merged scope, so a mapping that overrides ``ENV`` also changes a manifest
    variable ``HOST: db.${ENV}.internal`` for its destinations. A destination carries the variables its
    name and its mapping's steps use (resolved values hold no custom reference, so no more is needed).

    Cost: a manifest variable that no override can reach ("untainted") is resolved once for all;
    only the tainted ones a destination uses are resolved again in its scope, and destinations with
    the same overrides and uses share one resolution. A shared budget bounds the rest.
    """

    MAX_TOP_LEVEL_MESSAGES = 20  # a broken variable used by many others: enough to find it

    def __init__(self, model: ManifestModel, origin: str, problems: list[str], marks: Marks = NO_MARKS) -> None:
        self._origin = origin
        self._problems = problems
        self._marks = marks
        merged = {**model.variables, **model.defaults.destination.variables}
        self._base = {k: v for k, v in merged.items() if k not in _variables.BUILTINS}
        for where, level in (("variables", model.variables),
                             ("defaults.destination.variables", model.defaults.destination.variables)):
            for name in level:
                if name in _variables.BUILTINS:
                    where_ = locate(origin, marks, (*parse_field(where), name))
                    problems.append(f"{where_}: {name} is a built-in variable and cannot be redefined")
        overridden = {k for m in model.mappings for k in m.variables}
        for m in model.mappings:
            for d in [*(m.destinations or ()), *([m.destination] if m.destination else ())]:
                overridden.update(d.variables)
        self._tainted = _variables.tainted(self._base, overridden)
        self._budget = _variables.Budget()
        self._resolved: dict[str, str] = {}  # untainted manifest variables: the same in every scope
        self._reported: set[str] = set()
        self._cache: dict[Any, tuple[tuple[str, str], ...] | _variables.VariableError] = {}
        for name in self._base:
            if name in self._tainted or name in self._resolved:
                continue
            try:
                _variables.resolve(self._base, roots=(name,), done=self._resolved, budget=self._budget)
            except _variables.VariableError as exc:
                self._top_level(str(exc))

    def _top_level(self, message: str) -> None:
        if message in self._reported:
            return
        self._reported.add(message)
        if len(self._reported) <= self.MAX_TOP_LEVEL_MESSAGES:
            self._problems.append(f"{locate(self._origin, self._marks, ('variables',))}: {message}")

    def defined(self, m: MappingModel, d: DestinationEndpoint) -> list[str]:
        """The custom variables in a destination's scope (for "undefined variable" messages)."""
        return [*self._base, *m.variables, *d.variables]

    def resolve(self, m: MappingModel, d: DestinationEndpoint, fname: str, used: set[str],
                problem: Problem) -> tuple[tuple[str, str], ...] | None:
        """The used variables, resolved; None when they cannot be (the reason is reported)."""
        for name in d.variables:
            if name in _variables.BUILTINS:
                problem(f"{fname}.variables", f"{name} is a built-in variable and cannot be redefined")
        key = (tuple(m.variables.items()), tuple(d.variables.items()), frozenset(used))
        hit = self._cache.get(key)
        if hit is None:
            overrides = {k: v for k, v in {**m.variables, **d.variables}.items() if k not in _variables.BUILTINS}
            scope = _Layered(overrides, self._base)
            done = _Layered({}, self._resolved)
            # every override is checked, used or not; the used manifest variables with it
            roots = [r for r in (*overrides, *sorted(used)) if r in scope]
            try:
                _variables.resolve(scope, roots=roots, done=done, budget=self._budget)
                hit = tuple(sorted((k, done[k]) for k in used if k in done))
            except _variables.VariableError as exc:
                hit = exc
            self._cache[key] = hit
        if isinstance(hit, _variables.VariableError):
            if str(hit) not in self._reported:  # not the top-level error again, nor the budget twice
                problem(f"{fname}.variables" if d.variables else "variables", str(hit))
                if isinstance(hit, _variables.VariableBudgetExceeded):
                    self._reported.add(str(hit))
            return None
        return hit

