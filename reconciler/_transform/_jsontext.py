"""A JSON document that remembers its text, so a ``json`` step changes only what it writes.

``parse_document`` builds a tree whose nodes keep their spans in the original text. Edits replace
nodes with *synthetic* ones (spans -1). ``render`` copies every original byte outside the edited
nodes verbatim (numbers such as ``1e400``, ``0.30000000000000004441``, ``1e3``, ``-0.0`` and big
integers, string escapes, whitespace, key order and duplicate keys all survive) and renders only
the synthetic nodes, in the layout the document itself uses (indent, separators, ASCII escaping).

Everything here is iterative (a secret of 64 KiB may nest 30,000 levels deep) and linear in the
text's length; ``Ticker.tick`` is called per token / visit so a deadline stops any of it.
"""

from __future__ import annotations

import enum
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]  # untyped, C-accelerated
from typing import Any

from .._exceptions import TransformError

CHECK_EVERY = 1024  # ticks between two clock reads: cheap, and still well under a millisecond apart

_WS = re.compile(r"[ \t\n\r]*")
# One token after optional whitespace: exactly what json.loads accepts. Strings: no control
# characters, only JSON's escapes, as the "unrolled loop" (runs of plain characters between
# escapes, and every escape starts with a backslash a run cannot hold: linear, no backtracking).
# Literals: json.loads also accepts NaN and (-)Infinity; they are copied verbatim, never produced.
_TOKEN = re.compile(
    r"[ \t\n\r]*(?:"
    r"([{}\[\],:])"
    r'|("[^"\\\x00-\x1f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*")'
    r"|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|NaN|Infinity|-Infinity))"
)
_PUNCT, _STR = 1, 2  # _TOKEN's groups; 3 is any other scalar
_INDENT = re.compile(r"[ \t]*")
# json's own string scanner: (text, index after the opening quote, strict) -> (value, index after).
scanstring: Callable[[str, int, bool], tuple[str, int]] = _scanstring


class NotJson(ValueError):
    """The text is not one JSON value. Carries no part of the text."""


class Ticker:
    """Counts work and reads ``clock`` every ``CHECK_EVERY`` ticks: past ``deadline`` it raises."""

    def __init__(self, deadline: float, clock: Callable[[], float] | None = None) -> None:
        self.deadline = deadline
        self.clock = clock or time.thread_time  # looked up per call: a test may patch time.thread_time
        self.count = 0
        self.checks = 0
        self.check()

    def tick(self) -> None:
        self.count += 1
        if self.count % CHECK_EVERY == 0:
            self.check()

    def check(self) -> None:
        self.checks += 1
        if self.clock() >= self.deadline:
            raise TransformError("json step exceeded the transform time limit")


class NodeKind(enum.Enum):
    OBJECT = "object"
    ARRAY = "array"
    STRING = "string"
    SCALAR = "scalar"  # number, true, false, null (and json.loads' NaN/Infinity)


OBJECT, ARRAY, STRING, SCALAR = NodeKind  # aliases for hot loops (see _VALUE below)


# Per child of an original container: (key start, key end, value start, value end) in the text.
# Arrays have key start == key end == value start. Synthetic children have None.
Span = tuple[int, int, int, int]


_LEAF_LIST: list[Any] = []  # shared by every string and scalar node; never appended to


class Node:
    """One JSON value. ``start``/``end`` locate an original node's text; -1 marks a synthetic one.

    ``dirty`` marks an original container with an edit somewhere below it: ``render`` copies any
    original node that is not dirty as one slice of the text. Edits go through ``set_child`` and
    ``add_member``, which keep ``parent`` and ``dirty`` right. A plain slotted class: a secret
    has tens of thousands of nodes and a dataclass with list factories costs several times more.
    """

    __slots__ = ("children", "dirty", "end", "keys", "kind", "parent", "spans", "start", "string", "text")

    def __init__(self, kind: NodeKind, start: int = -1, end: int = -1, string: str | None = None,
                 text: str = "") -> None:
        self.kind = kind
        self.start = start
        self.end = end
        self.string = string  # STRING: the decoded value
        self.text = text  # synthetic scalar: its JSON text
        self.parent: Node | None = None
        self.dirty = False
        container = kind is OBJECT or kind is ARRAY
        self.keys: list[str] = [] if kind is OBJECT else _LEAF_LIST  # member names, in order
        self.children: list[Node] = [] if container else _LEAF_LIST
        self.spans: list[Span | None] = [] if container else _LEAF_LIST

    @property
    def synthetic(self) -> bool:
        return self.start < 0

    def set_child(self, index: int, node: Node) -> None:
        node.parent = self
        self.children[index] = node
        self._mark_dirty()

    def add_member(self, key: str, node: Node) -> None:
        node.parent = self
        self.keys.append(key)
        self.children.append(node)
        self.spans.append(None)
        self._mark_dirty()

    def _mark_dirty(self) -> None:
        node: Node | None = self
        while node is not None and not node.dirty:  # stops at the first dirty ancestor: amortised O(1)
            node.dirty = True
            node = node.parent


