"""Lifecycle (SPEC 1.1 "Lifecycle"): orphans, the prune guard, and scheduling deletions.

Deletion is the one thing the reconciler does that a later run cannot undo once the recovery
window has passed, so every rule here leans towards doing nothing:

- Orphans are looked for only in full runs (no --select, --shard, change events, --retry-failed),
  and only when the run observed everything: any run-level error, any source or destination
  listing that failed (prefix members unknown), any item whose destination name is unknown, and
  no orphan is reported or deleted in that run at all. A failing listing never becomes a deletion.
- An orphan is a secret in a destination scope the manifest writes to, whose ``reconciler:owner``
  is this manifest's owner, that no item writes to and no item reads (a secret the manifest reads
  is never an orphan), that is not scheduled for deletion already, and not a native replica
  (AWS writes those; its primary's owner decides). An orphan with rotation on is reported, never
  deleted (a rotation function writes it).
- Deletions (pruned orphans and ``on_source_deleted: delete``) are collected during the run and
  carried out at its end, after the guard: more than ``prune.max_deletes`` and none is done.
  Plan mode applies the same guard, so plan predicts run.
- A deletion is always DeleteSecret with the recovery window, never forced, and an orphan is
  described again just before: still ours, still live, still not a replica, or it is left alone.
- An orphan copied from a member of a prefix mapping with ``on_source_deleted: delete`` follows its
  source (``Follow``): deleted, with or without prune, once DescribeSecret says the source is gone.
- A store without a recovery window (Parameter Store) is never deleted from: its orphans stay
  ``orphan``, and its ``on_source_deleted: delete`` items fail with ``NoRecoveryWindow``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import anyio

from .._constants import TAG_MAPPING, TAG_OWNER, TAG_SOURCE
from .._exceptions import BackendError, DeadlineExceeded, ItemError
from .._types import SecretMeta, name_from_id
from ..aws.call import ItemStats, current_item
from ..aws.store import Store
from ..manifest import MappingSpec, PruneSettings
from ..output.report import ItemResult
from .actions import Action, Mode
from .deadline import Deadline
from .items import Item
from .plangate import PlanGate, PlanStale
from .planner import mapping_tag, written_elsewhere
from .results import Results

log = logging.getLogger("reconciler")

# Stores whose deletion can be undone within a recovery window; prune deletes from no other.
RECOVERABLE_SERVICES = frozenset({"secretsmanager"})

Place = tuple[str, str, str, str]  # (service, account, region, name)


class PruneGuard(ItemError):
    """More deletions pending than ``prune.max_deletes``: none was done."""

    type_name = "PruneGuard"


class NoRecoveryWindow(ItemError):
    """The store deletes at once (Parameter Store): the reconciler never deletes there."""

    type_name = "NoRecoveryWindow"


@dataclass(frozen=True)
class Orphan:
    store: Store
    meta: SecretMeta

    @property
    def region(self) -> str:
        return self.store.region

    @property
    def account(self) -> str:
        return self.store.account


@dataclass
class Pending:
    """A deletion to carry out at the end of the run: an item's destination, or an orphan."""

    store: Store
    arn: str
    item: Item | None = None
    orphan: Orphan | None = None
    stats: ItemStats = field(default_factory=ItemStats)
    # an orphan copied from a prefix member whose mapping says on_source_deleted: delete: (the
    # source's store, its ARN), described before the guard counts it (engine.lifecycle.Follow)
    source: tuple[Store, str] | None = None


@dataclass(frozen=True)
class Follow:
    """A prefix mapping with ``on_source_deleted: delete``, as seen from an orphan's tags.

    A member deleted for good has no item any more, so its copy is an orphan; its mapping still
    says to follow the source. An orphan whose ``reconciler:mapping`` names this mapping and whose
    ``reconciler:source`` is a member of its prefix (same account and region) is deleted once
    DescribeSecret confirms the source is gone or scheduled for deletion, with or without prune.
    """

    prefix: str
    store: Store  # the source scope's store

    def member(self, source_arn: str) -> bool:
        parts = source_arn.split(":")
        if len(parts) < 7 or parts[2] != "secretsmanager" or ":secret:" not in source_arn:
            return False
        name = name_from_id(source_arn)
        return ((parts[4], parts[3]) == (self.store.account, self.store.region)
                and name.startswith(self.prefix) and name != self.prefix)


