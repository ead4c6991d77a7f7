"""The closed JSONPath subset of ``json`` steps: a hand-written parser and a linear evaluator.

Grammar (SPEC "Transforms: seed compatibility and a closed JSONPath")::

    path      := "$" segment*
    segment   := ".." ( "*" | name | quoted-name | "[" selector "]" ) | "." ( "*" | name | quoted-name )
               | "[" selector "]"
    selector  := "*" | quoted-name | integer | slice
    slice     := [integer] ":" [integer] [ ":" [integer] ]

Nothing else parses: filters (``[?(...)]``), regex, functions, arithmetic, ``@``, ``this``, unions.
The language is closed on purpose: a filter over secret values is an oracle on those values
(issue 9), and a regex in a filter can run without bound. Parsing is one left-to-right scan, linear
in the path's length, and a path is at most ``MAX_JSONPATH_LENGTH`` characters.

Evaluation keeps a *set* of locations per segment (deduplicated), so each segment costs at most
one visit of every node of the document, recursive descent included: applying a path is linear in
(document size x number of segments), whatever the path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._errors import JsonPathSyntaxError
from ._jsontext import ARRAY, OBJECT, Node

MAX_JSONPATH_LENGTH = 4096  # characters; far beyond any real path, small enough to parse at once

_NAME = re.compile(r"[\w-]+")  # dot-notation member names; anything else needs ['...']
_INT = re.compile(r"-?[0-9]+")
_SPACES = re.compile(r" *")
_ALLOWED = "$, .name, ['name'], [n], [*], .*, [start:end:step] and .. (recursive descent)"


class SelectorKind(enum.Enum):
    NAME = "name"
    WILDCARD = "wildcard"
    INDEX = "index"
    SLICE = "slice"


@dataclass(frozen=True)
class Segment:
    """One step of a path: a selector, applied to the children of the current nodes, or with
    ``descendant`` to every node at or below them (``..``)."""

    kind: SelectorKind
    descendant: bool = False
    name: str = ""
    index: int = 0
    slice_: tuple[int | None, int | None, int | None] = (None, None, None)


@dataclass(frozen=True)
class JsonPath:
    text: str
    segments: tuple[Segment, ...]

    @property
    def creatable_name(self) -> str | None:
        """The member name a set may create when nothing matches: the last segment is a plain
        child name (``$.a.b`` or ``$.a['b']``); else None (a wildcard or ``..`` creates nothing)."""
        last = self.segments[-1]
        return last.name if last.kind is SelectorKind.NAME and not last.descendant else None

    @property
    def parent(self) -> JsonPath:
        return JsonPath(self.text, self.segments[:-1])


@dataclass(frozen=True)
class Location:
    """Where a node sits: ``parent.children[index]``; the root has no parent."""

    parent: Node | None
    index: int
    node: Node


def parse_jsonpath(text: object) -> JsonPath:
    """Compile ``text`` or raise JsonPathSyntaxError naming the path and what is wrong."""
    if not isinstance(text, str):
        raise JsonPathSyntaxError(f"a JSONPath must be a string, not {type(text).__name__}")
    if len(text) > MAX_JSONPATH_LENGTH:
        raise JsonPathSyntaxError(f"JSONPath of {len(text)} characters: at most {MAX_JSONPATH_LENGTH} are allowed")
    if not text.startswith("$"):
        raise JsonPathSyntaxError(f"invalid JSONPath {text!r}: it must start with '$' (the root)")
    segments: list[Segment] = []
    pos = 1
    while pos < len(text):
        segment, pos = _segment(text, pos)
        segments.append(segment)
    if not segments:
        raise JsonPathSyntaxError(f"invalid JSONPath {text!r}: '$' alone is the whole secret; a json step "
                                  "sets or edits values inside it, so name a member, e.g. '$.password'")
    return JsonPath(text, tuple(segments))


def _segment(text: str, pos: int) -> tuple[Segment, int]:
    if text.startswith("..", pos):
        pos += 2
        if text.startswith("[", pos):
            segment, pos = _bracket(text, pos)
            return Segment(segment.kind, True, segment.name, segment.index, segment.slice_), pos
        return _dotted(text, pos, descendant=True)
    if text.startswith(".", pos):
        return _dotted(text, pos + 1, descendant=False)
    if text.startswith("[", pos):
        return _bracket(text, pos)
    raise _refused(text, pos)


def _dotted(text: str, pos: int, *, descendant: bool) -> tuple[Segment, int]:
    if text.startswith("*", pos):
        return Segment(SelectorKind.WILDCARD, descendant), pos + 1
    if text[pos : pos + 1] in ("'", '"'):  # $.'a b' as jsonpath-ng accepted it
        name, pos = _quoted(text, pos)
        return Segment(SelectorKind.NAME, descendant, name=name), pos
    m = _NAME.match(text, pos)
    if m is None:
        raise _refused(text, pos)
    return Segment(SelectorKind.NAME, descendant, name=m.group()), m.end()


def _bracket(text: str, pos: int) -> tuple[Segment, int]:
    pos = _SPACES.match(text, pos + 1).end()  # type: ignore[union-attr]  # " *" always matches
    segment: Segment
    if text.startswith("*", pos):
        segment, pos = Segment(SelectorKind.WILDCARD), pos + 1
    elif text[pos : pos + 1] in ("'", '"'):
        name, pos = _quoted(text, pos)
        segment = Segment(SelectorKind.NAME, name=name)
    else:
        segment, pos = _index_or_slice(text, pos)
    pos = _SPACES.match(text, pos).end()  # type: ignore[union-attr]
    if not text.startswith("]", pos):
        raise _refused(text, pos)
    return segment, pos + 1


def _quoted(text: str, pos: int) -> tuple[str, int]:
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise JsonPathSyntaxError(f"invalid JSONPath {text!r}: unterminated quoted name at offset {pos}")


def _index_or_slice(text: str, pos: int) -> tuple[Segment, int]:
    parts: list[int | None] = []
    while True:
        m = _INT.match(text, pos)
        parts.append(int(m.group()) if m else None)
        pos = m.end() if m else pos
        if len(parts) < 3 and text.startswith(":", pos):
            pos += 1
            continue
        break
    if len(parts) == 1:
        if parts[0] is None:
            raise _refused(text, pos)
        return Segment(SelectorKind.INDEX, index=parts[0]), pos
    if len(parts) == 3 and parts[2] == 0:
        raise JsonPathSyntaxError(f"invalid JSONPath {text!r}: a slice step cannot be 0")
    start, stop, step = [*parts, None][:3]
    return Segment(SelectorKind.SLICE, slice_=(start, stop, step)), pos


def _refused(text: str, pos: int) -> JsonPathSyntaxError:
    rest = text[pos:]
    if rest.startswith(("[?", "?")):
        why = "filter expressions are not supported"
    elif rest[:1] in ("(", "@"):
        why = "script expressions and functions are not supported"
    elif rest[:1] in ("+", "*", "/", "-", "=", "~", "<", ">", "!", "&", "|", " ", "`", ","):
        why = f"{rest[:1]!r} here is not part of the supported JSONPath subset"
    else:
        why = "unexpected character" if rest else "the path ends early"
    return JsonPathSyntaxError(f"invalid JSONPath {text!r} at offset {pos}: {why}; supported: {_ALLOWED}")


# --- evaluation -------------------------------------------------------------------------------------


def select(root: Node, path: JsonPath, tick: Callable[[], None]) -> list[Location]:
    """Every location ``path`` matches in the tree under ``root``, in document order, each once.

    ``tick`` is called once per node visit; it raises when the transform's deadline has passed.
    """
    current = [Location(None, 0, root)]
    for segment in path.segments:
        sources = _descendants(current, tick) if segment.descendant else current
        seen: set[tuple[int, int]] = set()
        out: list[Location] = []
        for loc in sources:
            tick()
            for i in _children(loc.node, segment):
                key = (id(loc.node), i)
                if key not in seen:
                    seen.add(key)
                    out.append(Location(loc.node, i, loc.node.children[i]))
        current = out
    return current


def _descendants(locations: list[Location], tick: Callable[[], None]) -> list[Location]:
    """The locations and everything below them, each once (a node under two selected nodes is
    visited from the first only: its whole subtree was already listed), depth first."""
    visited: set[int] = set()
    out: list[Location] = []
    for start in locations:
        stack = [start]
        while stack:
            loc = stack.pop()
            if id(loc.node) in visited:
                continue
            tick()
            visited.add(id(loc.node))
            out.append(loc)
            kids = loc.node.children
            stack.extend(Location(loc.node, i, kids[i]) for i in range(len(kids) - 1, -1, -1))
    return out


# Aliases for the per-node loop: an Enum member lookup costs ~0.4 us on Python 3.11.
_NAME_SEL, _WILDCARD, _INDEX, _SLICE = SelectorKind


def _children(node: Node, segment: Segment) -> Iterator[int]:
    if node.kind is OBJECT:
        if segment.kind is _WILDCARD:
            yield from range(len(node.children))
        elif segment.kind is _NAME_SEL:
            # Every member with that name: with duplicate keys both are written, so the result
            # means the same to a reader that keeps the first and to one that keeps the last.
            yield from (i for i, key in enumerate(node.keys) if key == segment.name)
    elif node.kind is ARRAY:
        n = len(node.children)
        if segment.kind is _WILDCARD:
            yield from range(n)
        elif segment.kind is _INDEX:
            i = segment.index + n if segment.index < 0 else segment.index
            if 0 <= i < n:
                yield i
        elif segment.kind is _SLICE:
            yield from range(*slice(*segment.slice_).indices(n))
