"""Transform steps at load: the manifest's ``transform`` list -> ``StepSpec``s, each checked.

Rule files are read (confined, bounded), json values are checked to be JSON (bounded, alias-aware),
and each distinct transform is compiled once with placeholder built-ins, so a bad regex or JSONPath
fails the load, not the run.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

from .._transform import StepSpec, build_transform, parse_seed_transformations
from . import variables as _variables
from .files import RuleBase, RuleFileError, read_rule_file
from .rules import ALTERNATE_PLACEHOLDERS, PLACEHOLDERS, Problem
from .schema import MappingModel

# ``json`` values are bounded so a YAML alias graph cannot expand into millions of nodes later.
# its size, counted as if every alias were written out: values plus the characters of strings
MAX_JSON_VALUE_SIZE = 1024 * 1024
MAX_JSON_VALUE_DEPTH = 100


def build_steps(m: MappingModel, base_dir: RuleBase | None, problem: Problem) -> tuple[StepSpec, ...]:
    """The mapping's steps, in order. A rule file that cannot be used or a json value that is not
    JSON is reported and its step left out (the manifest is refused anyway); rules and paths are
    compiled later, per distinct variable set, by ``TransformChecks``."""
    steps: list[StepSpec] = []
    for i, s in enumerate(m.transform):
        if s.sed is not None:
            if not s.sed:
                problem(f"transform[{i}].sed", "no rules")
            steps.append(StepSpec("sed", f"transform[{i}] (sed)", rules=tuple(s.sed)))
        elif s.sed_file is not None:
            try:  # confined to the manifest's directory / S3 prefix, bounded, never quoted
                text = read_rule_file(s.sed_file, base=base_dir)
            except RuleFileError as exc:
                problem(f"transform[{i}].sed_file", f"cannot use {s.sed_file!r}: {exc}")
                continue
            steps.append(StepSpec("sed_file", f"transform[{i}] (sed_file {s.sed_file})", rules=(text,)))
        elif s.json_ is not None:
            if not s.json_:
                problem(f"transform[{i}].json", "no paths")
            bad = [(key, found) for key, value in s.json_.items() if (found := json_value_problem(value))]
            for key, (inside, why) in bad:
                problem(f"transform[{i}].json[{key}]{inside}", why)
            if not bad:  # a step with a non-JSON value is never built (it would raise TypeError)
                steps.append(StepSpec("json", f"transform[{i}] (json)", assignments=tuple(s.json_.items())))
        elif s.json_file is not None:
            label = f"transform[{i}] (json_file {s.json_file})"
            try:  # read as sed_file is; the content is the original replicator's transformation file
                assignments = parse_seed_transformations(read_rule_file(s.json_file, base=base_dir), label)
            except RuleFileError as exc:
                problem(f"transform[{i}].json_file", f"cannot use {s.json_file!r}: {exc}")
                continue
            except ValueError as exc:  # not a transformation file: the message starts with the label
                problem(f"transform[{i}].json_file", str(exc))
                continue
            steps.append(StepSpec("json_file", label, assignments=assignments))
    return tuple(steps)


def json_value_problem(value: Any) -> tuple[str, str] | None:
    """(where inside ``value``, why) when ``value`` is not JSON (SPEC "Transforms"), else None.

    YAML gives dates, timestamps, bytes (!!binary), sets (!!set), NaN and infinity, none of which is
    JSON. Iterative, and the size is counted as if every YAML alias were written out (a container
    met twice counts twice, but is walked once), so an alias bomb is refused in linear time.
    """
    sizes: dict[int, int] = {}  # id(container) -> nodes in it, aliases expanded
    stack: list[tuple[Any, str, int, bool]] = [(value, "", 0, False)]  # (node, where, depth, children done)
    while stack:
        node, where, depth, children_done = stack.pop()
        if isinstance(node, (dict, list)):
            if children_done:
                items = node.values() if isinstance(node, dict) else node
                sizes[id(node)] = 1 + sum(sizes.get(id(c), 0) or _scalar_size(c) for c in items)
                if sizes[id(node)] > MAX_JSON_VALUE_SIZE:
                    return where, (f"over {MAX_JSON_VALUE_SIZE} values and characters "
                                   "(YAML aliases counted as written out)")
                continue
            if id(node) in sizes:
                continue
            if depth >= MAX_JSON_VALUE_DEPTH:
                return where, f"nested deeper than {MAX_JSON_VALUE_DEPTH} levels"
            stack.append((node, where, depth, True))
            sizes[id(node)] = 0  # walked once; a cycle (impossible from YAML) cannot loop
            children = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in children:
                if isinstance(node, dict) and not isinstance(key, str):
                    return f"{where}", f"a JSON object's keys are strings; {key!r} is not"
                stack.append((child, f"{where}.{key}" if isinstance(node, dict) else f"{where}[{key}]",
                               depth + 1, False))
            continue
        why = _not_json_scalar(node)
        if why:
            return where, why
    return None


def _scalar_size(node: Any) -> int:
    return 1 + len(node) if isinstance(node, str) else 1


def _not_json_scalar(node: Any) -> str | None:
    if node is None or isinstance(node, (str, bool, int)):
        return None
    if isinstance(node, float):
        return None if math.isfinite(node) else f"{node!r} is not a JSON number (NaN and infinity are not JSON)"
    if isinstance(node, (datetime.date, datetime.datetime)):
        return f"a YAML date/timestamp ({node.isoformat()}) is not JSON; quote it to make it a string"
    if isinstance(node, (bytes, bytearray)):
        return "a YAML !!binary value is not JSON"
    if isinstance(node, (set, frozenset)):
        return "a YAML !!set is not JSON; use a list"
    return f"a {type(node).__name__} is not JSON"



class TransformChecks:
    """Compile each distinct (steps, variables) once at load, with placeholder built-ins.

    Manifests repeat the same transform over many mappings; compiling it once per distinct form
    (not per destination) keeps a load of thousands of mappings fast. Returns the error, or None.
    """

    def __init__(self) -> None:
        self._seen: dict[Any, ValueError | None] = {}

    def check(self, steps: tuple[StepSpec, ...], variables: tuple[tuple[str, str], ...]) -> ValueError | None:
        if not steps:
            return None
        # repr: json values are plain data (checked by json_value_problem), so equal repr = equal steps
        key = (tuple((s.kind, s.label, s.rules, repr(s.assignments)) for s in steps), variables)
        if key not in self._seen:
            error = _build_error(steps, variables, PLACEHOLDERS)
            if error is not None and not isinstance(error, _variables.VariableError):
                error = _without_stand_ins(error, steps, variables)
            self._seen[key] = error
        return self._seen[key]


def _build_error(steps: tuple[StepSpec, ...], variables: tuple[tuple[str, str], ...],
                 stand_ins: dict[str, str]) -> ValueError | None:
    """The error compiling ``steps`` with these built-in values raises (undefined or too-long
    variables, bad regex or JSONPath), or None."""
    values = {**dict(variables), **stand_ins}
    try:
        build_transform(steps, lambda t: _variables.expand(t, values))
    except ValueError as exc:
        return exc
    return None


def _without_stand_ins(exc: ValueError, steps: tuple[StepSpec, ...],
                       variables: tuple[tuple[str, str], ...]) -> ValueError:
    """``exc`` as the user should read it: never quoting a stand-in they did not write.

    When the steps use built-ins, they are compiled again with other stand-ins. The same error
    both times (stand-ins written back as ``${NAME}``) is the rule's own; a different one (or none)
    means the failure depends on the value, known only at run time: the message then says which
    variables, without the text (it may quote a piece of a stand-in, e.g. a flag ``'z'``).
    """
    used = [name for name in _variables.closure(sorted(step_references(steps)), dict(variables))
            if name in PLACEHOLDERS]
    if not used:
        return exc
    first = _written_back(str(exc), PLACEHOLDERS)
    again = _build_error(steps, variables, ALTERNATE_PLACEHOLDERS)
    if again is not None and _written_back(str(again), ALTERNATE_PLACEHOLDERS) == first:
        return exc if first == str(exc) else ValueError(first)
    label = str(exc).split(": ", 1)[0]
    names = " and ".join(f"${{{name}}}" for name in used)
    return ValueError(f"{label}: not valid once {names} {'is' if len(used) == 1 else 'are'} filled in: "
                      "the rule's syntax would depend on a value known only at run time")


def _written_back(text: str, stand_ins: dict[str, str]) -> str:
    for name, value in stand_ins.items():
        text = text.replace(value, f"${{{name}}}")
    return text


def step_references(steps: tuple[StepSpec, ...]) -> set[str]:
    """The variable names the steps' texts reference (rules, file texts, json values)."""
    names: set[str] = set()
    for step in steps:
        for text in step.rules:
            names.update(_variables.references(text))
        for _, value in step.assignments:
            names.update(_variables.references(value if isinstance(value, str) else str(value)))
    return names