@dataclass(frozen=True)
class Style:
    """How the document is laid out, so new text looks like the old."""

    ensure_ascii: bool
    multiline: bool
    indent: str  # one level
    kv_sep: str  # between a key and its value, e.g. ": "
    item_sep: str  # between two members on one line, e.g. ", "


@dataclass
class Document:
    text: str
    root: Node
    style: Style

    def string_of(self, node: Node) -> str:
        """A STRING node's value (original strings are decoded only when asked for)."""
        if node.string is None:
            node.string = _decode(self.text, node.start, node.end)
        return node.string


# --- parsing ----------------------------------------------------------------------------------------


def parse_document(text: str, ticker: Ticker) -> Document:
    """Parse ``text`` (what json.loads accepts, but iteratively) keeping every node's span."""
    root = _parse(text, ticker)
    return Document(text, root, _style(text, root))


class _State(enum.Enum):
    VALUE = 1  # a value must come
    FIRST_ITEM = 2  # just after "[": a value or "]"
    FIRST_KEY = 3  # just after "{": a key or "}"
    KEY = 4  # after "," in an object
    COLON = 5
    AFTER = 6  # after a value: "," or the container's closing bracket


# Module-level aliases for the hot loops: an Enum member lookup costs ~0.4 us on Python 3.11,
# more than the rest of the per-token work.
_VALUE, _FIRST_ITEM, _FIRST_KEY, _KEY, _COLON, _AFTER = _State

def _parse(text: str, ticker: Ticker) -> Node:
    """One pass of ``_TOKEN`` matches driving a state machine over an explicit stack of open
    containers: no recursion, so any depth, and one regex match per token.

    Kept in one function on purpose: the per-token cost is most of a json step's time, and a
    call per token would double it.
    """
    match = _TOKEN.match
    stack: list[Node] = []
    keys: list[tuple[int, int]] = []  # (start, end) of the key whose value is being read, per open object
    state = _VALUE
    pos = 0
    while True:
        m = match(text, pos)
        if m is None:
            raise NotJson("unexpected text")
        ticker.tick()
        group = m.lastindex
        start, pos = m.start(group), m.end()  # type: ignore[arg-type]  # one group always matches
        ch = text[start]
        node: Node | None = None
        if state is _VALUE or state is _FIRST_ITEM:
            if group != _PUNCT:
                node = Node(STRING if group == _STR else SCALAR, start, pos)
            elif ch == "{":
                stack.append(Node(OBJECT, start))
                state = _FIRST_KEY
            elif ch == "[":
                stack.append(Node(ARRAY, start))
                state = _FIRST_ITEM
            elif ch == "]" and state is _FIRST_ITEM:
                node = stack.pop()
            else:
                raise NotJson("expected a value")
        elif state is _FIRST_KEY or state is _KEY:
            if group == _STR:
                stack[-1].keys.append(_decode(text, start, pos))
                keys.append((start, pos))
                state = _COLON
            elif ch == "}" and state is _FIRST_KEY:
                node = stack.pop()
            else:
                raise NotJson("expected a member name")
        elif state is _COLON:
            if ch != ":" or group != _PUNCT:
                raise NotJson("expected ':'")
            state = _VALUE
        else:  # AFTER
            top = stack[-1]
            if group == _PUNCT and ch == ",":
                state = _KEY if top.kind is OBJECT else _VALUE
            elif group == _PUNCT and ch == ("}" if top.kind is OBJECT else "]"):
                node = stack.pop()
            else:
                raise NotJson("expected ',' or a closing bracket")
        if node is None:
            continue
        if node.end < 0:
            node.end = pos  # a container that just closed
        if not stack:
            if _WS.match(text, pos).end() != len(text):  # type: ignore[union-attr]  # always matches
                raise NotJson("extra data after the JSON value")
            return node
        parent = stack[-1]
        node.parent = parent
        parent.children.append(node)
        ks, ke = keys.pop() if parent.kind is OBJECT else (node.start, node.start)
        parent.spans.append((ks, ke, node.start, node.end))
        state = _AFTER


def _decode(text: str, start: int, end: int) -> str:
    """The value of the string token text[start:end] (already checked by ``_TOKEN``)."""
    if "\\" not in text[start:end]:
        return text[start + 1 : end - 1]
    return scanstring(text, start + 1, True)[0]


def _style(text: str, root: Node) -> Style:
    stripped = text.strip()
    multiline = "\n" in stripped
    compact = ", " not in stripped and ": " not in stripped
    kv_sep, item_sep = (":", ",") if compact else (": ", ", ")
    kv, item = _first_separators(text, root)
    indent = "  "
    if multiline:
        second = stripped.split("\n", 1)[1]
        indent = second[: len(second) - len(second.lstrip())] or "  "
    return Style(
        ensure_ascii=text.isascii() and "\\u" in text,
        multiline=multiline,
        indent=indent,
        kv_sep=kv if kv is not None else kv_sep,
        item_sep=item if item is not None and "\n" not in item else item_sep,
    )


