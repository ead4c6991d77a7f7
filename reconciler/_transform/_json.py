"""``json`` and ``json_file`` steps: set, or find/replace in, JSONPath locations of a JSON object.

Semantics (SPEC "Transforms: seed compatibility and a closed JSONPath"):
- ``"$.path": value`` sets every location the path matches. When it matches nothing and its last
  segment is a plain member name, the member is created in every parent object the rest of the
  path matches; with no such parent the item fails.
- ``"$.path": {find: F, replace: R}`` (a map with exactly those two keys, both strings) replaces
  every occurrence of F with R in each *string* the path matches (a string equal to F becomes R
  whole). Other values are left alone and a path matching nothing is no error: that is what the
  original replicator's transformation files do.
- The document's text changes only at the locations written (see ``_jsontext``). With duplicate
  keys in the secret, a member name selects every member of that name, so the result reads the
  same to a parser keeping the first as to one keeping the last.
"""

from __future__ import annotations

import datetime
import enum
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .._constants import MAX_SECRET_SIZE
from .._exceptions import TransformError
from ._errors import JsonPathSyntaxError, JsonValueError
from ._jsonpath import JsonPath, parse_jsonpath, select
from ._jsontext import Document, NodeKind, NotJson, Ticker, from_value, parse_document, render
from ._kinds import TransformMode

MAX_JSON_VALUE_DEPTH = 64  # nesting of one value written by a json step
SEED_TOP_KEYS = frozenset({"transformations", "description"})  # the replicator's file, as its docs show
SEED_RULE_KEYS = frozenset({"path", "find", "replace"})


class Op(enum.Enum):
    SET = "set"
    REPLACE = "replace"  # find/replace inside strings


@dataclass(frozen=True)
class Assignment:
    path: JsonPath
    op: Op
    value: Any = None  # SET: a validated JSON value
    find: str = ""
    replace: str = ""

    def canonical(self) -> list[Any]:
        """What the fingerprint hashes: everything that decides this assignment's output."""
        if self.op is Op.SET:
            return [Op.SET.value, self.path.text, self.value]
        return [Op.REPLACE.value, self.path.text, self.find, self.replace]


@dataclass(frozen=True)
class JsonSet:
    """One ``json`` / ``json_file`` step: its assignments, applied in the order written."""

    assignments: tuple[Assignment, ...]

    @property
    def mode(self) -> TransformMode:
        return TransformMode.JSON

    @property
    def rule_count(self) -> int:
        return len(self.assignments)

    def apply(self, value: str, deadline: float, *, clock: Callable[[], float] | None = None) -> str:
        ticker = Ticker(deadline, clock)
        try:
            doc = parse_document(value, ticker)
        except NotJson:
            raise TransformError("json step: the value is not JSON") from None
        if doc.root.kind is not NodeKind.OBJECT:
            raise TransformError("json step: the value is not a JSON object")
        for assignment in self.assignments:
            _assign(doc, assignment, ticker)
        return render(doc, ticker)


def _assign(doc: Document, a: Assignment, ticker: Ticker) -> None:
    locations = select(doc.root, a.path, ticker.tick)
    if a.op is Op.REPLACE:
        for loc in locations:
            node = loc.node
            if node.kind is not NodeKind.STRING:
                continue  # only strings are searched: find is a string, so no other value equals it
            current = doc.string_of(node)
            replaced = current.replace(a.find, a.replace)
            if replaced != current:  # unchanged strings keep their text (escapes included)
                assert loc.parent is not None  # the root is an object, never a string
                loc.parent.set_child(loc.index, from_value(replaced, doc.style))
        return
    if not locations:
        _create(doc, a, ticker)
        return
    for loc in locations:
        assert loc.parent is not None  # a path of "$" alone is refused at load
        loc.parent.set_child(loc.index, from_value(a.value, doc.style))


def _create(doc: Document, a: Assignment, ticker: Ticker) -> None:
    name = a.path.creatable_name
    created = False
    if name is not None:
        for loc in select(doc.root, a.path.parent, ticker.tick):
            if loc.node.kind is NodeKind.OBJECT:
                loc.node.add_member(name, from_value(a.value, doc.style))
                created = True
    if not created:
        raise TransformError(f"json step: {a.path.text} matches nothing and its parent does not exist")


# --- compiling --------------------------------------------------------------------------------------


def compile_json_step(assignments: Iterable[tuple[Any, Any]], expand: Callable[[str], str]) -> JsonSet:
    """Compile ``(path, value)`` pairs, resolving ``${VARS}`` in string values with ``expand``.

    Raises JsonPathSyntaxError (a path outside the subset, or ``$`` alone) or JsonValueError.
    """
    out: list[Assignment] = []
    for path_text, value in assignments:
        path = parse_jsonpath(path_text)
        if _is_find_replace(value):
            find, replace = expand(value["find"]), expand(value["replace"])
            if not find:
                raise JsonValueError(f"json {path.text}: 'find' is empty; it must name the text to replace")
            out.append(Assignment(path, Op.REPLACE, find=find, replace=replace))
        else:
            out.append(Assignment(path, Op.SET, value=to_json_value(value, expand, path.text)))
    return JsonSet(tuple(out))


def _is_find_replace(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"find", "replace"}
            and isinstance(value["find"], str) and isinstance(value["replace"], str))


