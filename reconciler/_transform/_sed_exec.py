"""Running a parsed sed script over a value, as GNU sed's execute.c does for ``s`` and ``d``.

Invariants:
- The value is split into lines at "\\n"; a missing final newline stays missing (GNU sed keeps it).
- Every regex runs on ``Ere.subject(line)`` (the line upper-cased under ``I``); that has the same
  length in code points as the line, so every span indexes the original line, and replacements
  copy original text, never the upper-cased copy.
- Every search gets the CPU time left before ``deadline`` (``time.thread_time``) as the regex
  module's timeout: a runaway rule raises TransformError for its item, it never hangs a run.
- Where GNU sed would act on bytes inside a multi-byte character (an empty match next to one), we
  refuse with TransformError rather than write different bytes.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import TransformError
from ._sed_ere import Ere


@dataclass(frozen=True)
class Substitute:
    regex: Ere
    replacement: tuple[str | int, ...]  # literal text, or a group number (0 is &)
    occurrence: int  # 1 = first match
    global_: bool


@dataclass(frozen=True)
class Delete:
    regex: Ere


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
                gone = {i for i in candidates
                        if _search(cmd.regex, cmd.regex.subject(lines[i][0]), 0, deadline) is not None}
                lines = [x for i, x in enumerate(lines) if i not in gone]
            else:
                for i in candidates:
                    lines[i] = (_substitute(cmd, lines[i][0], deadline), lines[i][1])
        return "".join(line + nl for line, nl in lines)


def _candidate_lines(rx: Ere, lines: list[str], deadline: float) -> list[int]:
    text = rx.subject("\n".join(lines))
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


MIN_SEARCH_BUDGET = 0.001  # seconds of CPU below which a search is not started (or tried again)
MIN_CPU_SHARE = 0.05  # a starved thread's retry waits at most 20x its CPU budget in wall time


def _search(rx: Ere, subject: str, pos: int, deadline: float, *, whole: bool = False) -> Any:
    try:
        compiled = rx.whole if whole else rx.compiled
    except Exception:  # the regex module refused our translation: a bug of ours, fail the item
        raise TransformError("sed rule could not be compiled") from None
    # The budget is this thread's CPU time; the regex module times out on the wall clock. A search
    # that timed out while the thread waited (for the GIL, for a core) still has budget left: it
    # runs again (from the start: the regex module cannot resume) with a wall timeout scaled by the
    # CPU share the thread got, so the retry can spend all that is left. Each try spends CPU, so
    # the loop ends once the budget does; wall time is at most the budget over MIN_CPU_SHARE a try.
    share = 1.0  # CPU seconds this thread got per wall second in the last try: 1 on an idle host
    while (remaining := deadline - time.thread_time()) > MIN_SEARCH_BUDGET:
        started = time.monotonic()
        try:
            return compiled.search(subject, pos, timeout=remaining / share)
        except TimeoutError:
            spent = remaining - (deadline - time.thread_time())
            share = max(MIN_CPU_SHARE, min(1.0, spent / max(time.monotonic() - started, 1e-6)))
    raise TransformError("sed rule exceeded the transform time limit")


def _substitute(cmd: Substitute, line: str, deadline: float) -> str:
    # GNU sed's do_subst: an empty match is not allowed right where the previous match ended,
    # and after an empty match one character is copied before searching again.
    subject = cmd.regex.subject(line)
    out: list[str] = []
    pos = 0
    count = 0
    prev_end = -1
    replaced = False
    while pos <= len(line):
        m = _search(cmd.regex, subject, pos, deadline)
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
            out.append(_expand(cmd.replacement, m, line))
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


def _expand(parts: tuple[str | int, ...], m: Any, line: str) -> str:
    # Spans, not m.group(): under I the match ran on the upper-cased copy of ``line``.
    out = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        else:
            start, end = m.span(p)
            if start >= 0:
                out.append(line[start:end])
    return "".join(out)