def _first_separators(text: str, root: Node) -> tuple[str | None, str | None]:
    """The text between the first key and its value, and between the first two siblings."""
    kv = item = None
    stack = [root]
    while stack and (kv is None or item is None):
        node = stack.pop()
        spans = [s for s in node.spans if s is not None]
        if node.kind is NodeKind.OBJECT and spans and kv is None:
            kv = text[spans[0][1] : spans[0][2]]
        if len(spans) > 1 and item is None:
            item = text[spans[0][3] : spans[1][0]]
        stack.extend(node.children)
    return kv, item


# --- synthetic nodes --------------------------------------------------------------------------------


def from_value(value: Any, style: Style) -> Node:
    """A synthetic node for a validated JSON value (depth is bounded at load, so recursion is safe)."""
    if isinstance(value, dict | list):
        node = Node(NodeKind.OBJECT if isinstance(value, dict) else NodeKind.ARRAY)
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            child = from_value(item, style)
            child.parent = node
            if isinstance(key, str):
                node.keys.append(key)
            node.children.append(child)
            node.spans.append(None)
        return node
    text = json.dumps(value, ensure_ascii=style.ensure_ascii, allow_nan=False)
    if isinstance(value, str):
        return Node(NodeKind.STRING, string=value, text=text)
    return Node(NodeKind.SCALAR, text=text)


# --- rendering --------------------------------------------------------------------------------------

# The work stack holds text to emit, or a node with its indentation: a string, or the offset of
# a line in the original text whose leading whitespace is the indentation (found only when a
# synthetic container needs it, so copying a long one-line document stays linear), or None for
# "inline": inside an original container written on one line, new containers stay on one line.
_Indent = str | int | None
_Work = str | tuple[Node, _Indent]


def render(doc: Document, ticker: Ticker) -> str:
    out: list[str] = [doc.text[: doc.root.start]]
    work: list[_Work] = [doc.text[doc.root.end :], (doc.root, 0)]
    while work:
        ticker.tick()
        item = work.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        node, indent = item
        pieces = _expand_original(doc, node, indent) if not node.synthetic else _expand_synthetic(doc, node, indent)
        work.extend(reversed(pieces))
    return "".join(out)


def _line_indent(doc: Document, indent: str | int) -> str:
    if isinstance(indent, str):
        return indent
    line_start = doc.text.rfind("\n", 0, indent) + 1
    return _INDENT.match(doc.text, line_start).group()  # type: ignore[union-attr]  # "[ \t]*" matches


def _expand_original(doc: Document, node: Node, indent: _Indent) -> list[_Work]:
    text = doc.text
    if not node.dirty:  # nothing below was edited: the original text, as one slice
        return [text[node.start : node.end]]
    originals = [(i, s) for i, s in enumerate(node.spans) if s is not None]
    added = [i for i, s in enumerate(node.spans) if s is None]
    if not originals:
        if not added:
            return [text[node.start : node.end]]
        return _expand_synthetic(doc, node, indent)
    opening = text[node.start : originals[0][1][0]]
    inline = "\n" not in opening  # "{" + whitespace before the first member: cheap to look at
    pieces: list[_Work] = [opening]
    prev_end = -1
    for i, (ks, _, vs, ve) in originals:
        if prev_end >= 0:
            pieces.append(text[prev_end:ks])
        pieces += [text[ks:vs], (node.children[i], None if inline else ks)]
        prev_end = ve
    if added:
        first = originals[0][1]
        if len(originals) > 1:
            sep = text[first[3] : originals[1][1][0]]
        else:
            gap = text[node.start + 1 : first[0]]
            sep = "," + gap if gap else doc.style.item_sep
        kv = text[first[1] : first[2]]
        member_indent: _Indent = sep.rsplit("\n", 1)[1] if "\n" in sep else None
        for i in added:
            pieces += [sep, _key_text(doc, node.keys[i]) + kv, (node.children[i], member_indent)]
    pieces.append(text[prev_end : node.end])
    return pieces


def _expand_synthetic(doc: Document, node: Node, indent: _Indent) -> list[_Work]:
    if node.kind in (NodeKind.STRING, NodeKind.SCALAR):
        return [node.text]
    is_object = node.kind is NodeKind.OBJECT
    open_, close = ("{", "}") if is_object else ("[", "]")
    if not node.children:
        return [open_ + close]
    style = doc.style
    pieces: list[_Work] = [open_]
    if style.multiline and indent is not None:
        outer = _line_indent(doc, indent)
        inner = outer + style.indent
        for i, child in enumerate(node.children):
            pieces.append(("\n" if i == 0 else ",\n") + inner)
            if is_object:
                pieces.append(_key_text(doc, node.keys[i]) + style.kv_sep)
            pieces.append((child, inner))
        pieces.append("\n" + outer + close)
        return pieces
    for i, child in enumerate(node.children):
        if i:
            pieces.append(style.item_sep)
        if is_object:
            pieces.append(_key_text(doc, node.keys[i]) + style.kv_sep)
        pieces.append((child, None))
    pieces.append(close)
    return pieces


def _key_text(doc: Document, key: str) -> str:
    return json.dumps(key, ensure_ascii=doc.style.ensure_ascii)
