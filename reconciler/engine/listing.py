"""Which ListSecrets name filters cover a set of names and prefixes in the fewest, parallel calls."""

from __future__ import annotations

from collections.abc import Iterable

from .._constants import LIST_FILTER_MAX_VALUES, LIST_SECRETS_PAGE_SIZE

PAGE_TARGET = LIST_SECRETS_PAGE_SIZE - 10  # names per listing call we aim for (room for strays)
EXACT_BELOW = 4  # this few names under one prefix are asked for by their own names


def filter_plan(exact: Iterable[str], prefixes: Iterable[str]) -> list[list[str]]:
    """Choose ListSecrets name filters covering ``exact`` names and ``prefixes`` in few, parallel calls.

    Name filters are prefix matches, 10 values a call, 100 secrets a page. The sorted names are
    split along a trie until each prefix covers at most about one page; tiny groups keep their exact
    names. Neighbouring prefixes are then packed into one call while the call stays within a page,
    so every call is about one page and all of them can run at once (pages of one call cannot).
    """
    wanted = sorted(set(exact))
    roots = sorted(set(prefixes))
    values: list[tuple[str, int]] = [(p, PAGE_TARGET) for p in _reduce(roots)]
    covered = [n for n in wanted if not any(n.startswith(p) for p in roots)] if roots else wanted
    values += _partition(covered, 0, len(covered))
    values.sort()
    calls: list[list[str]] = []
    size = 0
    for value, count in values:
        if calls and len(calls[-1]) < LIST_FILTER_MAX_VALUES and size + count <= PAGE_TARGET:
            calls[-1].append(value)
            size += count
        else:
            calls.append([value])
            size = count
    return calls


def _reduce(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in sorted(values):
        if not out or not v.startswith(out[-1]):
            out.append(v)
    return out


def _common_prefix(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


def _partition(names: list[str], lo: int, hi: int) -> list[tuple[str, int]]:
    count = hi - lo
    if count == 0:
        return []
    if count < EXACT_BELOW:
        return [(n, 1) for n in names[lo:hi]]
    lcp = _common_prefix(names[lo], names[hi - 1])  # sorted: the ends bound the common prefix
    if count <= PAGE_TARGET and lcp:
        return [(lcp, count)]
    out: list[tuple[str, int]] = []
    depth = len(lcp)
    i = lo
    while i < hi and len(names[i]) == depth:  # a name that is the prefix itself
        out.append((names[i], 1))
        i += 1
    while i < hi:
        j = i
        while j < hi and names[j][depth] == names[i][depth]:
            j += 1
        out += _partition(names, i, j)
        i = j
    return out
