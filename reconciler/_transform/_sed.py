"""A GNU ``sed -E`` subset: ``s`` and ``/regex/d`` commands, applied line by line.

The accepted language is deliberately closed: whatever parses here produces, byte for byte, what
``LC_ALL=C.UTF-8 sed -E`` produces on the same text (tests/test_sed_differential.py holds us to
that). Anything outside it is rejected when the manifest is loaded, never guessed at.

Regexes are translated from POSIX ERE to the ``regex`` module in POSIX (leftmost-longest) mode,
the matching rule GNU sed follows; ``regex`` also gives us a per-call timeout, which is how a
runaway rule is stopped on a large value.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import regex

from .._exceptions import TransformError
from ._errors import SedSyntaxError

RE_DUP_MAX = 32767  # glibc's ceiling on {n,m}

_POSIX_CLASSES = frozenset(
    {"alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper",
     "xdigit"}
)
# Escapes GNU sed understands outside bracket expressions, as regex-module syntax.
_REGEX_ESCAPES = {
    "w": r"\w", "W": r"\W", "s": r"\s", "S": r"\S", "b": r"\b", "B": r"\B",
    "<": r"\b(?=\w)", ">": r"\b(?<=\w)", "`": r"\A", "'": r"\Z", "n": r"\n", "t": r"\t",
}
_LITERAL_ESCAPES = frozenset(".*[]()+?{}|^$\\/")


@dataclass(frozen=True)
class _Regex:
    source: str
    compiled: Any  # regex.Pattern; the module ships no stubs
    # Groups whose capture engines disagree on: inside a repeated group that can match empty.
    ambiguous_groups: frozenset[int] = frozenset()
    # Matches the empty string whatever surrounds it (a*, x?, ()); glibc then also matches in
    # the middle of a multi-byte character, which only matters after an empty match.
    empty_anywhere: bool = False
    whole: Any = None  # the same regex with anchors per line of a whole text (a pre-check)


@dataclass(frozen=True)
class Substitute:
    regex: _Regex
    replacement: tuple[str | int, ...]  # literal text, or a group number (0 is &)
    occurrence: int  # 1 = first match
    global_: bool


@dataclass(frozen=True)
class Delete:
    regex: _Regex


Command = Substitute | Delete


@dataclass(frozen=True)
class SedScript:
    commands: tuple[Command, ...] = field(default_factory=tuple)

    def apply(self, text: str, deadline: float) -> str:
        """Run the script over ``text`` as sed does: each line through every command in order.

        With only ``s`` and ``d`` every line is independent, so commands run one at a time over
        all lines, and only on the lines where the regex can match: those are found by searching
        the text as a whole with anchors taken per line, which finds every line-local match (a
        match inside one line matches there in the whole text too) and costs one search per
        candidate line instead of one per line.
        """
        lines = list(_lines(text))
        for cmd in self.commands:
            if not lines:
                break
            candidates = _candidate_lines(cmd.regex, [line for line, _ in lines], deadline)
            if not candidates:
                continue
            if isinstance(cmd, Delete):
                gone = {i for i in candidates if _search(cmd.regex, lines[i][0], 0, deadline) is not None}
                lines = [x for i, x in enumerate(lines) if i not in gone]
            else:
                for i in candidates:
                    lines[i] = (_substitute(cmd, lines[i][0], deadline), lines[i][1])
        return "".join(line + nl for line, nl in lines)


def _candidate_lines(rx: _Regex, lines: list[str], deadline: float) -> list[int]:
    text = "\n".join(lines)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    out: list[int] = []
    pos = 0
    while pos <= len(text):
        m = _search(rx, text, pos, deadline, whole=True)
        if m is None:
            break
        i = bisect.bisect_right(starts, m.start()) - 1
        out.append(i)
        if i + 1 >= len(starts):
            break
        pos = starts[i + 1]
    return out


def _lines(text: str) -> Iterator[tuple[str, str]]:
    start = 0
    while start < len(text):
        nl = text.find("\n", start)
        if nl < 0:
            yield text[start:], ""
            return
        yield text[start:nl], "\n"
        start = nl + 1


def _search(rx: _Regex, line: str, pos: int, deadline: float, *, whole: bool = False) -> Any:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TransformError("sed rule exceeded the transform time limit")
    try:
        return (rx.whole if whole else rx.compiled).search(line, pos, timeout=remaining)
    except TimeoutError:
        raise TransformError("sed rule exceeded the transform time limit") from None


def _substitute(cmd: Substitute, line: str, deadline: float) -> str:
    # GNU sed's do_subst: an empty match is not allowed right where the previous match ended,
    # and after an empty match one character is copied before searching again.
    out: list[str] = []
    pos = 0
    count = 0
    prev_end = -1
    replaced = False
    while pos <= len(line):
        m = _search(cmd.regex, line, pos, deadline)
        if m is None:
            break
        start, end = m.span()
        if start == end and start == prev_end:
            if start >= len(line):
                break
            _check_single_byte(cmd, line, start)
            out.append(line[pos : start + 1])
            pos = start + 1
            continue
        out.append(line[pos:start])
        count += 1
        if count >= cmd.occurrence and (cmd.global_ or not replaced):
            out.append(_expand(cmd.replacement, m))
            replaced = True
        else:
            out.append(line[start:end])
        prev_end = end
        if replaced and not cmd.global_:
            pos = end
            break
        if start == end:
            if end < len(line):
                _check_single_byte(cmd, line, end)
                out.append(line[end])
            pos = end + 1
        else:
            pos = end
    out.append(line[pos:])
    return "".join(out)


def _check_single_byte(cmd: Substitute, line: str, i: int) -> None:
    # After an empty match GNU sed steps over one *byte* and searches again, so next to a
    # multi-byte UTF-8 character it would split that character. Refuse rather than corrupt.
    # An empty match inserts only the replacement's literal text (every group is empty too), so
    # the split is harmless when there is none and no match is being counted.
    harmful = cmd.occurrence > 1 or any(isinstance(p, str) for p in cmd.replacement)
    if cmd.regex.empty_anywhere and harmful and ord(line[i]) > 0x7F:
        raise TransformError(
            "sed rule matches the empty string next to a non-ASCII character; "
            "GNU sed would split that character's bytes (make the regex match at least one character)"
        )


def _expand(parts: tuple[str | int, ...], m: Any) -> str:
    return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)


# --- parsing -------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        c = self.peek()
        self.pos += 1
        return c

    def at_end(self) -> bool:
        return self.pos >= len(self.text)


def parse_script(text: str) -> SedScript:
    """Parse one rule or a whole sed file (commands separated by newlines or ``;``)."""
    r = _Reader(text)
    commands: list[Command] = []
    while True:
        while r.peek() in (" ", "\t", "\n", ";") and not r.at_end():
            r.next()
        if r.at_end():
            break
        c = r.peek()
        if c == "#":
            while not r.at_end() and r.peek() != "\n":
                r.next()
            continue
        if c == "s":
            r.next()
            commands.append(_parse_s(r))
        elif c in ("/", "\\"):
            commands.append(_parse_delete(r))
        else:
            raise SedSyntaxError(f"unsupported command {c!r} at offset {r.pos} (only s and /regex/d)")
        _end_of_command(r)
    if not commands:
        raise SedSyntaxError("no command")
    return SedScript(tuple(commands))


def _end_of_command(r: _Reader) -> None:
    while r.peek() in (" ", "\t"):
        r.next()
    if r.at_end() or r.peek() in ("\n", ";", "#"):
        return
    raise SedSyntaxError(f"unexpected {r.peek()!r} at offset {r.pos} after the command")


def _read_delimited(r: _Reader, delim: str, what: str) -> str:
    """Read up to an unescaped ``delim``; ``\\<delim>`` becomes the bare delimiter, as in GNU sed.

    Inside a bracket expression of a regex GNU sed keeps the backslash (``[\\/]`` matches both
    characters), so brackets are tracked; an unescaped delimiter still ends the regex there.
    """
    out: list[str] = []
    bracket = -1  # index in ``out`` where the open bracket expression started, or -1
    while True:
        if r.at_end():
            raise SedSyntaxError(f"unterminated {what}: missing closing {delim!r}")
        c = r.next()
        if c == "\n":
            raise SedSyntaxError(f"newline inside the {what}")
        if c == "\\":
            n = r.next()
            if n == "":
                raise SedSyntaxError(f"trailing backslash in the {what}")
            if n == delim and bracket < 0:
                out.append(delim)
            elif n == "n":
                out.append("\\n")
            else:
                out.append("\\" + n)
            continue
        if c == delim:
            return "".join(out)
        if what == "regex":
            if bracket < 0 and c == "[":
                bracket = len(out)
                out.append(c)
                if r.peek() == "^":
                    out.append(r.next())
                if r.peek() == "]":
                    out.append(r.next())
                continue
            if bracket >= 0:
                if c == "[" and r.peek() in (":", "=", "."):
                    kind = r.next()
                    out.append(c + kind)
                    while not r.at_end() and not (r.peek() == kind and r.text[r.pos + 1 : r.pos + 2] == "]"):
                        if r.peek() == delim:
                            break
                        out.append(r.next())
                    if r.peek() == kind:
                        out.append(r.next() + r.next())
                    continue
                if c == "]":
                    bracket = -1
        out.append(c)


def _parse_s(r: _Reader) -> Substitute:
    delim = r.next()
    if delim in ("", "\n", "\\"):
        raise SedSyntaxError("s needs a delimiter other than newline and backslash")
    pattern = _read_delimited(r, delim, "regex")
    repl_text = _read_delimited(r, delim, "replacement")
    flags = ""
    while r.peek() not in ("", " ", "\t", "\n", ";", "#"):
        flags += r.next()
    occurrence, global_, icase = _parse_flags(flags)
    rx = compile_ere(pattern, icase)
    replacement = _parse_replacement(repl_text, rx.compiled.groups)
    used = {p for p in replacement if isinstance(p, int)} & rx.ambiguous_groups
    if used:
        raise SedSyntaxError(
            f"\\{min(used)} refers to a group inside a repetition that can match the empty string; "
            "what it captures is not well defined (write (a+)* rather than (a*)+)"
        )
    return Substitute(rx, replacement, occurrence, global_)


def _parse_flags(flags: str) -> tuple[int, bool, bool]:
    occurrence, global_, icase = 0, False, False
    i = 0
    while i < len(flags):
        c = flags[i]
        if c == "g":
            if global_:
                raise SedSyntaxError("flag g given twice")
            global_ = True
        elif c in ("i", "I"):
            icase = True
        elif c.isdigit():
            if occurrence:
                raise SedSyntaxError("more than one number flag")
            j = i
            while j < len(flags) and flags[j].isdigit():
                j += 1
            occurrence = int(flags[i:j])
            if occurrence == 0:
                raise SedSyntaxError("number flag must be 1 or more")
            i = j
            continue
        else:
            raise SedSyntaxError(f"unsupported s flag {c!r} (supported: g, i, I, a number)")
        i += 1
    return occurrence or 1, global_, icase


def _parse_delete(r: _Reader) -> Delete:
    c = r.next()
    if c == "\\":
        delim = r.next()
        if delim in ("", "\n", "\\"):
            raise SedSyntaxError("bad address delimiter")
    else:
        delim = "/"
    pattern = _read_delimited(r, delim, "regex")
    icase = False
    while r.peek() in ("I", " ", "\t"):
        if r.next() == "I":
            icase = True
    if r.next() != "d":
        raise SedSyntaxError("an address must be followed by d (the only command supported after one)")
    return Delete(compile_ere(pattern, icase))


def _parse_replacement(text: str, groups: int) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "&":
            parts.append("".join(buf))
            buf = []
            parts.append(0)
        elif c == "\\":
            i += 1
            n = text[i]
            if n.isdigit() and n != "0":
                if int(n) > groups:
                    raise SedSyntaxError(f"invalid reference \\{n} on s command's RHS")
                parts.append("".join(buf))
                buf = []
                parts.append(int(n))
            elif n == "n":
                buf.append("\n")
            elif n == "t":
                buf.append("\t")
            elif n in ("&", "\\") or not n.isalnum():
                buf.append(n)
            else:
                raise SedSyntaxError(f"unsupported escape \\{n} in the replacement")
        else:
            buf.append(c)
        i += 1
    parts.append("".join(buf))
    return tuple(p for p in parts if p != "")


# --- POSIX ERE -> regex module -------------------------------------------------------------------


def compile_ere(pattern: str, icase: bool) -> _Regex:
    if pattern == "":
        raise SedSyntaxError("empty regex (sed's 'last regex' is not supported)")
    translated, ambiguous, asserts = _translate(pattern)
    flags = regex.POSIX | regex.V0 | regex.DOTALL
    if icase:
        flags |= regex.IGNORECASE | regex.FULLCASE
    try:
        compiled = regex.compile(translated, flags)
        whole = regex.compile(_translate(pattern, line_anchors=True)[0], flags | regex.MULTILINE)
    except regex.error as exc:
        raise SedSyntaxError(f"invalid regex: {exc.msg}") from None
    empty_anywhere = compiled.match("") is not None and not asserts
    return _Regex(pattern, compiled, frozenset(ambiguous), empty_anywhere, whole)


_LINE_ANCHORS = {"`": "^", "'": "$"}


def _translate(p: str, line_anchors: bool = False) -> tuple[str, set[int], bool]:
    out: list[str] = []
    # Index in ``out`` where the last atom starts, so a stacked quantifier can wrap it.
    atom_start: int | None = None
    quantified = False
    group_count = 0
    closed_groups: set[int] = set()
    open_stack: list[tuple[int, int]] = []  # (group number, index in out)
    last_group: tuple[int, int] | None = None  # (number, last nested number) if the atom is a group
    ambiguous: set[int] = set()
    asserts = False  # any anchor or word-boundary assertion
    anchored_groups: set[int] = set()  # groups holding an assertion (glibc mishandles them repeated)
    i = 0
    n = len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise SedSyntaxError("trailing backslash in the regex")
            e = p[i + 1]
            i += 2
            atom_start, quantified, last_group = len(out), False, None
            if e.isdigit() and e != "0":
                if int(e) not in closed_groups:
                    raise SedSyntaxError(f"back-reference \\{e} to a group not yet closed")
                if int(e) in ambiguous:
                    raise SedSyntaxError(f"back-reference \\{e} to a group inside a repetition that can match empty")
                out.append(f"(?:\\{e})")
            elif e in _REGEX_ESCAPES:
                out.append(_LINE_ANCHORS[e] if line_anchors and e in _LINE_ANCHORS else _REGEX_ESCAPES[e])
                if e in "bB<>`'":
                    atom_start, asserts = None, True
                    anchored_groups.update(n for n, _ in open_stack)
            elif e in _LITERAL_ESCAPES:
                out.append(regex.escape(e))
            else:
                raise SedSyntaxError(f"unsupported escape \\{e} in the regex")
            continue
        if c == "[":
            j, body = _bracket(p, i)
            atom_start, quantified, last_group = len(out), False, None
            out.append(body)
            i = j
            continue
        if c == "(":
            if i + 1 < n and p[i + 1] in "*+?{":
                raise SedSyntaxError(f"{p[i + 1]!r} right after '(' is not supported")
            group_count += 1
            open_stack.append((group_count, len(out)))
            out.append("(")
            atom_start, last_group = None, None
            i += 1
            continue
        if c == ")":
            if not open_stack:
                raise SedSyntaxError("unmatched ')' in the regex")
            number, start = open_stack.pop()
            closed_groups.add(number)
            out.append(")")
            atom_start, quantified = start, False
            last_group = (number, group_count)
            i += 1
            continue
        if c in "*+?{":
            if c == "{":
                j = p.find("}", i)
                if j < 0:
                    raise SedSyntaxError("unmatched '{' in the regex")
                quant = _interval(p[i + 1 : j])
                i = j + 1
            else:
                quant = c
                i += 1
            if atom_start is None:
                raise SedSyntaxError(f"{c!r} has nothing to repeat")
            if last_group is not None and last_group[0] in anchored_groups:
                raise SedSyntaxError("an anchor or word boundary inside a repeated group is not supported "
                                     "(GNU sed's matcher gets such groups wrong)")
            if last_group is not None and quant not in ("?", "{0,1}", "{1}"):
                body = "".join(out[atom_start + 1 : -1]) if not quantified else ""
                if quantified or _can_match_empty(body):
                    ambiguous.update(range(last_group[0], last_group[1] + 1))
            if quantified:
                # ERE stacks quantifiers (a+? is (a+)?), where Python would read a lazy one.
                out.insert(atom_start, "(?:")
                out.append(")")
            out.append(quant)
            quantified = True
            continue
        if c == "|":
            out.append("|")
            atom_start, last_group = None, None
            i += 1
            continue
        if c in "^$":  # ERE anchors, anywhere in the regex
            asserts = True
            anchored_groups.update(n for n, _ in open_stack)
            out.append("^" if c == "^" else "$" if line_anchors else r"\Z")
            atom_start, last_group = None, None
            i += 1
            continue
        atom_start, quantified, last_group = len(out), False, None
        out.append("." if c == "." else regex.escape(c))
        i += 1
    if open_stack:
        raise SedSyntaxError("unmatched '(' in the regex")
    return "".join(out), ambiguous, asserts


def _can_match_empty(body: str) -> bool:
    try:
        return regex.fullmatch(body, "", regex.V0) is not None
    except regex.error:
        return True


def _interval(body: str) -> str:
    m = regex.fullmatch(r"(\d*)(,?)(\d*)", body)
    if not m or (not m.group(1) and not m.group(3) and m.group(2)) or body == "":
        raise SedSyntaxError(f"invalid interval {{{body}}}")
    lo = int(m.group(1)) if m.group(1) else 0
    hi = int(m.group(3)) if m.group(3) else None
    if lo > RE_DUP_MAX or (hi is not None and (hi > RE_DUP_MAX or hi < lo)):
        raise SedSyntaxError(f"invalid interval {{{body}}}")
    if not m.group(2):
        return f"{{{lo}}}"
    return f"{{{lo},{'' if hi is None else hi}}}"


def _bracket(p: str, i: int) -> tuple[int, str]:
    """Translate the bracket expression starting at p[i] == '['; return (next index, text)."""
    j = i + 1
    negate = False
    if j < len(p) and p[j] == "^":
        negate = True
        j += 1
    items: list[str] = []
    first = True
    while True:
        if j >= len(p):
            raise SedSyntaxError("unmatched '[' in the regex")
        c = p[j]
        if c == "]" and not first:
            j += 1
            break
        first = False
        if c == "[" and j + 1 < len(p) and p[j + 1] in ":=.":
            kind = p[j + 1]
            end = p.find(kind + "]", j + 2)
            if end < 0:
                raise SedSyntaxError("unterminated [: :], [= =] or [. .] in a bracket expression")
            name = p[j + 2 : end]
            j = end + 2
            if kind == ":":
                if name not in _POSIX_CLASSES:
                    raise SedSyntaxError(f"unknown character class [:{name}:]")
                items.append(f"[:{name}:]")
            else:
                if len(name) != 1:
                    raise SedSyntaxError(f"unsupported collating element [{kind}{name}{kind}]")
                items.append(_set_char(name))
            continue
        if c == "\\" and j + 1 < len(p) and p[j + 1] in "nt":
            ch = "\n" if p[j + 1] == "n" else "\t"
            j += 2
        else:
            ch = c
            j += 1
        # a range?
        if j + 1 < len(p) and p[j] == "-" and p[j + 1] != "]":
            hi = p[j + 1]
            if hi == "[":
                raise SedSyntaxError("a range ending in a class or collating element is not supported")
            if hi == "\\" and j + 2 < len(p) and p[j + 2] in "nt":
                hi = "\n" if p[j + 2] == "n" else "\t"
                j += 1
            if ord(hi) < ord(ch):
                raise SedSyntaxError(f"invalid range end in [{ch}-{hi}]")
            if not (ch.isascii() and hi.isascii()):
                raise SedSyntaxError(f"a range with a non-ASCII end [{ch}-{hi}] depends on the locale")
            items.append(f"{_set_char(ch)}-{_set_char(hi)}")
            j += 2
        else:
            items.append(_set_char(ch))
    return j, "[" + ("^" if negate else "") + "".join(items) + "]"


def _set_char(ch: str) -> str:
    return "\\" + ch if ch in "\\]-[^" else ch
