"""One run: select -> observe sources -> expand -> observe destinations -> decide -> converge -> report.

``reconcile(manifest, options) -> Report`` is the one entry point the CLI, the Lambda and the demo call.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio

from .._constants import TAG_MAPPING, TAG_SOURCE
from ..aws.backend import Backend
from ..aws.call import CallStats
from ..manifest import Manifest, MappingSpec
from ..output.report import Report, action_value
from .accounts import AccountDirectory
from .actions import Mode
from .deadline import Deadline
from .inventory import Inventory, Scope
from .items import Expander, Item, Unit, refuse_shared_destinations
from .lifecycle import Lifecycle, destination_unknown, find_orphans, follows
from .options import Options
from .results import Results
from .scheduler import Scheduler
from .selection import check_regions, restrict, retried, select_mappings
from .unit import ReadAhead, UnitPipeline
from .writer import Writer

if TYPE_CHECKING:
    from .plangate import PlanGate

log = logging.getLogger("reconciler")


async def reconcile(manifest: Manifest, options: Options | None = None) -> Report:
    """Bring every destination of ``manifest`` in line with its source (or, in plan mode, say how).

    Raises ManifestError (a usage problem) before any AWS call; every other failure is in the report.
    """
    options = options or Options()
    t0 = time.monotonic()
    gate = _plan_gate(manifest, options)  # run --plan: refused here, before any AWS call, if it does not fit
    mappings = select_mappings(manifest, options.select)
    settings = manifest.settings
    concurrency = options.concurrency or settings.concurrency
    deadline = Deadline(options.deadline, clock=options.clock, stop=options.stop, grace=options.grace)
    stats = CallStats()
    report = Report(mode=options.mode, run_id=uuid.uuid4().hex[:16],
                    started_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    backend = Backend(concurrency=concurrency, retry=settings.retry, deadline=deadline.backend_deadline(),
                      rate_limits=settings.rate_limits, stats=stats, timeouts=settings.timeouts,
                      owner=settings.owner)
    async with backend:
        default_region = backend.default_region()
        check_regions(manifest.origin, mappings, default_region)
        region = default_region or ""
        only: dict[str, tuple[str, ...]] = {}
        if options.sources is not None:
            mappings, only = restrict(mappings, options.sources, region)
        results = Results(report.run_id, region, options.progress)
        inventory = Inventory(backend, region, concurrency, deadline)
        accounts = AccountDirectory(backend, settings.organizations, region)  # SPEC "Organizations"
        # SPEC "Lifecycle": only a run that sees the whole manifest may call anything an orphan.
        whole = not (options.select or options.shard or options.sources is not None
                     or options.retry_failed is not None)
        expander = Expander(inventory, results, region, options.run_shard, only, accounts)
        items = await _observe(inventory, expander, mappings, results, owner=settings.owner if whole else None)
        items = [i for i in items if retried(i.spec.key, options.retry_failed)]
        report.errors = inventory.errors() + accounts.errors()
        lifecycle = Lifecycle(mode=options.run_mode, prune=settings.prune, owner=settings.owner, results=results,
                              deadline=deadline, concurrency=concurrency, gate=gate)
        if whole:
            _orphans(inventory, mappings, items, report, lifecycle, settings.owner)
        if gate is not None:  # after the orphans: every item, planned or not, keeps its place from them
            items = [i for i in items if gate.for_item(i) is not None]
        await _converge(items, options, settings.owner, concurrency, deadline, results, lifecycle, gate)
        await lifecycle.settle()
    # manifest order, then source and destination: stable across runs, easy to diff in CI
    ordered = sorted(items, key=lambda i: (i.spec.mapping.index, i.spec.source_name, i.spec.dest.region,
                                           i.spec.dest.name))
    report.items = [i.result for i in ordered if i.result is not None] + lifecycle.orphan_results
    if gate is not None:
        report.items += gate.unmet()
    if options.run_mode == Mode.PLAN:
        report.plan = _plan_file(manifest, ordered, lifecycle)
    report.api_calls = dict(stats.calls)
    report.retries = dict(stats.retries)
    report.throttles = dict(stats.throttles)
    report.duration_ms = int((time.monotonic() - t0) * 1000)
    log.info("run finished", extra={"run_id": report.run_id, "mode": options.mode, "totals": report.totals,
                                    "duration_ms": report.duration_ms, "api_calls": sum(stats.calls.values())})
    return report


async def _observe(inventory: Inventory, expander: Expander, mappings: list[MappingSpec],
                   results: Results, *, owner: str | None = None) -> list[Item]:
    """Sources first (prefixes must be listed before their destinations are known), then destinations.

    With ``owner`` (a run of the whole manifest), each destination scope is listed once by owner
    tag first: that finds the existing destinations and the orphans, and only the names it did
    not find are listed by name. Every item whose source or destination could not be observed
    finishes here, failed or deferred: not listed never means "does not exist".
    """
    async with anyio.create_task_group() as tg:
        if owner is not None:
            # The owned listing needs no source: started now, it overlaps the source listings and
            # the expansion instead of following them. Its split (engine.listing.owned_plan) is
            # guided by the destination names the manifest spells out; scopes known only at run
            # time (accounts of an OU) follow below, guided by the expanded names.
            tg.start_soon(_observe_owned_early, inventory, mappings, owner)
        await inventory.observe_sources(mappings, expander.only)
        items = await expander.expand(mappings)
    if owner is not None:
        expected = _names_by_scope((inventory.dest_scope(i.spec.dest_spec, i.spec.dest.region), i.spec.dest.name)
                                   for i in items if i.spec.dest_endpoint is not None and not destination_unknown(i))
        await inventory.observe_owned(await _destination_scopes(inventory, mappings, items), owner, expected)
    wanted = [(inventory.dest_scope(i.spec.dest_spec, i.spec.dest.region), i.spec.dest.name)
              for i in items if i.result is None]
    await inventory.observe_destinations(wanted)
    for item in items:
        if item.result is not None:
            continue
        spec = item.spec
        dest_scope = inventory.dest_scope(spec.dest_spec, spec.dest.region)
        src_err = inventory.unobserved_error(inventory.source_scope(spec.mapping), spec.source_id)
        dest_err = inventory.unobserved_error(dest_scope, spec.dest.name)
        if src_err is not None:
            results.fail_or_defer(item, "could not list the source", src_err)
        elif dest_err is not None:
            results.fail_or_defer(item, "could not list the destination", dest_err)
        else:
            item.dest = dest_scope.found.get(spec.dest.name)
    refuse_shared_destinations(items, results)
    return items


async def _observe_owned_early(inventory: Inventory, mappings: list[MappingSpec], owner: str) -> None:
    scopes = await _destination_scopes(inventory, mappings, [])
    literal = _names_by_scope((inventory.dest_scope(d, d.region or inventory.default_region), d.name)
                              for m in mappings if not m.source.prefix for d in m.destinations
                              if d.accounts is None and not d.identity.per_account
                              and "${" not in d.name and "*" not in d.name)
    await inventory.observe_owned(scopes, owner, literal)


def _names_by_scope(pairs: Iterable[tuple[Scope, str]]) -> dict[int, list[str]]:
    """Destination names keyed as ``Inventory.observe_owned`` takes them (by ``id(scope)``)."""
    out: dict[int, list[str]] = {}
    for scope, name in pairs:
        out.setdefault(id(scope), []).append(name)
    return out


async def _destination_scopes(inventory: Inventory, mappings: list[MappingSpec], items: list[Item]) -> list[Scope]:
    """Every scope the manifest writes to: from the mappings (so a prefix with no member left still
    has its scope listed for orphans), and from the items (destinations whose account is found at run time)."""
    scopes: dict[int, Scope] = {}
    for m in mappings:
        for d in m.destinations:
            if d.accounts is None and not d.identity.per_account:
                scope = await inventory.scope(d.service, d.identity, d.region or inventory.default_region)
                scopes[id(scope)] = scope
    for item in items:
        if item.spec.dest_endpoint is not None and not destination_unknown(item):
            scope = inventory.dest_scope(item.spec.dest_spec, item.spec.dest.region)
            scopes[id(scope)] = scope
    return list(scopes.values())


def _orphans(inventory: Inventory, mappings: list[MappingSpec], items: list[Item], report: Report,
             lifecycle: Lifecycle, owner: str) -> None:
    """Hand the orphans to ``lifecycle``, unless anything the run needed went unobserved (engine.lifecycle)."""
    scopes = inventory.scopes()
    why = ("run-level errors" if report.errors else
           "a listing failed" if any(s.error is not None or s.unobserved for s in scopes) else
           "an item's destination is unknown" if any(destination_unknown(i) for i in items) else None)
    if why is not None:
        log.warning("orphans not looked for", extra={"run_id": report.run_id, "reason": why})
        return
    owned = [(s.endpoint, s.owned) for s in scopes if s.endpoint is not None and s.owned is not None]
    lifecycle.add_orphans(find_orphans(owned, items, owner),
                          follows(mappings, lambda m: inventory.source_scope(m).endpoint))


async def _converge(items: list[Item], options: Options, owner: str, concurrency: int, deadline: Deadline,
                    results: Results, lifecycle: Lifecycle, gate: PlanGate | None = None) -> None:
    read_ahead = ReadAhead(reads_values=options.mode == Mode.RUN or options.diff)
    pipeline = UnitPipeline(options.run_mode, options.diff, owner, results, read_ahead,
                            Writer(owner, options.diff, results), lifecycle, gate)
    units: dict[tuple[str, str], Unit] = {}
    for item in items:
        if item.result is None and pipeline.redecide(item, item.source.current_version if item.source else None):
            key = (item.spec.mapping.id, item.spec.source_name)
            units.setdefault(key, Unit([])).items.append(item)
    results.total = len(items)
    results.done = sum(1 for i in items if i.result is not None)
    results.tick()
    await Scheduler(concurrency, deadline, results, read_ahead, pipeline.process).run(list(units.values()), items)


def _plan_gate(manifest: Manifest, options: Options) -> PlanGate | None:
    """run --plan: check the plan fits this manifest, tool and time (ManifestError if not); its gate."""
    if options.plan is None:
        return None
    from .planfile import verify_plan
    from .plangate import PlanGate

    now = options.now() if options.now is not None else datetime.now(timezone.utc)
    verify_plan(options.plan, manifest, max_age=options.plan_max_age, now=now)
    return PlanGate(options.plan)


def _plan_file(manifest: Manifest, items: list[Item], lifecycle: Lifecycle) -> object:
    """What plan --out writes: one entry per change this plan run found (engine.planfile)."""
    from .planfile import new_plan
    from .plangate import entry_for_item, entry_for_orphan

    pending = ("create", "update", "delete")
    entries = [entry_for_item(i) for i in items if i.result is not None and i.decision is not None
               and action_value(i.result.action) in pending]
    for p in lifecycle.planned:
        if p.orphan is not None:
            meta = p.orphan.meta
            entries.append(entry_for_orphan(p.store.service, p.store.account, p.store.region, meta,
                                            meta.tags.get(TAG_MAPPING, ""), meta.tags.get(TAG_SOURCE, "")))
    return new_plan(manifest, entries)