def follows(mappings: Iterable[MappingSpec], source_store: Callable[[MappingSpec], Store | None]) -> dict[str, Follow]:
    """The prefix mappings with on_source_deleted: delete, by their ``reconciler:mapping`` tag value.

    Two mappings whose ids give one tag value are ambiguous: neither is followed.
    """
    out: dict[str, Follow | None] = {}
    for m in mappings:
        store = source_store(m)
        if m.on_source_deleted == "delete" and m.source.prefix and store is not None:
            tag = mapping_tag(m.id)
            out[tag] = None if tag in out else Follow(m.source.name, store)
    return {tag: f for tag, f in out.items() if f is not None}


def in_use(items: Iterable[Item]) -> set[Place]:
    """Every place an item writes or reads: never an orphan."""
    places: set[Place] = set()
    for item in items:
        spec = item.spec
        places.add((spec.dest_spec.service, spec.dest.account, spec.dest.region, spec.dest.name))
        src = item.source
        if src is not None:
            places.add((spec.mapping.source.service, src.account, src.arn.split(":")[3], src.name))
    return places


def destination_unknown(item: Item) -> bool:
    """The item's destination name could not be worked out (unlisted prefix, undefined variable)."""
    name = item.spec.dest.name
    return not name or "${" in name


def find_orphans(owned: Iterable[tuple[Store, list[SecretMeta]]], items: list[Item], owner: str) -> list[Orphan]:
    """The owned secrets of each (store, owned listing) that no item writes to or reads."""
    used = in_use(items)
    seen: set[tuple[str, str]] = set()
    out: list[Orphan] = []
    for store, metas in owned:
        for meta in metas:
            if meta.deleted or meta.primary_region or meta.tags.get(TAG_OWNER) != owner:
                continue  # already scheduled (neither reported nor deleted again), a replica, not ours
            if (store.service, store.account, store.region, meta.name) in used:
                continue
            if (store.service, meta.arn) not in seen:
                seen.add((store.service, meta.arn))
                out.append(Orphan(store, meta))
    return sorted(out, key=lambda o: (o.region, o.account, o.meta.name))


