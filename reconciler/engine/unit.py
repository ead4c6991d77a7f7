"""One unit (the items of one source secret): confirm -> (confirm the source) -> read -> plan or write."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio

from .._exceptions import BackendError, DeadlineExceeded, NotFoundError
from .._types import SecretValue
from ..aws.call import current_item
from ..aws.store import Store
from .actions import SETTLED, Action, Mode, Op
from .items import Item, Unit, decide_item
from .reader import ValueReader
from .results import Results
from .writer import Writer

if TYPE_CHECKING:
    from .lifecycle import Lifecycle
    from .plangate import PlanGate


class ReadAhead:
    """Announces the source reads of queued units to their endpoint's ValueReader.

    The only place that sets or clears ``Unit.announced``: announced when queued, consumed by the
    read, released when the unit settles or is deferred without reading (so no value is kept).
    """

    def __init__(self, reads_values: bool) -> None:
        self.reads_values = reads_values  # run mode, or plan --diff
        self._readers: dict[tuple[str, str, str], ValueReader] = {}

    def reader(self, endpoint: Store) -> ValueReader:
        key = (endpoint.service, endpoint.identity.key, endpoint.region)
        if key not in self._readers:
            self._readers[key] = ValueReader(endpoint)
        return self._readers[key]

    def reads(self, items: list[Item]) -> bool:
        """Whether the values of these items are read: in run mode and plan --diff, and in plan for
        a destination store that refuses some values (Parameter Store's tiers), to say so."""
        return self.reads_values or any(i.spec.dest_endpoint is not None and i.spec.dest_endpoint.plan_reads_values
                                        and i.decision is not None and i.decision.needs_value for i in items)

    def announce(self, unit: Unit) -> None:
        first = unit.first
        if self.reads(unit.items) and first.source is not None and first.spec.source_endpoint is not None and any(
                i.decision is not None and i.decision.needs_value for i in unit.items):
            self.reader(first.spec.source_endpoint).prefetch(first.source.arn)
            unit.announced = True

    def consume(self, unit: Unit) -> None:
        """The unit's read is about to happen: it uses the announcement up."""
        unit.announced = False

    def release(self, unit: Unit) -> None:
        """The unit will not read its announced value: let the reader forget it."""
        first = unit.first
        if unit.announced and first.source is not None and first.spec.source_endpoint is not None:
            unit.announced = False
            self.reader(first.spec.source_endpoint).release(first.source.arn)


class UnitPipeline:
    def __init__(self, mode: Mode, diff: bool, owner: str, results: Results, read_ahead: ReadAhead,
                 writer: Writer, lifecycle: Lifecycle | None = None, gate: PlanGate | None = None) -> None:
        self.gate = gate  # run --plan: each item is written only as planned (engine.plangate)
        self.lifecycle = lifecycle  # takes the items decided ``delete``; deletes (or not) at the run's end
        self.mode = mode
        self.diff = diff
        self.owner = owner
        self.results = results
        self.read_ahead = read_ahead
        self.writer = writer

    def redecide(self, item: Item, source_version: str | None) -> bool:
        """Decide again; finish the item if nothing is to be written. True if it is still live."""
        item.decision = decide_item(item, source_version, self.owner)
        item.seen_version = source_version
        if item.decision.action in SETTLED:
            stale = self.gate.moved(item, source_version) if (self.gate is not None
                                                              and item.decision.action == Action.CONFLICT) else None
            if stale is not None:  # run --plan: a conflict that arose since the plan is the plan gone stale
                self.results.finish(item, Action.FAILED, f"moved since the plan ({item.decision.reason})",
                                    error=stale)
                return False
            self.results.finish(item, item.decision.action, item.decision.reason)
            return False
        return True

    async def process(self, unit: Unit) -> None:
        try:
            await self._process(unit)
        finally:
            self.read_ahead.release(unit)  # no-op once the value was read

    async def _process(self, unit: Unit) -> None:
        now = time.monotonic()
        for item in unit.items:
            item.started = now
        # 1. Confirm suspected drift with DescribeSecret: listings can lag by minutes. That
        #    includes a destination the listing did not show: one made a minute ago is not
        #    listed yet, and taking it for absent would plan "create" for a secret that exists,
        #    and send a CreateSecret that AWS ignores as a repeat when it holds our token (an
        #    edit made since stays, while the report says "create"). Here, not in the listing
        #    phase, so the describes of one unit overlap the writes of the others.
        async with anyio.create_task_group() as tg:
            for item in unit.items:
                endpoint = item.spec.dest_endpoint
                if item.dest is not None or (endpoint is not None and endpoint.listing_lags):
                    tg.start_soon(self._confirm, item)
        live = [i for i in unit.items if i.result is None]
        if not live:
            return
        # 2. Moving AWSCURRENT back writes no value, so nothing else would prove the source
        #    really is at that version: a lagging listing would otherwise roll a copy back.
        #    Likewise a source listed as scheduled for deletion is confirmed before its copy is
        #    deleted (SPEC "Lifecycle"; a source not found at all was described by the inventory).
        if any(i.decision is not None and (i.decision.op == Op.STAGE or (i.decision.op == Op.DELETE
                                                                          and i.source is not None))
               for i in live):
            if not await self._confirm_source(live):
                return
            live = [i for i in live if i.result is None]
        deleting = [i for i in live if i.decision is not None and i.decision.op == Op.DELETE]
        if deleting:
            assert self.lifecycle is not None
            for item in self._as_planned(deleting, None):
                self.lifecycle.add_item(item)  # deleted at the run's end, after the prune guard
            live = [i for i in live if i.result is None and i not in deleting]
            if not live:
                return
        needs_value = [i for i in live if i.decision is not None and i.decision.needs_value]
        value: SecretValue | None = None
        if needs_value and self.read_ahead.reads(needs_value):
            self.read_ahead.consume(unit)
            value = await self._read_source(live)
            if value is None:
                return
            for item in live:
                item.decision = decide_item(item, value.version_id, self.owner)
                item.seen_version = value.version_id
        live = self._as_planned(live, value)
        if self.mode == Mode.PLAN:
            for item in live:
                if item.result is None:
                    await self.writer.plan_item(item, value)
            return
        async with anyio.create_task_group() as tg:
            for item in live:
                tg.start_soon(self.writer.write_item, item, value)

    def _as_planned(self, items: list[Item], value: SecretValue | None) -> list[Item]:
        """run --plan: fail (PlanStale, never written) each item that moved since the plan."""
        if self.gate is None:
            return items
        keep = []
        for item in items:
            if item.result is not None:
                continue
            if item.decision is None or item.decision.action in SETTLED:
                keep.append(item)  # nothing to write: the writer finishes it as decided
                continue
            version = value.version_id if value is not None else (item.source.current_version if item.source
                                                                  else None)
            stale = self.gate.moved(item, version)
            if stale is None:
                keep.append(item)
            else:
                self.results.finish(item, Action.FAILED, "moved since the plan: not written", error=stale)
        return keep

    async def _confirm(self, item: Item) -> None:
        endpoint = item.spec.dest_endpoint
        assert endpoint is not None
        token = current_item.set(item.stats)
        try:
            item.dest = await endpoint.describe(item.dest.arn if item.dest else item.spec.dest.name)
        except (BackendError, DeadlineExceeded) as exc:
            self.results.fail_or_defer(item, "could not read the destination", exc)
            return
        finally:
            current_item.reset(token)
        self.redecide(item, item.source.current_version if item.source else None)

    async def _confirm_source(self, live: list[Item]) -> bool:
        """Describe the source afresh and decide again; False if every item is settled."""
        item0 = live[0]
        endpoint = item0.spec.source_endpoint
        assert item0.source is not None and endpoint is not None
        token = current_item.set(item0.stats)
        try:
            fresh = await endpoint.describe(item0.source.arn)  # None only for ResourceNotFound
        except (BackendError, DeadlineExceeded) as exc:
            for item in live:
                self.results.fail_or_defer(item, "could not read the source", exc)
            return False
        finally:
            current_item.reset(token)
        for item in live:
            item.source = fresh
        return any([self.redecide(item, fresh.current_version if fresh else None) for item in live])

    async def _read_source(self, live: list[Item]) -> SecretValue | None:
        item0 = live[0]
        endpoint = item0.spec.source_endpoint
        assert item0.source is not None and endpoint is not None
        token = current_item.set(item0.stats)
        try:
            value = await self.read_ahead.reader(endpoint).get(item0.source.arn)
        except NotFoundError:
            for item in live:
                self.results.finish(item, Action.SOURCE_MISSING, "source not found when read")
            return None
        except (BackendError, DeadlineExceeded) as exc:
            for item in live:
                self.results.fail_or_defer(item, "could not read the source", exc)
            return None
        finally:
            current_item.reset(token)
        for item in live[1:]:
            item.stats.attempts += item0.stats.attempts
        return value
