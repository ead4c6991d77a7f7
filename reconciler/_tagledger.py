"""The tag ledger: which extra tags the reconciler set on a destination, so it can remove them later.

SPEC "Lifecycle": extra tags the manifest no longer names are removed from owned destinations, and
a tag the reconciler never set is never touched. A destination's tags alone cannot tell the two
apart, so every owned destination with extra tags carries one more tag, ``reconciler:tags``, whose
value names the extra tag keys the reconciler has set (encoded below).

Crash safety: a change that drops keys is three writes, in this order:

1. TagResource: the new tags, with the ledger widened to (old keys | new keys) in the same call;
2. UntagResource: the dropped keys (with the ledger itself when no extra tag remains);
3. TagResource: the ledger narrowed to the new keys.

Each call is atomic, and after every prefix of the sequence the ledger still names every key the
reconciler may have set and that is still on the secret. A run cut short anywhere leaves work the
next run finds in the listing's tags alone (no extra call) and finishes. A key missing from the
ledger is never removed: a foreign tag survives, even one the manifest names and then drops before
the first ledger was written (destinations written before the ledger existed).

Encoding: tag values allow letters, digits, spaces and ``_.:/=+-@``, and so do keys, so no
separator is free. Keys are escaped (``@`` -> ``@a``, ``/`` -> ``@s``) and joined with ``/``:
unambiguous, readable for plain keys ("CostCenter/Team"). The value must fit one tag (256
characters); a manifest whose keys do not fit is refused at load (``ledger_problem``).

A top-level module, below both packages that use it: the manifest checks the ledger fits at load
(``manifest.expand``) and the engine plans and writes it (``engine.planner``, ``engine.writer``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from ._constants import MAX_TAGS_PER_SECRET

TAG_LEDGER = "reconciler:tags"
LEDGER_MAX_CHARS = 256  # a tag value's length limit
RECONCILER_TAGS = 4  # owner, source, mapping and the ledger
MAX_EXTRA_TAGS = MAX_TAGS_PER_SECRET - RECONCILER_TAGS

_SEP = "/"
_ESCAPES = {"@": "@a", "/": "@s"}
_UNESCAPE = re.compile("@(.)")
_UNESCAPED = {"a": "@", "s": "/"}


def encode(keys: Collection[str]) -> str:
    """The ledger value naming ``keys`` (sorted, so equal sets give equal values)."""
    return _SEP.join("".join(_ESCAPES.get(c, c) for c in key) for key in sorted(set(keys)))


def decode(value: str) -> frozenset[str]:
    """The keys a ledger value names. An unknown escape is kept as written (never raises)."""
    if not value:
        return frozenset()
    return frozenset(_UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), part)
                     for part in value.split(_SEP) if part)


def ledger_problem(keys: Collection[str]) -> str | None:
    """Why a destination with these extra tag keys cannot keep a ledger, or None (a load-time check)."""
    if len(keys) > MAX_EXTRA_TAGS:
        return (f"at most {MAX_EXTRA_TAGS} tags: a secret holds {MAX_TAGS_PER_SECRET} and the reconciler "
                f"keeps {RECONCILER_TAGS} of its own ({TAG_LEDGER} records the keys it set)")
    size = len(encode(keys))
    if size > LEDGER_MAX_CHARS:
        return (f"the tag keys take {size} characters in {TAG_LEDGER} (the record of the keys the "
                f"reconciler set), more than a tag value's {LEDGER_MAX_CHARS}: use fewer or shorter keys")
    return None


@dataclass(frozen=True)
class LedgerSteps:
    """The ledger's part of a tag change (the caller adds the extra and reconciler tags to ``first``)."""

    first: dict[str, str] = field(default_factory=dict)  # with the new tags, in one TagResource
    remove: tuple[str, ...] = ()  # then one UntagResource
    after: dict[str, str] = field(default_factory=dict)  # then one TagResource

    @property
    def empty(self) -> bool:
        return not (self.first or self.remove or self.after)


def for_create(wanted: Collection[str]) -> dict[str, str]:
    """The ledger tag a new destination is created with (none without extra tags)."""
    return {TAG_LEDGER: encode(wanted)} if wanted else {}


def steps(current: Mapping[str, str], wanted: Collection[str], *, trusted: bool = True) -> LedgerSteps:
    """The ledger writes that take a destination's tags from ``current`` to extra keys ``wanted``.

    ``trusted`` False (a destination being adopted: not ours yet) ignores a ledger already on it,
    so a foreign ``reconciler:tags`` can never make the reconciler remove anything.
    """
    held = decode(current.get(TAG_LEDGER, "")) if trusted else frozenset()
    want = frozenset(wanted)
    final = encode(want) if want else None
    dropped = tuple(sorted(k for k in held - want if k in current))
    if not dropped:
        # Nothing of ours to remove: the ledger can go straight to its final value.
        if final is None:
            return LedgerSteps(remove=(TAG_LEDGER,) if trusted and TAG_LEDGER in current else ())
        return LedgerSteps(first={TAG_LEDGER: final} if current.get(TAG_LEDGER) != final else {})
    widened = encode(held | want)
    return LedgerSteps(
        first={TAG_LEDGER: widened} if current.get(TAG_LEDGER) != widened else {},
        remove=dropped + ((TAG_LEDGER,) if final is None else ()),
        after={TAG_LEDGER: final} if final is not None else {},
    )