class Lifecycle:
    """Collects orphans and deletions during a run; applies the guard and deletes at its end."""

    def __init__(self, *, mode: Mode, prune: PruneSettings, owner: str, results: Results, deadline: Deadline,
                 concurrency: int, gate: PlanGate | None = None) -> None:
        self.gate = gate  # run --plan: only the planned orphans, and only if unchanged
        self.mode = mode
        self.prune = prune
        self.owner = owner
        self.results = results
        self.deadline = deadline
        self.concurrency = concurrency
        self.pending: list[Pending] = []
        self.orphan_results: list[ItemResult] = []  # orphans are not items: their results live here
        self.planned: list[Pending] = []  # plan mode: the deletions a plan file records

    # --- collecting ----------------------------------------------------------------------------

    def add_orphans(self, orphans: list[Orphan], follows: dict[str, Follow] | None = None) -> None:
        """``follows``: by ``reconciler:mapping`` tag, the prefix mappings with on_source_deleted: delete."""
        for orphan in orphans:
            if self.gate is not None and self.gate.for_orphan(orphan.store.service, orphan.account, orphan.region,
                                                              orphan.meta.name) is None:
                continue  # run --plan: an orphan the plan did not delete is not touched, nor reported
            follow = (follows or {}).get(orphan.meta.tags.get(TAG_MAPPING, ""))
            source_arn = orphan.meta.tags.get(TAG_SOURCE, "")
            if (follow is not None and follow.member(source_arn) and written_elsewhere(orphan.meta) is None
                    and orphan.store.service in RECOVERABLE_SERVICES):
                self.pending.append(Pending(orphan.store, orphan.meta.arn, orphan=orphan,
                                            source=(follow.store, source_arn)))
            elif not self.prune.enabled:
                self._report(orphan, Action.ORPHAN, "owned by this manifest's owner, and no mapping writes it "
                                                    "(settings.prune is off: nothing is deleted)")
            elif (written_by := written_elsewhere(orphan.meta)) is not None:
                self._report(orphan, Action.ORPHAN, f"owned, and no mapping writes it; it is {written_by}, "
                                                    "so prune never deletes it")
            elif orphan.store.service not in RECOVERABLE_SERVICES:
                self._report(orphan, Action.ORPHAN, f"owned, and no mapping writes it; {orphan.store.service} has "
                                                    "no recovery window, so prune never deletes it")
            else:
                self.pending.append(Pending(orphan.store, orphan.meta.arn, orphan=orphan))

    def add_item(self, item: Item) -> None:
        """An item decided ``delete`` (on_source_deleted: delete), its destination confirmed."""
        store = item.spec.dest_endpoint
        assert store is not None and item.dest is not None
        if store.service not in RECOVERABLE_SERVICES:
            self.results.finish(item, Action.FAILED, "on_source_deleted: delete",
                                error=NoRecoveryWindow(f"{store.service} deletes at once, with no recovery "
                                                       "window: the reconciler never deletes there"))
            return
        self.pending.append(Pending(store, item.dest.arn, item=item))

    # --- settling ------------------------------------------------------------------------------

    async def settle(self) -> None:
        """The guard, then the deletions (run mode) or what they would be (plan mode)."""
        # an item the scheduler already finished (abandoned at the hard stop) is not deleted
        pending, self.pending = [p for p in self.pending if p.item is None or p.item.result is None], []
        pending = await self._sources_gone(pending)
        if len(pending) > self.prune.max_deletes:
            log.error("prune guard", extra={"pending_deletions": len(pending), "max_deletes": self.prune.max_deletes})
            error = PruneGuard(f"the run would delete {len(pending)} secrets, more than prune.max_deletes "
                               f"({self.prune.max_deletes}): none was deleted")
            for p in pending:
                self._finish(p, Action.FAILED, "deletion refused by the prune guard", error=error)
            return
        if self.mode == Mode.PLAN:
            for p in pending:
                self._finish(p, Action.DELETE, self._why(p))
            self.planned = pending
            return
        limiter = anyio.CapacityLimiter(self.concurrency)
        async with anyio.create_task_group() as tg:
            for p in pending:
                tg.start_soon(self._delete, p, limiter)

    async def _delete(self, p: Pending, limiter: anyio.CapacityLimiter) -> None:
        async with limiter:
            if self.deadline.stopping():
                self._finish(p, Action.DEFERRED, "deadline reached before the deletion; the next run picks it up")
                return
            ctx = current_item.set(p.stats)
            started = time.monotonic()
            try:
                if p.orphan is not None and not await self._still_orphan(p):
                    return  # changed since the listing: not ours, gone, or deleted by someone else
                await p.store.delete(p.arn, self.prune.recovery_window_days)
            except (BackendError, DeadlineExceeded) as exc:
                if isinstance(exc, DeadlineExceeded):
                    self._finish(p, Action.DEFERRED, "deadline reached before the deletion finished")
                else:
                    self._finish(p, Action.FAILED, "deletion failed", error=exc)
                return
            finally:
                current_item.reset(ctx)
            self._finish(p, Action.DELETE, self._why(p), duration_ms=int((time.monotonic() - started) * 1000))

    async def _sources_gone(self, pending: list[Pending]) -> list[Pending]:
        """Keep the followed orphans whose source DescribeSecret confirms gone or scheduled for deletion.

        A live source (the listing lagged) drops the orphan from this run: it is not reported. A
        source that cannot be described leaves the copy an orphan (reported, deleted only under prune).
        """
        keep: dict[int, bool] = {}

        async def check(i: int, p: Pending) -> None:
            assert p.source is not None and p.orphan is not None
            store, arn = p.source
            ctx = current_item.set(p.stats)
            try:
                fresh = await store.describe(arn)
            except (BackendError, DeadlineExceeded):
                p.source = None
                keep[i] = self.prune.enabled  # an ordinary orphan now
                if not self.prune.enabled:
                    self._report(p.orphan, Action.ORPHAN, "owned, and no mapping writes it; its source could "
                                                          "not be described, so it is kept")
                return
            finally:
                current_item.reset(ctx)
            keep[i] = fresh is None or fresh.deleted

        async with anyio.create_task_group() as tg:
            for i, p in enumerate(pending):
                if p.source is not None:
                    tg.start_soon(check, i, p)
        return [p for i, p in enumerate(pending) if keep.get(i, True)]

    async def _still_orphan(self, p: Pending) -> bool:
        """Describe the orphan again before deleting it: a listing can lag behind a re-tag or a restore."""
        fresh = await p.store.describe(p.arn)
        still = (fresh is not None and not fresh.deleted and fresh.tags.get(TAG_OWNER) == self.owner
                 and written_elsewhere(fresh) is None)
        if self.gate is not None and p.orphan is not None:
            # run --plan: a planned deletion never just vanishes from the report
            entry = self.gate.for_orphan(p.store.service, p.store.account, p.store.region, p.orphan.meta.name)
            stale = (PlanStale("the orphan moved: it is no longer an orphan of this manifest") if not still
                     else PlanStale("the orphan is not in the plan") if entry is None or fresh is None
                     else self.gate.orphan_moved(entry, fresh))
            if stale is not None:
                self._finish(p, Action.FAILED, "moved since the plan: not deleted", error=stale)
                return False
        return still

    def _why(self, p: Pending) -> str:
        days = self.prune.recovery_window_days
        if p.item is not None and p.item.decision is not None:
            return f"{p.item.decision.reason}: scheduled for deletion, recoverable for {days} days"
        if p.source is not None:
            return (f"source not found (on_source_deleted: delete; no mapping writes it any more): scheduled "
                    f"for deletion, recoverable for {days} days")
        return f"orphan (no mapping writes it; settings.prune): scheduled for deletion, recoverable for {days} days"

    # --- results -------------------------------------------------------------------------------

    def _finish(self, p: Pending, action: Action, reason: str, *, error: ItemError | None = None,
                duration_ms: int = 0) -> None:
        if p.item is not None:
            p.item.stats.attempts += p.stats.attempts
            self.results.finish(p.item, action, reason, error=error)
        elif p.orphan is not None:
            self._report(p.orphan, action, reason, error=error, attempts=p.stats.attempts, duration_ms=duration_ms)

    def _report(self, orphan: Orphan, action: Action, reason: str, *, error: ItemError | None = None,
                attempts: int = 0, duration_ms: int = 0) -> None:
        meta = orphan.meta
        source = meta.tags.get(TAG_SOURCE, "")
        source_parts = source.split(":")
        self.orphan_results.append(ItemResult(
            mapping=meta.tags.get(TAG_MAPPING, ""), source=source, dest_name=meta.name,
            dest_region=orphan.region, dest_account=orphan.account, action=action, reason=reason,
            error_type=error.type if error is not None else None,
            error_message=error.message if error is not None else None,
            retryable=error.retryable if error is not None else None,
            attempts=attempts, duration_ms=duration_ms,
            source_region=source_parts[3] if len(source_parts) > 4 else "unknown"))  # a metric dimension: never empty
        level = logging.WARNING if action in (Action.FAILED, Action.DELETE) else logging.INFO
        log.log(level, "orphan", extra={"run_id": self.results.run_id, "mapping": meta.tags.get(TAG_MAPPING, ""),
                                        "destination": meta.name, "region": orphan.region, "action": action,
                                        "reason": reason, "error_type": error.type if error is not None else None})
