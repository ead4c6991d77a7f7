"""SPEC: no two destinations are one, no destination is a source, no mapping writes onto itself."""

from __future__ import annotations

import bisect
import functools
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from . import variables as _variables
from .spec import AccountsSelector, Identity, MappingSpec
from .yaml import NO_MARKS, Marks, locate, parse_field

# At load a region or an account may be known only up to equality: the default region when the
# environment does not name it, the account of the default credentials or of a profile. Such a value
# is a symbol in braces (never part of a name). Two equal symbols are provably the same at run time;
# two different ones may or may not be, and that is left to the run (the engine fails such items).
_UNKNOWN_DEFAULT_REGION = "{the default region}"
_ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}$")  # the 6 characters AWS adds to a secret's ARN


def _default_region() -> str | None:
    """The region boto3 will use for an endpoint without one, when the environment says so.

    boto3 reads AWS_DEFAULT_REGION (AWS_REGION alone is not read by it, and a config file's region
    is not read here), so without it the default region is unknown at load.
    """
    return os.environ.get("AWS_DEFAULT_REGION") or None


@functools.lru_cache(maxsize=1024)  # pure; a manifest has few distinct identities (load speed)
def _account_symbol(identity: Identity, accounts: AccountsSelector | None = None) -> str:
    if accounts is not None:  # the same selector fans out to the same accounts
        return "{the accounts under " + ",".join(sorted(set(accounts.organizational_units))) + \
            (" except " + ",".join(sorted(set(accounts.exclude))) if accounts.exclude else "") + "}"
    if identity.account_hint:
        return identity.account_hint
    return "{" + (f"the account of profile {identity.profile}" if identity.profile else "the default account") + "}"


def _shown(value: str) -> str:
    return value[1:-1] if value.startswith("{") else value


@dataclass(frozen=True, slots=True)
class _Place:
    """Where one endpoint of a mapping is: a name (a prefix's stem when ``prefix``) in a scope."""

    scope: tuple[str, str, str]  # (service, region, account): values or symbols
    name: str
    prefix: bool
    mapping: MappingSpec
    field: str  # "source", "destination" or "destinations[i]"

    def describe(self) -> str:
        service, region, account = self.scope
        what = "parameter" if service == "ssm" else "secret"
        return f"{what} {self.name}{'*' if self.prefix else ''} in {_shown(region)}, {_shown(account)}"


def _places(m: MappingSpec, default_region: str | None) -> list[_Place]:
    """The source and each destination of ``m``, names expanded with what is known of the built-ins."""
    s = m.source
    src_region = s.region or default_region or _UNKNOWN_DEFAULT_REGION
    if s.is_arn:
        src_account = s.name.split(":")[4]
        src_name = _ARN_SUFFIX.sub("", s.name.split(":secret:", 1)[-1])
    else:
        src_account, src_name = _account_symbol(s.identity), s.name
    out = [_Place((s.service, src_region, src_account), src_name, s.prefix, m, "source")]
    for i, d in enumerate(m.destinations):
        region = d.region or default_region or _UNKNOWN_DEFAULT_REGION
        account = _account_symbol(d.identity, d.accounts)
        name = d.name
        if "$" in name:  # else expanding is the identity: skip building the values (load speed)
            values = {**dict(d.variables), "REGION": region, "SOURCE_REGION": src_region,
                      "ACCOUNT_ID": account, "SOURCE_ACCOUNT_ID": src_account}
            try:
                name = _variables.expand(name, values)
            except _variables.VariableError:
                continue  # reported with the destination's name
        fname = f"destinations[{i}]" if len(m.destinations) > 1 else "destination"
        out.append(_Place((d.service, region, account), name.removesuffix("*"), name.endswith("*"), m, fname))
    return out


class Collisions(NamedTuple):
    """What a collision scan found: ``total`` problems (each overlapping pair once), of which the
    first ``limit`` were reported; ``examined`` pairs of places were looked at (the scan's work)."""

    total: int
    examined: int


def check_collisions(mappings: list[MappingSpec], origin: str, problems: list[str],
                     marks: Marks = NO_MARKS, *, limit: int | None = None) -> Collisions:
    """SPEC: no two destinations are one, no destination is a source, no mapping writes onto itself.

    Places are grouped by scope and sorted by name: everything a prefix covers then sits right after
    it, so an overlapping pair is (i, j > i) with j in i's range, found with a bisect instead of
    comparing every pair (5,000 mappings: ~0.1 s). Pairs are counted in O(n log n) from the range
    bounds and the destinations' positions; at most ``limit`` are described (then the scan stops), so a
    manifest of n nested prefixes costs O(n log n + limit), not n^2 messages.
    """
    default_region = _default_region()
    groups: dict[tuple[str, str, str], list[_Place]] = defaultdict(list)
    for m in mappings:
        for place in _places(m, default_region):
            groups[place.scope].append(place)
    room = -1 if limit is None else limit  # problems still to describe; -1: no limit
    total = examined = 0
    for places in groups.values():
        places.sort(key=lambda p: p.name)
        names = [p.name for p in places]
        dest_at = [j for j, p in enumerate(places) if p.field != "source"]  # positions of destinations
        for i, p in enumerate(places):
            hi = bisect.bisect_left(names, p.name + "\U0010ffff", i) if p.prefix else \
                bisect.bisect_right(names, p.name, i)
            # every place in (i, hi) overlaps p; a source pairs with the destinations there only (two
            # mappings may read one source). Equal names cover each other: the pair counts from the first.
            if p.field == "source":
                first, last = bisect.bisect_right(dest_at, i), bisect.bisect_left(dest_at, hi)
                total += last - first
                partners: Iterable[int] = (dest_at[k] for k in range(first, last))
            else:
                total += hi - i - 1
                partners = range(i + 1, hi)
            for j in partners:
                if room == 0:
                    break  # counted above; describing more helps nobody
                examined += 1
                problems.append(_collision(origin, marks, p, places[j]))
                room -= 1
    return Collisions(total, examined)


def _collision(origin: str, marks: Marks, p: _Place, q: _Place) -> str:
    def where(place: _Place) -> str:
        path = ("mappings", place.mapping.index, *parse_field(place.field), "name")
        return locate(origin, marks, path, label=place.mapping.id)

    if "source" in (p.field, q.field):
        src, dest = (p, q) if p.field == "source" else (q, p)
        if src.mapping is dest.mapping:
            return f"{where(dest)}: the mapping writes onto its own source ({src.describe()})"
        return f"{where(dest)}: the destination is also the source of mapping '{src.mapping.id}' ({src.describe()})"
    first, second = sorted((p, q), key=lambda x: (x.mapping.index, x.field))
    return (f"{where(second)}: writes the same destination as mapping '{first.mapping.id}' ({first.field}): "
            f"{first.describe()}")