class _Budget:
    """Bytes of JSON text a value would take, counted while it is walked. Over the secret size
    limit the value could never be written; stopping there also bounds the walk of a YAML alias
    bomb (a small DAG that expands to billions of nodes)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += max(n, 1)
        if self.used > MAX_SECRET_SIZE:
            raise JsonValueError(f"json value for {self.where} is over {MAX_SECRET_SIZE} bytes as JSON: it could "
                                 "never fit in a secret")


def to_json_value(value: Any, expand: Callable[[str], str], where: str) -> Any:
    """A fresh copy of ``value`` with strings expanded, or JsonValueError naming ``where`` and the
    location inside the value. JSON means: str, finite int/float, bool, None, list, str-keyed map."""
    return _convert(value, expand, _Budget(where), [], 0)


def _convert(value: Any, expand: Callable[[str], str], budget: _Budget, trail: list[str], depth: int) -> Any:
    if depth > MAX_JSON_VALUE_DEPTH:
        _bad(budget, trail, f"nests deeper than {MAX_JSON_VALUE_DEPTH} levels")
    if value is None or isinstance(value, bool):
        budget.spend(5)
        return value
    if isinstance(value, int):
        # bit_length first: str() of an int over 4300 digits raises, and such a number can never fit
        budget.spend(len(str(value)) if value.bit_length() <= 13_000 else MAX_SECRET_SIZE + 1)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            _bad(budget, trail, "NaN and infinity are not JSON numbers")
        budget.spend(len(repr(value)))
        return value
    if isinstance(value, str):
        budget.spend(len(value) + 2)
        expanded = expand(value)
        budget.spend(len(expanded) - len(value))
        return expanded
    if isinstance(value, list):
        budget.spend(2)
        out_list = []
        for i, v in enumerate(value):
            trail.append(f"[{i}]")
            out_list.append(_convert(v, expand, budget, trail, depth + 1))
            trail.pop()
        return out_list
    if isinstance(value, dict):
        budget.spend(2)
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                _bad(budget, trail, f"a map key is a {_describe(k)}; JSON keys are strings (quote it)")
            budget.spend(len(k) + 4)
            trail.append(f".{k}")
            out[k] = _convert(v, expand, budget, trail, depth + 1)
            trail.pop()
        return out
    _bad(budget, trail, f"a {_describe(value)} is not a JSON value")
    raise AssertionError  # unreachable: _bad raises


def _describe(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return "timestamp (quote it to write a string)"
    if isinstance(value, datetime.date):
        return "date (quote it to write a string)"
    if isinstance(value, bytes | bytearray):
        return "binary value (!!binary)"
    if isinstance(value, set | frozenset):
        return "set (!!set)"
    return type(value).__name__


def _bad(budget: _Budget, trail: list[str], why: str) -> None:
    inside = f" at {''.join(trail)}" if trail else ""
    raise JsonValueError(f"json value for {budget.where}{inside}: {why}")


# --- the original replicator's transformation file --------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _no_constant(name: str) -> Any:
    raise _DuplicateKey  # NaN / Infinity: not JSON; reported as a malformed file below


def parse_seed_transformations(text: str, label: str) -> tuple[tuple[str, Any], ...]:
    """Read the original replicator's transformation file into ``json`` step assignments.

    The file is ``{"transformations": [{"path": P, "find": F, "replace": R}, ...]}`` with an optional
    ``"description"`` string, as that replicator's docs and examples show; anything else (unknown or
    duplicate keys, wrong types, not JSON) is a JsonPathSyntaxError prefixed with ``label``. Messages
    quote no content of the file beyond a rule's path.
    """
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JsonPathSyntaxError(f"{label}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except _DuplicateKey:
        raise JsonPathSyntaxError(f"{label}: a duplicate key or a NaN/Infinity constant; the file must be "
                                  "plain JSON") from None
    except RecursionError:
        raise JsonPathSyntaxError(f"{label}: nests too deeply to be a transformation file") from None
    except ValueError:  # e.g. an integer of over 4300 digits
        raise JsonPathSyntaxError(f"{label}: not a valid transformation file") from None
    shape = 'a JSON object {"transformations": [{"path", "find", "replace"}, ...]}'
    if not isinstance(data, dict) or "transformations" not in data:
        raise JsonPathSyntaxError(f"{label}: the file must be {shape}")
    if not set(data) <= SEED_TOP_KEYS:
        raise JsonPathSyntaxError(f"{label}: unknown top-level keys; allowed: {', '.join(sorted(SEED_TOP_KEYS))}")
    if "description" in data and not isinstance(data["description"], str):
        raise JsonPathSyntaxError(f"{label}: 'description' must be a string")
    rules = data["transformations"]
    if not isinstance(rules, list) or not rules:
        raise JsonPathSyntaxError(f"{label}: 'transformations' must be a non-empty list")
    out: list[tuple[str, Any]] = []
    for i, rule in enumerate(rules):
        where = f"{label}: transformations[{i}]"
        if not isinstance(rule, dict) or set(rule) != SEED_RULE_KEYS:
            raise JsonPathSyntaxError(f"{where} must be an object with exactly the keys path, find and replace")
        for key in sorted(SEED_RULE_KEYS):
            if not isinstance(rule[key], str):
                raise JsonPathSyntaxError(f"{where}.{key} must be a string")
        try:
            parse_jsonpath(rule["path"])
        except JsonPathSyntaxError as exc:
            raise JsonPathSyntaxError(f"{where}.path: {exc}") from None
        if not rule["find"]:
            raise JsonValueError(f"{where}.find is empty; it must name the text to replace")
        out.append((rule["path"], {"find": rule["find"], "replace": rule["replace"]}))
    return tuple(out)
