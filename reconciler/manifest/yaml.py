"""Safe, bounded YAML loading for manifests, keeping each node's line for error messages.

SPEC "Manifest safety": any manifest of up to 1 MiB loads (or is refused) in under 2 s and 256 MB,
whatever its aliases; duplicate keys are a load error. How that holds:

- The C composer (libyaml) builds the node graph. It caps nesting at 1000 levels itself, and it calls
  ``resolve`` in Python for every node without an explicit tag: that callback counts nodes and
  stops composing past the node budget, so a large document costs at most the budget in memory.
  (Explicitly tagged nodes are not counted there; ``!!str a`` is 8 bytes, so a 1 MiB manifest holds
  at most ~130,000 of them, and the build below counts them anyway.)
- The graph is a DAG: an alias is the very node it names. ``_Build`` turns it into Python objects
  once per node (aliases share the object; a scalar is rebuilt) and counts the *expanded* size, every alias written out,
  because everything after loading (pydantic, variable expansion, ``json.dumps``) walks the tree,
  not the graph. Past the budget the manifest is refused, naming the field and the anchor's line.
- ``_Build`` also refuses duplicate keys (all of them reported), an alias inside its own anchor
  (a cycle), nesting deeper than ``MAX_YAML_DEPTH`` and tags outside YAML's safe set, so nothing
  later recurses without bound.

``Marks`` keeps the node graph after loading so an error found later (pydantic, ``expand``) can
name the line of the field it is about: ``marks.line(("mappings", 3, "destination", "region"))``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .._exceptions import ManifestError

MIB = 1024 * 1024
MAX_MANIFEST_BYTES = 16 * MIB  # SPEC: larger is refused before parsing
# Expanded YAML nodes (aliases written out) allowed per started MiB of manifest. A real manifest
# has about 0.12 nodes a byte (17,000 one-line mappings in 1 MiB are 122,000 nodes); the densest
# possible 1 MiB (``[1,1,1,...``) has 524,000, and libyaml composes them at ~4 us each, so the
# budget, not the size, is what keeps a hostile 1 MiB inside SPEC's 2 s (~1 s to compose 200,000)
# and 256 MB (~100 MB). An alias bomb is held to the size of a dense manifest written out.
YAML_NODES_PER_MIB = 200_000
MAX_YAML_DEPTH = 64  # nesting levels; a manifest needs about 8, a json value a few more
MAX_DUPLICATE_REPORTS = 20  # duplicate keys reported at once; more are summarised
# int and float scalars longer than this are refused: PyYAML reads ``1:2:3:...`` (base 60) with a
# big-integer product per part, quadratic in the length; no manifest number needs more.
MAX_NUMBER_CHARS = 1000
YamlPath = tuple[str | int, ...]  # keys and indices from the top of the document

_T = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP, _MERGE, _VALUE = _T + "str", _T + "seq", _T + "map", _T + "merge", _T + "value"
_SET, _OMAP, _PAIRS = _T + "set", _T + "omap", _T + "pairs"
# scalar tags built by PyYAML's SafeConstructor (dates, binary and floats included: the schema and
# the json checks refuse them where they do not belong, with a better message than a YAML error)
_SCALAR_TAGS = ("null", "bool", "int", "float", "timestamp", "binary")
_NUMBER_TAGS = (_T + "int", _T + "float")

_RESOLVE_CACHE, _RESOLVE_CACHE_CHARS = 4096, 64  # plain scalars remembered by the resolver, and how long
_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # C when PyYAML was built with it


def node_budget(n_bytes: int) -> int:
    """Expanded YAML nodes a manifest of ``n_bytes`` may have (at least one MiB's worth)."""
    return YAML_NODES_PER_MIB * max(1, -(-n_bytes // MIB))


class _TooBig(Exception):
    """Raised from the composer's resolve callback: the document has more nodes than the budget."""


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, counting nodes as they are composed (see the module docstring)."""

    def __init__(self, stream: str, budget: int) -> None:
        super().__init__(stream)
        self.nodes_left = budget
        self.typed: dict[str, str] = {}

    # First characters of the plain scalars the safe resolver may read as something else than a
    # string (null, bool, int, float, timestamp, merge, value): only those go through its regexes.
    # The safe loader has no path resolvers and no wildcard resolver, so this is the same answer.
    _maybe_typed = frozenset(k for k in _BaseLoader.yaml_implicit_resolvers if k)

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        self.nodes_left -= 1
        if self.nodes_left < 0:
            raise _TooBig
        if kind is ScalarNode:
            if implicit[0] and (not value or value[0] in self._maybe_typed):
                tag = self.typed.get(value)  # repeated values (1, true, ...) skip the regexes
                if tag is None:
                    tag = super().resolve(kind, value, implicit)
                    if len(self.typed) < _RESOLVE_CACHE and len(value) <= _RESOLVE_CACHE_CHARS:
                        self.typed[value] = tag
                return tag
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    # the composer calls these around every node; without path resolvers they do nothing
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


class _Refused(Exception):
    def __init__(self, path: YamlPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class _Build:
    """Node graph -> Python objects, counting the expanded size (see the module docstring).

    Recursive on purpose: depth is checked before each step down, so recursion is at most
    ``MAX_YAML_DEPTH`` frames, and it is clearer (and faster) than an explicit stack.
    """

    def __init__(self, loader: Any, budget: int) -> None:
        self.loader = loader
        self.left = budget
        self.budget = budget
        # node -> (object, expanded size); nodes hash by identity, and the graph outlives the build
        self.done: dict[Node, tuple[Any, int]] = {}
        self.active: set[Node] = set()  # nodes being built: meeting one again is a cycle
        self.path: list[str | int] = []
        self.duplicates: list[tuple[YamlPath, str]] = []
        ctors = loader.yaml_constructors
        self.scalars: dict[str, Callable[[Any, Node], Any]] = {_T + t: ctors[_T + t] for t in _SCALAR_TAGS}

    def refuse(self, message: str) -> _Refused:
        return _Refused(tuple(self.path), message)

    def build(self, node: Node, depth: int) -> tuple[Any, int]:
        if isinstance(node, ScalarNode):
            # Not kept in ``done`` (most nodes are scalars: load speed and memory). Same count and
            # value either way: an alias to a scalar is rebuilt, costing 1 as a hit would, and a
            # scalar can be in no cycle.
            self.spend(1, node)
            return self.scalar(node), 1
        hit = self.done.get(node)
        if hit is not None:  # an alias: downstream sees a full copy, so it costs its full size
            self.spend(hit[1], node)
            return hit
        if node in self.active:
            raise self.refuse(f"an alias inside its own anchor (line {node.start_mark.line + 1}) "
                              "makes an endless structure")
        self.spend(1, node)
        if depth >= MAX_YAML_DEPTH:
            raise self.refuse(f"nested more than {MAX_YAML_DEPTH} levels deep")
        self.active.add(node)
        if isinstance(node, SequenceNode):
            result = self.sequence(node, depth)
        else:
            assert isinstance(node, MappingNode)  # a composed node is a scalar, sequence or mapping
            result = self.mapping(node, depth)
        self.active.discard(node)
        self.done[node] = result
        return result

    def spend(self, n: int, node: Node) -> None:
        self.left -= n
        if self.left < 0:
            raise self.refuse(
                f"the manifest expands to more than {self.budget:,} YAML nodes (aliases written out); "
                f"the node anchored at line {node.start_mark.line + 1} is {n:,} nodes here")

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag in (_STR, _VALUE):  # "=" alone resolves to the value tag; it is a string here
            return node.value
        ctor = self.scalars.get(tag)
        if ctor is None:
            raise self.refuse(f"unsupported YAML tag {tag}")
        if tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
            raise self.refuse(f"a number of more than {MAX_NUMBER_CHARS} characters")
        try:
            return ctor(self.loader, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:  # a date like 2024-13-45, a bad !!binary
            raise self.refuse(f"not a valid {tag.removeprefix(_T)}: "
                              f"{_yaml_problem(exc) if isinstance(exc, yaml.YAMLError) else exc}") from None

    def sequence(self, node: SequenceNode, depth: int) -> tuple[Any, int]:
        if node.tag not in (_SEQ, _OMAP, _PAIRS):
            raise self.refuse(f"unsupported YAML tag {node.tag} on a sequence")
        items: list[Any] = []
        size = 1
        path = self.path
        for i, child in enumerate(node.value):
            path.append(i)
            obj, n = self.build(child, depth + 1)
            path.pop()
            items.append(obj)
            size += n
        if node.tag != _SEQ:  # !!omap / !!pairs: a list of one-entry maps -> a list of pairs
            if not all(isinstance(x, dict) and len(x) == 1 for x in items):
                raise self.refuse(f"{node.tag} needs a list of one-entry mappings")
            items = [next(iter(x.items())) for x in items]
        return items, size

    def mapping(self, node: MappingNode, depth: int) -> tuple[Any, int]:
        if node.tag not in (_MAP, _SET):
            raise self.refuse(f"unsupported YAML tag {node.tag} on a mapping")
        out: dict[Any, Any] = {}
        first: dict[Any, Node] = {}
        merges: list[Node] = []
        size = 1
        path = self.path
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            key = self.key(key_node, depth)
            if key in first:
                self.duplicate(key, first[key], key_node)
            else:
                first[key] = key_node
            path.append(key if isinstance(key, str | int) else str(key))
            value, n = self.build(value_node, depth + 1)
            path.pop()
            out[key] = value
            size += 1 + n
        if merges:
            out, n = self.merge(merges, out, depth)
            size += n
        return (set(out) if node.tag == _SET else out), size

    def key(self, key_node: Node, depth: int) -> Any:
        if not isinstance(key_node, ScalarNode):
            raise self.refuse("a mapping key must be a plain value, not a list or mapping")
        return self.build(key_node, depth + 1)[0]

    def duplicate(self, key: Any, first: Node, again: Node) -> None:
        self.duplicates.append((
            (*self.path, key if isinstance(key, str | int) else str(key)),
            f"duplicate key {str(key)!r} (lines {first.start_mark.line + 1} and {again.start_mark.line + 1}); "
            "YAML would keep only the last"))

    def merge(self, merges: list[Node], explicit: dict[Any, Any], depth: int) -> tuple[dict[Any, Any], int]:
        """YAML 1.1 merge keys as SafeConstructor has them: ``<<: *a`` or ``<<: [*a, *b]``.

        Earlier sources win over later ones and explicit keys over all. Each source is built (and
        counted at its full expanded size) through ``build``, so merging cannot amplify unseen.
        """
        merged: dict[Any, Any] = {}
        size = 0
        self.path.append("<<")
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            built: list[dict[Any, Any]] = []
            for src in sources:
                obj, n = self.build(src, depth + 1)
                if not isinstance(src, MappingNode) or not isinstance(obj, dict):
                    raise self.refuse("<< merges a mapping or a list of mappings")
                built.append(obj)
                size += n
            for obj in reversed(built):
                merged.update(obj)
        self.path.pop()
        merged.update(explicit)
        return merged, size


class Marks:
    """Lines of a loaded manifest's nodes, looked up by the path pydantic and ``expand`` use.

    ``Marks(None)`` (``NO_MARKS``) is the manifest given as a Python object (the Lambda event):
    every lookup is None and messages name no line.
    """

    def __init__(self, root: Node | None) -> None:
        self._root = root
        self._keys: dict[Node, dict[str, tuple[Node, Node]]] = {}  # mapping node -> key -> (key, value)

    def _walk(self, path: Iterable[str | int]) -> tuple[int | None, Node | None, bool]:
        """(line of the deepest node reached, that node, whether the whole path was found)."""
        node = self._root
        if node is None:
            return None, None, False
        line = node.start_mark.line + 1
        for part in path:
            if isinstance(node, MappingNode):
                index = self._keys.get(node)
                if index is None:  # the last of equal keys wins, as in the loaded dict
                    index = self._keys[node] = {str(k.value): (k, v) for k, v in node.value
                                                if isinstance(k, ScalarNode)}
                found = index.get(str(part))
                if found is None:
                    return line, node, False
                key_node, node = found
                line = key_node.start_mark.line + 1  # a field's line is its key's line
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                parent, node = node, node.value[part]
                # An item that starts before its sequence is an alias to an anchor defined earlier: its
                # mark is the anchor's, so the sequence's line is the nearer truth.
                if node.start_mark.index >= parent.start_mark.index:
                    line = node.start_mark.line + 1
            else:
                return line, node, False
        return line, node, True

    def line(self, path: Iterable[str | int]) -> int | None:
        """1-based line of the node at ``path``, else of its nearest ancestor; None without marks."""
        return self._walk(path)[0]

    def scalar(self, path: Iterable[str | int]) -> str | None:
        """The text of the scalar at exactly ``path``, if there is one."""
        _, node, found = self._walk(path)
        return str(node.value) if found and isinstance(node, ScalarNode) else None

    def mapping_label(self, index: int) -> str | None:
        """A mapping's id, else its source name, read from the YAML (before validation)."""
        for path in (("mappings", index, "id"), ("mappings", index, "source"),
                     ("mappings", index, "source", "name")):
            label = self.scalar(path)
            if label:
                return label
        return None


NO_MARKS = Marks(None)


def parse_field(field: str) -> YamlPath:
    """``"destinations[0].name"`` -> ``("destinations", 0, "name")``: the path for ``Marks.line``.

    A bracketed part is taken whole (``json[$.a.b]`` -> ``("json", "$.a.b")``), brackets nested one
    level deep included (``json[$.a[0]]``).
    """
    out: list[str | int] = []
    for name, bracket in _FIELD_PART.findall(field):
        if name:
            out.append(name)
        else:
            out.append(int(bracket) if bracket.isdigit() else bracket)
    return tuple(out)


_FIELD_PART = re.compile(r"([^.\[\]]+)|\[((?:[^\[\]]|\[[^\]]*\])*)\]")


def render_path(path: Iterable[str | int]) -> str:
    """``("destination", "region")`` -> ``destination.region``; indices as ``[3]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(origin: str, marks: Marks, path: YamlPath, *, label: str | None = None) -> str:
    """``{file}:{line}: mapping 'ID' (mappings[3]): field 'destination.region'`` for an error at ``path``.

    ``path`` is from the top of the manifest (``("mappings", 3, "destination", "region")``). The line
    is that of the field, or of its nearest ancestor in the YAML; without marks there is no line.
    ``label`` names the mapping when the caller knows it; else it is read from the YAML.
    """
    line = marks.line(path)
    out = f"{origin}:{line}" if line is not None else origin
    rest = path
    if len(path) >= 2 and path[0] == "mappings" and isinstance(path[1], int):
        name = label or marks.mapping_label(path[1])
        out += f": mapping '{name}' (mappings[{path[1]}])" if name else f": mappings[{path[1]}]"
        rest = path[2:]
    return f"{out}: field '{render_path(rest) or '(top level)'}'"


def load_yaml(text: str, *, origin: str) -> tuple[Any, Marks]:
    """Parse ``text`` (one YAML document) into plain Python data and its ``Marks``.

    Raises ManifestError naming the file and line for anything unsafe or invalid (module docstring).
    """
    n_bytes = len(text.encode("utf-8", "surrogatepass"))
    if n_bytes > MAX_MANIFEST_BYTES:
        raise ManifestError([f"{origin}: the manifest is {n_bytes:,} bytes; the limit is "
                             f"{MAX_MANIFEST_BYTES // MIB} MiB"])
    budget = node_budget(n_bytes)
    loader = _Loader(text, budget)
    try:
        try:
            root = loader.get_single_node()
        except _TooBig:
            raise ManifestError([f"{origin}: the manifest has more than {budget:,} YAML nodes, the limit for "
                                 f"its size ({YAML_NODES_PER_MIB:,} a MiB); split it"]) from None
        except yaml.YAMLError as exc:
            raise ManifestError([_yaml_error(origin, exc)]) from None
        marks = Marks(root)
        if root is None:
            return None, marks
        build = _Build(loader, budget)
        try:
            data = build.build(root, 0)[0]
        except _Refused as exc:
            raise ManifestError([f"{locate(origin, marks, exc.path)}: {exc.message}"]) from None
        if build.duplicates:
            shown = build.duplicates[:MAX_DUPLICATE_REPORTS]
            problems = [f"{locate(origin, marks, path)}: {msg}" for path, msg in shown]
            if len(build.duplicates) > len(shown):
                problems.append(f"{origin}: {len(build.duplicates) - len(shown)} more duplicate keys")
            raise ManifestError(problems)
        return data, marks
    finally:
        loader.dispose()


def _yaml_problem(exc: Exception) -> str:
    return str(getattr(exc, "problem", None) or exc.__class__.__name__)


def _yaml_error(origin: str, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{origin}: not valid YAML: {_yaml_problem(exc)}"
    return f"{origin}:{mark.line + 1}: not valid YAML: {_yaml_problem(exc)} (column {mark.column + 1})"
