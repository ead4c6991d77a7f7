"""Parsing sed scripts: ``s`` and ``/regex/d`` commands, ``#`` comments, ``;`` and newlines.

Invariants:
- The accepted language is closed: whatever parses here runs exactly as
  ``LC_ALL=C.UTF-8 sed -E`` would (tests/test_sed_differential.py, tests/test_sed_gnu.py).
  Anything else is a SedSyntaxError at load.
- Parsing is linear in the script and bounded in size (see _sed_ere): a script of any length
  loads or is refused without compiling a regex.
- An error message names the rule's line and quotes at most ``QUOTE_LIMIT`` characters of that
  line and nothing else from the script: a rules file must not be able to leak its other lines
  (or a secret pasted into them) through an error.
"""

from __future__ import annotations

import functools
import re

from ._errors import SedSyntaxError
from ._sed_ere import MAX_SCRIPT_TRANSLATED_CHARS, MAX_SCRIPT_UNITS, translate_ere
from ._sed_exec import Command, Delete, SedScript, Substitute

QUOTE_LIMIT = 80
# A regex or replacement longer than a whole sed_file may be (64 KiB) is refused as it is read:
# reading and translating then cost at most this much per command.
MAX_PART_CHARS = 1 << 16
# Parsing costs ~15 us a command; a 64 KiB sed_file holds fewer than 10,000 real commands.
MAX_SCRIPT_COMMANDS = 10_000
_SEPARATORS = re.compile(r"[ \t\n;]*")
# A replacement as tokens: an escape (the reader guarantees a character after every backslash),
# an ampersand, or a run of plain text.
_REPLACEMENT_TOKENS = re.compile(r"\\.|&|[^\\&]+", re.DOTALL)


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


def parse_script(text: str, *, quote: bool = True) -> SedScript:
    """Parse one rule or a whole sed file (commands separated by newlines or ``;``).

    ``quote=False`` (rule files): errors name the line but quote nothing of the file. A file is
    not the manifest: a mistyped ``sed_file: .env`` must not print a credential as "the rule".
    """
    try:
        return _parse_script(text)
    except SedSyntaxError as exc:
        if quote:
            raise
        raise SedSyntaxError(_redact(str(exc))) from None


_RULE = re.compile(r", rule '(?:[^'\\]|\\.)*'(?:\.\.\.)?")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\{[^}]*\}")


def _redact(message: str) -> str:
    """The message without any quoted text: what remains is the line number and the kind of error."""
    return _QUOTED.sub("(not quoted)", _RULE.sub("", message))


def _parse_script(text: str) -> SedScript:
    if text.startswith("#n"):
        # GNU sed 4.9 reads a script that starts with "#n" (any "#n...", as -e or -f) as -n: it
        # prints nothing, so the destination would be overwritten with an empty value. Refused
        # rather than mirrored: an empty secret written without a word is worse than a load
        # error, and it is never what a comment line was meant to do.
        raise SedSyntaxError("line 1: a script starting with '#n' means -n (print nothing) in GNU sed; "
                             "refused, as it would write an empty value (start the comment with '# n')")
    r = _Reader(text)
    commands: list[Command] = []
    units = chars = 0
    while True:
        r.pos = _SEPARATORS.match(text, r.pos).end()  # type: ignore[union-attr]  # * always matches
        if r.at_end():
            break
        start = r.pos
        try:
            if r.peek() == "#":
                end = text.find("\n", r.pos)
                r.pos = len(text) if end < 0 else end
                continue
            cmd = _parse_command(r)
            _end_of_command(r)
        except SedSyntaxError as exc:
            raise SedSyntaxError(f"{_where(text, start)}: {exc}") from None
        units += cmd.regex.units
        rx = cmd.regex
        chars += len(rx.translated) + (len(rx.translated_whole) if rx.translated_whole is not rx.translated else 0)
        if units > MAX_SCRIPT_UNITS or chars > MAX_SCRIPT_TRANSLATED_CHARS:
            raise SedSyntaxError(f"{_where(text, start)}: the script's regexes together are too big "
                                 f"(over {MAX_SCRIPT_UNITS} elements once repetitions are expanded, "
                                 f"or over {MAX_SCRIPT_TRANSLATED_CHARS} characters once classes are spelled out)")
        commands.append(cmd)
        if len(commands) > MAX_SCRIPT_COMMANDS:
            raise SedSyntaxError(f"{_where(text, start)}: more than {MAX_SCRIPT_COMMANDS} commands in one script")
    if not commands:
        raise SedSyntaxError("no command")
    return SedScript(tuple(commands))


