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
from dataclasses import dataclass, field
from json.decoder import scanstring as _scanstring  # type: ignore[attr-defined]  # untyped, C-accelerated
from typing import Any

from .._exceptions import TransformError

CHECK_EVERY = 1024  # ticks between two clock reads: cheap, and still well under a millisecond apart

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
# json.loads accepts these three besides true/false/null; they are copied verbatim, never produced.
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")
_INDENT = re.compile(r"[ \t]*")
# json's own string scanner: (text, index after the opening quote, strict) -> (value, index after).
scanstring: Callable[[str, int, bool], tuple[str, int]] = _scanstring


class NotJson(ValueError):
    """The text is not one JSON value. Carries no part of the text."""


class Ticker:
    """Counts work and reads ``clock`` every ``CHECK_EVERY`` ticks: past ``deadline`` it raises."""

    def __init__(self, deadline: float, clock: Callable[[], float] | None = None) -> None:
        self.deadline = deadline
        self.clock = clock or time.monotonic  # looked up per call: a test may patch time.monotonic
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


# Per child of an original container: (key start, key end, value start, value end) in the text.
# Arrays have key start == key end == value start. Synthetic children have None.
Span = tuple[int, int, int, int]


@dataclass(eq=False)
class Node:
    """One JSON value. ``start``/``end`` locate an original node's text; -1 marks a synthetic one."""

    kind: NodeKind
    start: int = -1
    end: int = -1
    keys: list[str] = field(default_factory=list)  # objects: member names, in order
    children: list[Node] = field(default_factory=list)
    spans: list[Span | None] = field(default_factory=list)
    string: str | None = None  # STRING: the decoded value
    text: str = ""  # synthetic scalar: its JSON text

    @property
    def synthetic(self) -> bool:
        return self.start < 0


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


# --- parsing ----------------------------------------------------------------------------------------


def parse_document(text: str, ticker: Ticker) -> Document:
    """Parse ``text`` (what json.loads accepts, but iteratively) keeping every node's span."""
    root = _parse(text, ticker)
    return Document(text, root, _style(text, root))


def _parse(text: str, ticker: Ticker) -> Node:
    # A state machine over an explicit stack of open containers: no recursion, any depth.
    stack: list[Node] = []
    pos = _skip(text, 0)
    while True:
        ticker.tick()
        node, pos = _open(text, pos)
        if node.kind in (NodeKind.OBJECT, NodeKind.ARRAY):
            pos = _skip(text, pos)
            if text.startswith("}" if node.kind is NodeKind.OBJECT else "]", pos):
                node.end = pos + 1
                pos += 1
            else:
                stack.append(node)
                if node.kind is NodeKind.OBJECT:
                    pos = _key(text, pos, node)
                else:
                    node.spans.append((pos, pos, pos, -1))
                continue
        # ``node`` is complete: attach it, then close every container that ends here.
        while True:
            if not stack:
                if _skip(text, pos) != len(text):
                    raise NotJson("extra data after the JSON value")
                return node
            parent = stack[-1]
            parent.children.append(node)
            ks, ke, vs, _ = parent.spans[-1]  # type: ignore[misc]  # original members always have spans
            parent.spans[-1] = (ks, ke, vs, pos)
            pos = _skip(text, pos)
            if text.startswith(",", pos):
                pos = _skip(text, pos + 1)
                if parent.kind is NodeKind.OBJECT:
                    pos = _key(text, pos, parent)
                else:
                    parent.spans.append((pos, pos, pos, -1))
                break
            if not text.startswith("}" if parent.kind is NodeKind.OBJECT else "]", pos):
                raise NotJson("expected ',' or a closing bracket")
            pos += 1
            parent.end = pos
            node = stack.pop()


def _skip(text: str, pos: int) -> int:
    return _WS.match(text, pos).end()  # type: ignore[union-attr]  # "[ \t\n\r]*" always matches


def _open(text: str, pos: int) -> tuple[Node, int]:
    ch = text[pos : pos + 1]
    if ch == "{":
        return Node(NodeKind.OBJECT, pos), pos + 1
    if ch == "[":
        return Node(NodeKind.ARRAY, pos), pos + 1
    if ch == '"':
        value, end = _string(text, pos)
        return Node(NodeKind.STRING, pos, end, string=value), end
    m = _NUMBER.match(text, pos)
    if m is not None:
        return Node(NodeKind.SCALAR, pos, m.end()), m.end()
    for literal in _LITERALS:
        if text.startswith(literal, pos):
            return Node(NodeKind.SCALAR, pos, pos + len(literal)), pos + len(literal)
    raise NotJson("expected a JSON value")


def _string(text: str, pos: int) -> tuple[str, int]:
    try:
        return scanstring(text, pos + 1, True)
    except ValueError:
        raise NotJson("invalid string") from None


def _key(text: str, pos: int, obj: Node) -> int:
    """Read ``"key" :`` into ``obj``; return where the member's value starts."""
    if not text.startswith('"', pos):
        raise NotJson("expected a member name")
    key, key_end = _string(text, pos)
    colon = _skip(text, key_end)
    if not text.startswith(":", colon):
        raise NotJson("expected ':'")
    value_start = _skip(text, colon + 1)
    obj.keys.append(key)
    obj.spans.append((pos, key_end, value_start, -1))
    return value_start


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
    if isinstance(value, dict):
        return Node(NodeKind.OBJECT, keys=list(value), children=[from_value(v, style) for v in value.values()],
                    spans=[None] * len(value))
    if isinstance(value, list):
        return Node(NodeKind.ARRAY, children=[from_value(v, style) for v in value], spans=[None] * len(value))
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
    if node.kind in (NodeKind.STRING, NodeKind.SCALAR):
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
