"""POSIX ERE (GNU sed ``-E``, glibc, C.UTF-8) translated to the ``regex`` module's syntax.

Invariants:
- Whatever ``translate_ere`` accepts matches exactly what glibc's matcher matches in C.UTF-8.
  Anything we cannot translate exactly is refused with a SedSyntaxError, never approximated.
- Character classes, ``\\w``/``\\s`` and word boundaries use glibc's own tables (``_sed_tables``,
  generated from ``iswctype``), never the ``regex`` module's Unicode properties: glibc puts
  Arabic-Indic digits in ``alpha``, ``ǅ`` in ``upper``, ``①`` in ``punct`` and leaves U+00A0 out
  of ``space``.
- Case-insensitive matching is glibc's: two characters match when their ``towupper`` is equal
  (no full case folding: ``ss`` never matches ``ß``, ``[a-z]`` never matches the Kelvin sign). We
  get it by upper-casing the subject (``UPPER``, one code point to one, so offsets are kept) and
  the pattern's own characters; classes are then tested on the upper-cased character, as glibc
  does, and ``[:upper:]``/``[:lower:]`` mean ``[:alpha:]`` as in glibc's regcomp. Where glibc's
  own upper-casing goes wrong (an upper case longer in UTF-8), the item fails instead.
- Size is bounded before anything is compiled: ``units`` estimates glibc's expanded parse tree
  (an interval copies its atom, as regcomp does), so a regex GNU sed would refuse for size
  ("Regular expression too big", "Memory exhausted") is refused here in microseconds. The
  translated text is bounded too, which bounds the ``regex`` module's compile time and memory.
- Compiling is lazy (first use, then kept on the Ere): loading a manifest only parses and translates.
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass, field
from typing import Any

import regex

from .._exceptions import TransformError
from ._errors import SedSyntaxError
from ._sed_tables import CLASSES as _CLASS_TEXT
from ._sed_tables import UPPER as _UPPER_TEXT

RE_DUP_MAX = 32767  # glibc's ceiling on {n,m}: "Regular expression too big" above it
# Estimated expanded size (glibc parse-tree nodes). GNU sed refuses ((a{1000}){1000}){1000} and
# a{32767}{32767} (about 1e9 nodes) with "Memory exhausted" under a 256 MB limit and accepts
# (a{100}){800}; every single interval up to RE_DUP_MAX on one atom stays accepted.
MAX_REGEX_UNITS = 1 << 16
MAX_SCRIPT_UNITS = 1 << 18  # the sum over one script's regexes
# The translated pattern's length bounds the regex module's compile time (~5-20 us a character,
# so about 1 s at most) and memory; each class used adds its set (up to ~2,000 characters) once.
MAX_TRANSLATED_CHARS = 1 << 17
MAX_SCRIPT_TRANSLATED_CHARS = 1 << 22  # the sum over one script: bounds a script's memory (~16 MB)
MAX_GROUP_DEPTH = 100  # the regex module's parser recurses per nesting level
_COMPILE_FLAGS = regex.POSIX | regex.V0 | regex.DOTALL


def _decode_ranges(text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for item in text.split(","):
        lo, _, hi = item.partition("-")
        out.append((int(lo, 16), int(hi or lo, 16)))
    return tuple(out)


CLASS_RANGES: dict[str, tuple[tuple[int, int], ...]] = {k: _decode_ranges(v) for k, v in _CLASS_TEXT.items()}
UPPER: dict[int, int] = {int(a, 16): int(b, 16) for a, b in (p.split(":") for p in _UPPER_TEXT.split(","))}


def _set_char(c: int) -> str:
    """One code point inside a regex-module set: escaped unless plainly printable."""
    ch = chr(c)
    if c < 0x20 or c == 0x7F or ch in "\\]-[^":
        return f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"
    return ch


def _set_text(ranges: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> str:
    return "".join(_set_char(a) if a == b else f"{_set_char(a)}-{_set_char(b)}" for a, b in ranges)


_CLASS_SET = {name: _set_text(rs) for name, rs in CLASS_RANGES.items()}
_UPPER_GROWS = re.compile(
    "[" + "".join(_set_char(c) for c, u in sorted(UPPER.items()) if len(chr(u).encode()) > len(chr(c).encode())) + "]"
)
# A class spelled out is up to 2,000 characters, and the regex module's compiler costs ~20 us a
# character: each class a pattern uses is defined once, at its end, in a (?(DEFINE)...) block,
# and called as (?&sed_NAME) where it is used. DEFINE groups are numbered after the user's groups,
# so \1..\9 keep their meaning.
_SETS = {**{name: "[" + text + "]" for name, text in _CLASS_SET.items()},
         "word": "[" + _CLASS_SET["alnum"] + "_]"}  # glibc's IS_WIDE_WORD_CHAR: iswalnum or '_'
_WORD = "(?&sed_word)"
# Word boundaries spell the word set out instead of calling it: the regex module gets lookbehinds
# around a subroutine call wrong (they fail after a combining mark, a newline, or at the end).
# That makes each boundary ~8,000 characters, which MAX_TRANSLATED_CHARS bounds.
_WORD_SET = _SETS["word"]
_BOUNDARIES = {
    "<": f"(?<!{_WORD_SET})(?={_WORD_SET})",
    ">": f"(?<={_WORD_SET})(?!{_WORD_SET})",
    "b": f"(?:(?<!{_WORD_SET})(?={_WORD_SET})|(?<={_WORD_SET})(?!{_WORD_SET}))",
    "B": f"(?:(?<={_WORD_SET})(?={_WORD_SET})|(?<!{_WORD_SET})(?!{_WORD_SET}))",
}
# Escapes outside brackets, as regex-module syntax, and the named set each one uses.
_ESCAPES = {
    "w": (_WORD, "word"), "W": (f"(?:(?!{_WORD}).)", "word"),
    "s": ("(?&sed_space)", "space"), "S": ("(?:(?!(?&sed_space)).)", "space"),
    "n": ("\\n", ""), "t": ("\\t", ""),
}
# Anchors as (per line, in the whole text with MULTILINE): see SedScript.apply's pre-check.
_ANCHORS = {"^": ("^", "^"), "$": ("\\Z", "$"), "`": ("\\A", "^"), "'": ("\\Z", "$")}
# Characters GNU sed's regex reads literally after a backslash (\& included: a literal &).
_LITERAL_ESCAPES = frozenset(".*[]()+?{}|^$\\/&")


@dataclass(frozen=True)
class Ere:
    """A translated regex. ``compiled``/``whole`` compile on first use."""

    source: str
    translated: str
    translated_whole: str  # anchors per line of a whole text (SedScript.apply's pre-check)
    icase: bool
    groups: int
    units: int
    # Groups whose capture engines disagree on: inside a repeated group that can match empty.
    ambiguous_groups: frozenset[int] = frozenset()
    # Matches the empty string whatever surrounds it (a*, x?, ()); glibc then also matches in
    # the middle of a multi-byte character, which only matters after an empty match.
    empty_anywhere: bool = False

    # Compiled on first use and kept with this object (no process-wide cache: its memory would
    # outlive the scripts, and one compiled regex may hold several MB).
    @functools.cached_property
    def compiled(self) -> Any:
        return _compile(self.translated, False)

    @functools.cached_property
    def whole(self) -> Any:
        return _compile(self.translated_whole, True)

    def subject(self, text: str) -> str:
        """The text the compiled regex runs on: upper-cased as glibc does under ``I``."""
        if not self.icase:
            return text
        if _UPPER_GROWS.search(text):
            # glibc's matcher loses track of offsets when an upper case needs more UTF-8 bytes
            # (U+023F -> U+2C7E): GNU sed then splits runs and even writes broken characters.
            raise TransformError(
                "case-insensitive sed rule on text holding a character whose upper case is longer in "
                "UTF-8 (such as U+023F or U+0250); GNU sed's matcher mishandles these"
            )
        return text.translate(UPPER)


def _compile(translated: str, multiline: bool) -> Any:
    # The translator emits only syntax the regex module accepts; an error here is our bug, and
    # it surfaces as a failed item (TransformError in the executor), never as different bytes.
    return regex.compile(translated, _COMPILE_FLAGS | (regex.MULTILINE if multiline else 0))


def _quote(text: str, limit: int = 20) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass
class _Frame:
    """One open group (or the whole regex, number 0) while translating."""

    number: int
    start: int  # index in ``out`` of the group's "("
    units: int = 0  # this branch
    alt_units: int = 0  # finished branches
    nullable: bool = True  # every atom of this branch so far can match empty
    any_nullable: bool = False  # some finished branch can
    has_assert: bool = False
    # The last atom of this branch, which a quantifier applies to.
    atom_start: int | None = None
    atom_units: int = 0
    atom_nullable: bool = False
    nullable_before_atom: bool = True
    atom_group: tuple[int, int] | None = None  # (first, last) group numbers if the atom is a group
    atom_asserts: bool = False
    quantified: bool = False


@dataclass
class _Translator:
    """The ERE state machine: one pass over the pattern, one frame per open group.

    It is one long loop on purpose (the issue allows it): each branch handles one token and
    updates the frame's size, nullability and last-atom bookkeeping together.
    """

    pattern: str
    icase: bool
    out: list[str] = field(default_factory=list)
    anchors: dict[int, str] = field(default_factory=dict)  # index in out -> whole-text form
    groups: int = 0
    closed: set[int] = field(default_factory=set)
    group_nullable: dict[int, bool] = field(default_factory=dict)
    ambiguous: set[int] = field(default_factory=set)
    asserts: bool = False
    size: int = 0  # characters in ``out``
    sets: set[str] = field(default_factory=set)  # named sets to define at the end

    def run(self) -> Ere:
        p = self.pattern
        stack = [_Frame(0, 0)]
        i = 0
        while i < len(p):
            f = stack[-1]
            c = p[i]
            if c == "\\":
                if i + 1 >= len(p):
                    raise SedSyntaxError("trailing backslash in the regex")
                i = self._escape(f, p[i + 1], i + 2)
            elif c == "[":
                i, text, names = _bracket(p, i, self.icase)
                self.sets.update(names)
                self._atom(f, text)
            elif c == "(":
                if i + 1 < len(p) and p[i + 1] in "*+?{":
                    raise SedSyntaxError(f"{p[i + 1]!r} right after '(' is not supported")
                if len(stack) > MAX_GROUP_DEPTH:
                    raise SedSyntaxError(f"groups nested deeper than {MAX_GROUP_DEPTH}")
                self.groups += 1
                stack.append(_Frame(self.groups, len(self.out)))
                self.out.append("(")
                i += 1
            elif c == ")":
                if len(stack) == 1:
                    raise SedSyntaxError("unmatched ')' in the regex")
                self._close(stack.pop(), stack[-1])
                i += 1
            elif c in "*+?{":
                i = self._quantifier(f, p, i)
            elif c == "|":
                f.alt_units += f.units + 1
                f.any_nullable = f.any_nullable or f.nullable
                f.units, f.nullable, f.atom_start = 0, True, None
                self.out.append("|")
                i += 1
            elif c in "^$":
                self._assertion(f, c)
                i += 1
            elif c == ".":
                self._atom(f, ".")
                i += 1
            else:
                i = self._literal_run(f, p, i)
        if len(stack) > 1:
            raise SedSyntaxError("unmatched '(' in the regex")
        top = stack[0]
        units = top.alt_units + top.units
        defines = "".join(f"(?P<sed_{name}>{_SETS[name]})" for name in sorted(self.sets))
        if defines:
            self._emit(f"(?(DEFINE){defines})")
        translated = "".join(self.out)
        whole = "".join(self.anchors.get(k, s) for k, s in enumerate(self.out)) if self.anchors else translated
        nullable = top.any_nullable or top.nullable
        return Ere(p, translated, whole, self.icase, self.groups, units, frozenset(self.ambiguous),
                   nullable and not self.asserts)

    def _atom(self, f: _Frame, text: str, units: int = 1, nullable: bool = False,
              group: tuple[int, int] | None = None, asserts: bool = False) -> None:
        f.atom_start = len(self.out)
        f.atom_units, f.atom_nullable, f.atom_group, f.atom_asserts = units, nullable, group, asserts
        f.quantified = False
        f.nullable_before_atom = f.nullable
        f.nullable = f.nullable and nullable
        f.units += units
        self._check_units(f.units)
        if text:
            self._emit(text)

    def _literal_run(self, f: _Frame, p: str, i: int) -> int:
        # Each character is an atom of its own; a run is taken in one step (a 1 MiB literal must
        # not cost a Python loop turn a character), and only its last character can be repeated.
        m = _PLAIN_RUN.match(p, i)
        assert m is not None
        run = m.group()
        if self.icase:
            run = run.translate(UPPER)
        if len(run) > 1:
            self._atom(f, run[:-1].translate(_LITERAL_TABLE), units=len(run) - 1)
        self._atom(f, run[-1].translate(_LITERAL_TABLE))
        return m.end()

    def _assertion(self, f: _Frame, c: str) -> None:
        # Zero-width: nothing may repeat it, and a repeated group holding one is refused.
        self.asserts = f.has_assert = True
        if c in _ANCHORS:
            line_form, whole_form = _ANCHORS[c]
            self.anchors[len(self.out)] = whole_form
            self._emit(line_form)
        else:
            self._emit(_BOUNDARIES[c])
        f.units += 1
        f.atom_start = None

    def _escape(self, f: _Frame, e: str, i: int) -> int:
        if e.isdigit() and e != "0":
            n = int(e)
            if n not in self.closed:
                raise SedSyntaxError(f"back-reference \\{e} to a group not yet closed")
            if n in self.ambiguous:
                raise SedSyntaxError(f"back-reference \\{e} to a group inside a repetition that can match empty")
            self._atom(f, f"(?:\\{e})", nullable=self.group_nullable[n])
        elif e in _BOUNDARIES or e in "`'":
            self._assertion(f, e)
        elif e in _ESCAPES:
            text, name = _ESCAPES[e]
            if name:
                self.sets.add(name)
            self._atom(f, text)
        elif e in _LITERAL_ESCAPES:
            self._atom(f, _literal(e))
        else:
            raise SedSyntaxError(f"unsupported escape \\{e} in the regex")
        return i

    def _close(self, g: _Frame, parent: _Frame) -> None:
        self.out.append(")")
        self.closed.add(g.number)
        nullable = g.any_nullable or g.nullable
        self.group_nullable[g.number] = nullable
        parent.has_assert = parent.has_assert or g.has_assert
        start = g.start
        self._atom(parent, "", units=g.alt_units + g.units + 1, nullable=nullable,
                   group=(g.number, self.groups), asserts=g.has_assert)
        parent.atom_start = start

    def _quantifier(self, f: _Frame, p: str, i: int) -> int:
        c = p[i]
        if c == "{":
            j = p.find("}", i)
            if j < 0:
                raise SedSyntaxError("unmatched '{' in the regex")
            lo, hi, quant = _interval(p[i + 1 : j])
            i = j + 1
        else:
            lo, hi, quant = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c] + (c,)
            i += 1
        if f.atom_start is None:
            raise SedSyntaxError(f"{c!r} has nothing to repeat")
        if f.atom_asserts:
            raise SedSyntaxError("an anchor or word boundary inside a repeated group is not supported "
                                 "(GNU sed's matcher gets such groups wrong)")
        if f.atom_group is not None and hi != 1 and (f.quantified or f.atom_nullable):
            self.ambiguous.update(range(f.atom_group[0], f.atom_group[1] + 1))
        # glibc expands x{n,m} into m copies of x (n+1 for x{n,}); + is x x*.
        copies = hi if hi is not None else lo + 1
        units = f.atom_units * max(copies, 1) + 1
        f.units += units - f.atom_units
        self._check_units(units)
        self._check_units(f.units)
        f.atom_units = units
        f.atom_nullable = f.atom_nullable or lo == 0
        f.nullable = f.nullable_before_atom and f.atom_nullable
        if f.quantified:
            # ERE stacks quantifiers (a+? is (a+)?), where the regex module would read a lazy one.
            self.out.insert(f.atom_start, "(?:")
            self.out.append(")")
            self._shift_anchors(f.atom_start)
        self.out.append(quant)
        f.quantified = True
        return i

    def _emit(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_TRANSLATED_CHARS:
            raise SedSyntaxError("regex too big once its character classes and word boundaries are "
                                 f"spelled out (over {MAX_TRANSLATED_CHARS} characters)")
        self.out.append(text)

    def _shift_anchors(self, at: int) -> None:
        self.anchors = {(k + 1 if k >= at else k): v for k, v in self.anchors.items()}

    @staticmethod
    def _check_units(units: int) -> None:
        if units > MAX_REGEX_UNITS:
            raise SedSyntaxError("regular expression too big: its repetitions expand past "
                                 f"{MAX_REGEX_UNITS} elements (GNU sed: 'Regular expression too big' "
                                 "or 'Memory exhausted')")


def _literal(c: str) -> str:
    return "\\" + c if c in string.punctuation else c


# Characters with no ERE meaning outside brackets: literal runs. ASCII punctuation is escaped
# for the regex module, everything else stands for itself.
_PLAIN_RUN = re.compile(r"[^\\\[()*+?{|^$.]+")
_LITERAL_TABLE = {ord(c): "\\" + c for c in string.punctuation}


def _interval(body: str) -> tuple[int, int | None, str]:
    m = regex.fullmatch(r"(\d*)(,?)(\d*)", body) if len(body) <= 12 else None
    if not m or (not m.group(1) and not m.group(3) and m.group(2)) or body == "":
        raise SedSyntaxError(f"invalid interval {{{body[:12]}{'...' if len(body) > 12 else ''}}}")
    lo = int(m.group(1)) if m.group(1) else 0
    hi = int(m.group(3)) if m.group(3) else None
    if lo > RE_DUP_MAX or (hi is not None and hi > RE_DUP_MAX):
        raise SedSyntaxError(f"regular expression too big: interval above RE_DUP_MAX ({RE_DUP_MAX})")
    if hi is not None and hi < lo:
        raise SedSyntaxError(f"invalid interval {{{body}}}")
    if not m.group(2):
        return lo, lo, f"{{{lo}}}"
    return lo, hi, f"{{{lo},{'' if hi is None else hi}}}"


def _bracket(p: str, i: int, icase: bool) -> tuple[int, str, set[str]]:
    """Translate the bracket expression at p[i] == '['; return (next index, text, named sets used).

    Without classes it is a regex-module set. With classes it is one character matched by a
    call of each class's named set or the explicit set; negated, by none of them.

    Explicit characters and (ASCII) ranges are upper-cased under ``I``; classes are not (glibc
    tests them on the upper-cased character), except upper/lower, which mean alpha there.

    One function (just over 60 lines) because POSIX bracket syntax is one small state machine:
    a leading ``^`` or ``]``, classes, equivalence/collating refusals and ranges share the cursor.
    """
    j = i + 1
    negate = j < len(p) and p[j] == "^"
    j += negate
    chars: list[tuple[int, int]] = []
    classes: list[str] = []
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
                if name not in CLASS_RANGES:
                    raise SedSyntaxError(f"unknown character class {_quote(name)}")
                classes.append("alpha" if icase and name in ("upper", "lower") else name)
            elif len(name) != 1 or not name.isascii():
                # glibc in C.UTF-8 knows single-byte collating elements only
                raise SedSyntaxError("invalid collation character (GNU sed: only one ASCII character)")
            else:
                chars.append((ord(name), ord(name)))
            continue
        j, lo = _bracket_char(p, j)
        if j + 1 < len(p) and p[j] == "-" and p[j + 1] != "]":
            if p[j + 1] == "[":
                raise SedSyntaxError("a range ending in a class or collating element is not supported")
            j, hi = _bracket_char(p, j + 1)
            if hi < lo:
                raise SedSyntaxError(f"invalid range end in [{chr(lo)}-{chr(hi)}]")
            if lo > 0x7F or hi > 0x7F:
                raise SedSyntaxError(f"a range with a non-ASCII end [{chr(lo)}-{chr(hi)}] depends on the locale")
            chars.append((lo, hi))
        else:
            chars.append((lo, lo))
    if icase:
        chars = [(u, u) for u in sorted({UPPER.get(x, x) for a, b in chars for x in range(a, b + 1)})]
    names = list(dict.fromkeys(classes))
    explicit = _set_text(chars)
    if not names:
        return j, "[" + ("^" if negate else "") + explicit + "]", set()
    calls = [f"(?&sed_{name})" for name in names]
    if negate:
        text = "(?:" + "".join(f"(?!{call})" for call in calls) + (f"[^{explicit}]" if explicit else ".") + ")"
    else:
        text = "(?:" + "|".join(calls + ([f"[{explicit}]"] if explicit else [])) + ")"
    return j, text, set(names)


def _bracket_char(p: str, j: int) -> tuple[int, int]:
    # GNU sed turns \n and \t into the characters before glibc sees the bracket; any other
    # backslash inside brackets is a literal backslash.
    if p[j] == "\\" and j + 1 < len(p) and p[j + 1] in "nt":
        return j + 2, ord("\n" if p[j + 1] == "n" else "\t")
    return j + 1, ord(p[j])


def translate_ere(pattern: str, icase: bool) -> Ere:
    """Translate (and bound) one ERE; raises SedSyntaxError. Nothing is compiled here."""
    if pattern == "":
        raise SedSyntaxError("empty regex (sed's 'last regex' is not supported)")
    return _Translator(pattern, icase).run()
