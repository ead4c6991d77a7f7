"""Which mappings and sources a run covers: --select, --shard, change events, --retry-failed.

Pure: no I/O and no tasks. Everything here raises (a usage error, exit 2) before any AWS call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from .._exceptions import ManifestError
from .._types import name_from_id, same_source

if TYPE_CHECKING:
    from ..manifest import Manifest, MappingSpec

# A key of --retry-failed: (mapping id, destination name, region, account). An unlisted prefix
# mapping is reported with no destination; its key is (mapping id, "", "", "").
ItemKey = tuple[str, str, str, str]
MAX_SHARDS = 1_000_000  # N of --shard K/N: far past any fleet; an absurd N is a typo, not a plan


class InvalidShard(ManifestError, ValueError):
    """A shard that is not K/N with 1 <= K <= N (a ValueError too, so argparse reports it)."""


class Shard(NamedTuple):
    """Shard ``k`` of ``n`` (1-based): a stable share of the expanded items."""

    k: int
    n: int

    def owns(self, mapping_id: str, source_name: str) -> bool:
        """Stable across runs and processes: N shards together cover every item exactly once."""
        digest = hashlib.sha256(f"{mapping_id}\x00{source_name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.n == self.k - 1

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` -> Shard(K, N). The one parser of the CLI's --shard and the Lambda's ``shard``."""
    k, sep, n = str(text).strip().partition("/")
    try:
        shard = Shard(int(k), int(n))
    except ValueError:
        raise InvalidShard([f"shard takes K/N, not {text!r}"]) from None
    if not sep or not 1 <= shard.k <= shard.n:
        raise InvalidShard([f"shard {text}: needs K/N with 1 <= K <= N"])
    if shard.n > MAX_SHARDS:
        raise InvalidShard([f"shard {text}: N may be at most {MAX_SHARDS:,}"])
    return shard


def select_mappings(manifest: Manifest, select: Iterable[str]) -> list[MappingSpec]:
    """The mappings ``--select`` names (all when it names none); an unknown id is a usage error."""
    chosen = tuple(select)
    mappings = list(manifest.mappings)
    if not chosen:
        return mappings
    ids = {m.id for m in mappings}
    unknown = [s for s in chosen if s not in ids]
    if unknown:
        raise ManifestError([f"{manifest.origin}: --select names unknown mapping id(s): "
                             f"{', '.join(unknown)} (known: {', '.join(sorted(ids))})"])
    return [m for m in mappings if m.id in chosen]


def check_regions(origin: str, mappings: list[MappingSpec], default_region: str | None) -> None:
    """Every endpoint needs a region: from the manifest, or AWS_REGION for the whole run."""
    if default_region:
        return
    missing = [m.id for m in mappings if m.source.region is None or any(d.region is None for d in m.destinations)]
    if missing:
        raise ManifestError([f"{origin}: mapping '{missing[0]}': no region; set one in the "
                             "manifest (defaults.source / defaults.destination) or AWS_REGION"])


def restrict(mappings: list[MappingSpec], sources: frozenset[tuple[str, str]], default_region: str,
             ) -> tuple[list[MappingSpec], dict[str, tuple[str, ...]]]:
    """The mappings whose source a change event names, and for prefix mappings, which members.

    ``sources`` holds (region, name or ARN) pairs. Returns the mappings kept, and for each kept
    prefix mapping the sorted member names the events named (only those are reconciled).
    """
    kept: list[MappingSpec] = []
    only: dict[str, tuple[str, ...]] = {}
    for m in mappings:
        region = m.source.region or default_region
        names: set[str] = set()
        whole = False
        for ev_region, ev_id in sources:
            if ev_region != region:
                continue
            if m.source.is_arn:
                # an event may name the secret only (its caller gave a partial ARN): match by name
                whole = whole or same_source(ev_id, m.source.name) or ev_id == name_from_id(m.source.name)
                continue
            name = name_from_id(ev_id)
            if m.source.prefix and name.startswith(m.source.name) and name != m.source.name:
                names.add(name)
            elif not m.source.prefix and name == m.source.name:
                whole = True
        if whole:
            kept.append(m)
        elif names:
            kept.append(m)
            only[m.id] = tuple(sorted(names))
    return kept, only


def retried(key: ItemKey, retry_failed: frozenset[ItemKey] | None) -> bool:
    """Is this item part of a --retry-failed run? (An unlisted mapping's key retries all its items.)"""
    return retry_failed is None or key in retry_failed or (key[0], "", "", "") in retry_failed
