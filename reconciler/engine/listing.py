"""Which ListSecrets name filters cover a set of names and prefixes in the fewest, parallel calls."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass

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
    return _pack_in_order(sorted(values))


def _pack_in_order(values: list[tuple[str, int]]) -> list[list[str]]:
    """(value, expected count) pairs packed in the order given: a call takes neighbours while it
    holds at most 10 values and about a page of answers."""
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


# --- the owned listing, split by name ------------------------------------------------------------
#
# One listing by owner tag pages one after another (NextToken): 50 round trips in a row for 5,000
# destinations. Split by name, the same secrets come back in calls that all run at once. The split
# must miss nothing (an owned secret that no call lists is an orphan never found), so it is a cover
# of every possible name, not of the names we expect:
# - ``!root``: every name that does not start with ``root``, the longest prefix all expected names
#   share (one negated value: names outside ``root``; AWS documents '!' as negation);
# - below ``root``, a node that is split is replaced by one value per character a name may hold
#   (most match nothing and ride in the spare value slots of the other calls);
# - the name equal to a split node is covered by no value: it is read with DescribeSecret (an
#   expected name needs none: it is listed by name afterwards, and a mapped secret is no orphan).
#   If one of those reads fails (a policy that names destinations exactly denies it), the scope
#   falls back to the one listing (engine.inventory): could not observe never means absent.
# Expected names only decide where to split; a wrong guess costs calls, never coverage.

OWNED_SPLIT_ABOVE = 2 * PAGE_TARGET  # fewer expected secrets than this: one listing is as good


@dataclass(frozen=True)
class OwnedPlan:
    """Name-filter values per ListSecrets call (ANDed with the owner tag), and names to describe."""

    calls: list[list[str]]
    describe: list[str]


def owned_plan(names: Iterable[str], alphabet: str) -> OwnedPlan | None:
    """A split of the owned listing into parallel calls, or None when one listing is as good.

    ``names`` are the destinations expected in the scope, ``alphabet`` every character a name may
    hold. A node is split only while the values it adds (``len(alphabet)`` per split) fit the spare
    value slots of the calls the expected secrets need anyway, so the split costs about no calls:
    from about eight pages of names (630 with Secrets Manager's 70 characters).
    """
    # A name the store would refuse cannot exist, and a filter value holding it would fail the
    # whole listing (or, led by "!", mean a negation): such names do not guide the split.
    wanted = sorted({n for n in names if n and n[0] != "!" and set(n) <= set(alphabet)})
    if len(wanted) <= OWNED_SPLIT_ABOVE:
        return None
    pages = -(-len(wanted) // PAGE_TARGET)
    budget = pages * (LIST_FILTER_MAX_VALUES - 1) // len(alphabet)  # splits whose values fit spare slots
    root = _common_prefix(wanted[0], wanted[-1])
    leaves: dict[str, int] = {root: len(wanted)}
    split: list[str] = []
    heap = [(-len(wanted), root)]
    while heap:
        negcount, node = heapq.heappop(heap)
        if -negcount <= 2 * PAGE_TARGET:
            break  # the largest leaf takes two pages at most: a split would cost a DescribeSecret more
        # Split where the names branch, not one character at a time: the chain of nodes down to
        # their common prefix is split on the way (each alone would move the mass, not divide it).
        lo, hi = _bounds(wanted, node)
        branch = _common_prefix(wanted[lo], wanted[hi - 1])
        chain = [branch[:k] for k in range(len(node), len(branch) + 1)]
        if len(split) + len(chain) > budget:
            continue  # too dear: this leaf stays whole
        del leaves[node]
        for level, below in zip(chain, [*chain[1:], None], strict=True):
            split.append(level)
            for ch in alphabet:
                child = level + ch
                if child != below and child != "!":  # "!" alone is a negation (of nothing)
                    lo, hi = _bounds(wanted, child)
                    leaves[child] = hi - lo
                    if hi > lo:
                        heapq.heappush(heap, (lo - hi, child))
    if not split or max(leaves.values()) > len(wanted) // 2:
        return None  # no split, or one that leaves half the names in one call: not worth its calls
    calls = _pack(leaves)
    if root:
        calls.append(["!" + root])
    known = set(wanted)
    return OwnedPlan(calls=calls, describe=[n for n in split if n and n not in known])


def _bounds(sorted_names: list[str], prefix: str) -> tuple[int, int]:
    """The slice of ``sorted_names`` that starts with ``prefix``."""
    if not prefix:
        return 0, len(sorted_names)
    lo = bisect.bisect_left(sorted_names, prefix)
    return lo, bisect.bisect_left(sorted_names, prefix[:-1] + chr(ord(prefix[-1]) + 1), lo)


def _pack(leaves: dict[str, int]) -> list[list[str]]:
    """Leaves that hold expected names packed in key order (as filter_plan packs); empty leaves then
    fill the spare slots, and only what is left makes calls of its own."""
    calls = _pack_in_order(sorted((v, n) for v, n in leaves.items() if n))
    empty = [v for v in sorted(leaves) if not leaves[v]]
    for call in calls:
        while empty and len(call) < LIST_FILTER_MAX_VALUES:
            call.append(empty.pop())
    while empty:
        calls.append(empty[-LIST_FILTER_MAX_VALUES:])
        del empty[-LIST_FILTER_MAX_VALUES:]
    return calls