def _where(text: str, pos: int) -> str:
    """``line N, rule '...'``: the offending rule's own line, capped."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    quoted = line if len(line) <= QUOTE_LIMIT else line[:QUOTE_LIMIT] + "..."
    return f"line {text.count(chr(10), 0, pos) + 1}, rule {quoted!r}"


def _parse_command(r: _Reader) -> Command:
    c = r.peek()
    if c == "s":
        r.next()
        return _parse_s(r)
    if c in ("/", "\\"):
        return _parse_delete(r)
    raise SedSyntaxError(f"unsupported command {c!r} (only s and /regex/d)")


def _end_of_command(r: _Reader) -> None:
    while r.peek() in (" ", "\t"):
        r.next()
    if r.at_end() or r.peek() in ("\n", ";", "#"):
        return
    raise SedSyntaxError(f"unexpected {r.peek()!r} after the command")


def _read_delimited(r: _Reader, delim: str, what: str) -> str:
    """Read up to an unescaped ``delim``; ``\\<delim>`` becomes the bare delimiter, as in GNU sed.

    Inside a bracket expression of a regex GNU sed keeps the backslash (``[\\/]`` matches both
    characters), so brackets are tracked; an unescaped delimiter still ends the regex there.
    A newline always ends the rule: nothing from a later line is ever read into this one.
    """
    out: list[str] = []
    bracket = False
    special = _special_chars(delim, what == "regex")
    begin = r.pos
    while True:
        m = special.search(r.text, r.pos)  # skip ordinary characters in one step
        if m is None or m.group() == "\n":
            raise SedSyntaxError(f"unterminated {what}: missing closing {delim!r}")
        if m.start() - begin > MAX_PART_CHARS:
            raise SedSyntaxError(f"{what} longer than {MAX_PART_CHARS} characters")
        out.append(r.text[r.pos : m.start()])
        r.pos = m.start()
        c = r.next()
        if c == "\\":
            n = r.next()
            if n in ("", "\n"):
                raise SedSyntaxError(f"unterminated {what}: missing closing {delim!r}")
            if n == delim and not bracket:
                out.append(delim)
            else:
                out.append("\\" + n)
            continue
        if c == delim:
            return "".join(out)
        if what == "regex":
            if not bracket and c == "[":
                bracket = True
                out.append(c)
                if r.peek() == "^":
                    out.append(r.next())
                if r.peek() == "]":
                    out.append(r.next())
                continue
            if bracket:
                if c == "[" and r.peek() in (":", "=", "."):
                    kind = r.next()
                    out.append(c + kind)
                    while not r.at_end() and r.peek() not in (delim, "\n") and not (
                        r.peek() == kind and r.text[r.pos + 1 : r.pos + 2] == "]"
                    ):
                        out.append(r.next())
                    if r.peek() == kind:
                        out.append(r.next() + r.next())
                    continue
                if c == "]":
                    bracket = False
        out.append(c)


@functools.lru_cache(maxsize=64)
def _special_chars(delim: str, brackets: bool) -> re.Pattern[str]:
    """The characters ``_read_delimited`` must look at; everything else is copied as a run."""
    return re.compile("[" + re.escape("\\\n" + delim + ("[]" if brackets else "")) + "]")


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
    rx = translate_ere(pattern, icase)
    replacement = _parse_replacement(repl_text, rx.groups)
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
            if j - i > 9:
                raise SedSyntaxError("number flag too large")
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
    return Delete(translate_ere(pattern, icase))


def _parse_replacement(text: str, groups: int) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    buf: list[str] = []
    for token in _REPLACEMENT_TOKENS.findall(text):
        if token == "&":
            parts.append("".join(buf))
            buf = []
            parts.append(0)
        elif token[0] == "\\":
            n = token[1]
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
            buf.append(token)
    parts.append("".join(buf))
    return tuple(p for p in parts if p != "")
