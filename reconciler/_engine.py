"""The engine: observe (list metadata), plan (pure), converge (bounded fan-out), report.

``reconcile(manifest, options) -> Report`` is the one entry point the CLI and the Lambda call.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import anyio

from . import _variables
from ._backend import Backend, CallStats, Endpoint, ItemStats, current_item
from ._constants import BATCH_GET_MAX_IDS, STAGE_CURRENT
from ._exceptions import (
    AlreadyExistsError,
    BackendError,
    CircuitOpenError,
    DeadlineExceeded,
    ItemError,
    ManifestError,
    NotFoundError,
    TransformError,
)
from ._listing import filter_plan
from ._manifest import DestinationSpec, Identity, Manifest, MappingSpec
from ._planner import (
    CONFLICT,
    CREATE,
    DEFERRED,
    FAILED,
    IN_SYNC,
    OP_CREATE,
    OP_PUT,
    OP_STAGE,
    SOURCE_MISSING,
    Decision,
    Desired,
    decide,
    refine_reason,
    version_token,
)
from ._reader import ValueReader
from ._report import ItemResult, Report, RunError
from ._transform import Transform, build_transform
from ._types import SecretMeta, SecretValue, name_from_id, same_source

log = logging.getLogger("reconciler")

_SETTLED = (CONFLICT, SOURCE_MISSING, IN_SYNC)  # decisions that write nothing
DEADLINE_GRACE_SECONDS = 5.0  # items in flight at the deadline get this long to finish
BATCH_LINGER_SECONDS = 0.005  # how long a value read waits for others to share its batch call


@dataclass(frozen=True, kw_only=True)
class Options:
    """How to run a manifest. Validates itself; every field has a safe default."""

    mode: str = "run"  # run | plan
    concurrency: int | None = None  # overrides settings.concurrency
    shard: tuple[int, int] | None = None  # (K, N), 1 <= K <= N
    select: tuple[str, ...] = ()
    deadline: float | None = None  # seconds from the start of the run
    diff: bool = False  # plan only: read values and name the differing paths/lines
    retry_failed: frozenset[tuple[str, str, str, str]] | None = None  # (mapping, name, region, account)
    # Only these sources (change events): (region, name or ARN) pairs. None = every source.
    sources: frozenset[tuple[str, str]] | None = None
    grace: float = DEADLINE_GRACE_SECONDS  # items in flight at the deadline get this long to finish
    stop: Any = None  # an anyio.Event: set it to stop starting new work (signals)
    progress: Callable[[int, int], None] | None = None  # (done, total)

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in ("run", "plan"):
            problems.append(f"mode must be run or plan, not {self.mode!r}")
        if self.concurrency is not None and not 1 <= self.concurrency <= 512:
            problems.append("--concurrency must be between 1 and 512")
        if self.shard is not None and not 1 <= self.shard[0] <= self.shard[1]:
            problems.append("--shard K/N needs 1 <= K <= N")
        if self.deadline is not None and self.deadline <= 0:
            problems.append("--deadline must be a positive number of seconds")
        if self.diff and self.mode != "plan":
            problems.append("--diff is a plan option")
        if problems:
            raise ManifestError(problems)


@dataclass(slots=True)
class _Item:
    mapping: MappingSpec
    dest_spec: DestinationSpec
    source_name: str  # as listed, or as written for an exact source
    source_endpoint: Endpoint | None
    dest_endpoint: Endpoint | None
    dest_name: str
    dest_region: str
    dest_account: str
    transform: Transform | None = None
    source: SecretMeta | None = None
    dest: SecretMeta | None = None
    decision: Decision | None = None
    result: ItemResult | None = None
    stats: ItemStats = field(default_factory=ItemStats)
    started: float = 0.0
    transform_stats: tuple[float, int, int] | None = None  # (ms, input bytes, output bytes)
    announced: bool = False  # (first item of a unit) its source read was announced to the reader

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.mapping.id, self.dest_name, self.dest_region, self.dest_account)

    @property
    def source_id(self) -> str:
        """How the source is keyed in its scope: its ARN when the manifest gave one, else its name."""
        return self.mapping.source.name if self.mapping.source.is_arn else self.source_name


class SelfMappingError(ItemError):
    """The destination resolved at run time is the item's own source: it is never written."""

    type_name = "SelfMapping"


@dataclass
class _Scope:
    """What must be observed in one (identity, region).

    Invariant: a scope whose listing failed (``error``) has observed nothing reliable, so every
    item that needs it fails (or is deferred) with that error: "not listed" never means "absent".
    ``unobserved`` holds single names whose DescribeSecret failed, for the same reason.
    """

    endpoint: Endpoint | None
    error: BackendError | DeadlineExceeded | None = None
    identity: Identity | None = None
    region: str = ""
    unobserved: dict[str, BackendError | DeadlineExceeded] = field(default_factory=dict)
    exact: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    found: dict[str, SecretMeta] = field(default_factory=dict)
    listed: list[SecretMeta] = field(default_factory=list)  # in name order, for prefix matches


async def reconcile(manifest: Manifest, options: Options | None = None) -> Report:
    """Bring every destination of ``manifest`` in line with its source (or, in plan mode, say how)."""
    return await _Run(manifest, options or Options()).execute()


class _Run:
    def __init__(self, manifest: Manifest, options: Options) -> None:
        self.manifest = manifest
        self.options = options
        self.settings = manifest.settings
        self.concurrency = options.concurrency or self.settings.concurrency
        self.stats = CallStats()
        self.report = Report(mode=options.mode, run_id=uuid.uuid4().hex[:16],
                             started_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.t0 = time.monotonic()
        self.deadline_at = self.t0 + options.deadline if options.deadline is not None else None
        self.backend = Backend(
            concurrency=self.concurrency, retry=self.settings.retry,
            deadline=None if self.deadline_at is None else self.deadline_at + options.grace,
            rate_limits=self.settings.rate_limits, stats=self.stats, timeouts=self.settings.timeouts,
        )
        self.items: list[_Item] = []
        self._only: dict[str, list[str]] = {}  # mapping id -> source names a change event named
        self.done = 0
        self._transforms: dict[Any, Transform | ItemError] = {}
        self._readers: dict[tuple[str, str], ValueReader] = {}
        self._list_limiter = anyio.CapacityLimiter(self.concurrency)  # listing calls in flight

    # --- top level -----------------------------------------------------------------------------

    async def execute(self) -> Report:
        mappings = self._selected()
        async with self.backend:
            default_region = self.backend.default_region()
            self._check_regions(mappings, default_region)
            self.default_region = default_region or ""
            await self._observe_and_expand(mappings)
            await self._converge()
        # manifest order, then source and destination: stable across runs, easy to diff in CI
        ordered = sorted(self.items, key=lambda i: (i.mapping.index, i.source_name, i.dest_region, i.dest_name))
        self.report.items = [i.result for i in ordered if i.result is not None]
        self.report.api_calls = dict(self.stats.calls)
        self.report.retries = dict(self.stats.retries)
        self.report.throttles = dict(self.stats.throttles)
        self.report.duration_ms = int((time.monotonic() - self.t0) * 1000)
        log.info("run finished", extra={"run_id": self.report.run_id, "mode": self.options.mode,
                                        "totals": self.report.totals, "duration_ms": self.report.duration_ms,
                                        "api_calls": sum(self.stats.calls.values())})
        return self.report

    def _selected(self) -> list[MappingSpec]:
        mappings = list(self.manifest.mappings)
        if self.options.select:
            ids = {m.id for m in mappings}
            unknown = [s for s in self.options.select if s not in ids]
            if unknown:
                raise ManifestError([f"{self.manifest.origin}: --select names unknown mapping id(s): "
                                     f"{', '.join(unknown)} (known: {', '.join(sorted(ids))})"])
            mappings = [m for m in mappings if m.id in self.options.select]
        return mappings

    def _check_regions(self, mappings: list[MappingSpec], default_region: str | None) -> None:
        if default_region:
            return
        missing = [m.id for m in mappings if m.source.region is None or any(d.region is None for d in m.destinations)]
        if missing:
            raise ManifestError([f"{self.manifest.origin}: mapping '{missing[0]}': no region; set one in the "
                                 "manifest (defaults.source / defaults.destination) or AWS_REGION"])

    # --- observe -------------------------------------------------------------------------------

    async def _endpoint(self, identity: Identity, region: str) -> tuple[Endpoint | None, BackendError | None]:
        try:
            return await self.backend.endpoint(identity, region), None
        except BackendError as exc:
            return None, exc

    async def _observe_and_expand(self, mappings: list[MappingSpec]) -> None:
        scopes: dict[tuple[str, str], _Scope] = {}
        endpoints: dict[tuple[str, str], tuple[Endpoint | None, BackendError | None]] = {}

        async def scope_for(identity: Identity, region: str) -> _Scope:
            key = (identity.key, region)
            if key not in endpoints:
                endpoints[key] = await self._endpoint(identity, region)
            if key not in scopes:
                ep, err = endpoints[key]
                scopes[key] = _Scope(ep, err, identity=identity, region=region)
            return scopes[key]

        # Sources first: prefixes must be listed before their destinations are known.
        arn_sources: dict[str, tuple[_Scope, str]] = {}
        if self.options.sources is not None:
            mappings = [m for m in mappings if self._restrict(m)]
        for m in mappings:
            s = m.source
            scope = await scope_for(s.identity, s.region or self.default_region)
            if s.is_arn:
                arn_sources[s.name] = (scope, s.name)
            elif m.id in self._only:
                scope.exact.update(self._only[m.id])
            elif s.prefix:
                scope.prefixes.add(s.name)
            else:
                scope.exact.add(s.name)
        await self._list_scopes(list(scopes.values()))
        await self._describe_missing_sources(list(scopes.values()), arn_sources)

        # Expand every mapping into items, then list what their destinations need.
        pending: list[_Item] = []
        for m in mappings:
            src_scope = scopes[(m.source.identity.key, m.source.region or self.default_region)]
            if m.source.prefix and m.id not in self._only and (src_scope.endpoint is None or src_scope.error):
                # The prefix could not be listed: its members are unknown, so the mapping itself fails.
                if self._in_shard(m.id, m.source.name):
                    pending.append(self._unlisted_mapping(m, src_scope))
                continue
            sources = self._match_sources(m, src_scope, arn_sources)
            for source_name, source_meta in sources:
                if not self._in_shard(m.id, source_name):
                    continue
                for d in m.destinations:
                    region = d.region or self.default_region
                    scope = await scope_for(d.identity, region)
                    item = self._make_item(m, d, source_name, source_meta, src_scope, scope, region)
                    if item is None:
                        continue
                    pending.append(item)
                    if scope.endpoint is not None and item.result is None:
                        scope.exact.add(item.dest_name)
        dest_scopes = [s for s in scopes.values() if s.exact - set(s.found)]
        await self._list_scopes(dest_scopes, only_new=True)
        for item in pending:
            if item.result is None:
                src = item.mapping.source
                src_scope = scopes[(src.identity.key, src.region or self.default_region)]
                scope = scopes[(item.dest_spec.identity.key, item.dest_region)]
                if not self._observed(item, src_scope, item.source_id, "could not list the source") or \
                        not self._observed(item, scope, item.dest_name, "could not list the destination"):
                    continue
                item.dest = scope.found.get(item.dest_name)
        self._refuse_shared_destinations(pending)
        self._record_scope_errors(list(scopes.values()))
        if self.options.retry_failed is not None:
            retry = self.options.retry_failed
            pending = [i for i in pending if i.key in retry or (i.mapping.id, "", "", "") in retry]
        self.items = pending

    def _observed(self, item: _Item, scope: _Scope, secret_id: str, reason: str) -> bool:
        """Fail (or defer) ``item`` unless ``scope`` observed ``secret_id``. Not listed is not absent."""
        err = scope.error or scope.unobserved.get(secret_id)
        if scope.endpoint is None or err is not None:
            self._fail_or_defer(item, reason, err or BackendError("endpoint unavailable"))
            return False
        return True

    def _record_scope_errors(self, scopes: list[_Scope]) -> None:
        """One run-level error per scope that could not be observed (SPEC: "Failures are never silent").

        A deadline is not a failure: its items are deferred (exit 1 all the same) and the next run
        picks them up, so it adds no entry here.
        """
        for scope in scopes:
            err = scope.error
            if not isinstance(err, BackendError):
                continue
            account = scope.endpoint.account if scope.endpoint is not None else (
                (scope.identity.account_hint if scope.identity else None) or "unknown")
            self.report.errors.append(RunError(account=account, region=scope.region, service="secretsmanager",
                                               type=err.type, message=err.message))

    def _unlisted_mapping(self, m: MappingSpec, scope: _Scope) -> _Item:
        """The one item reported for a prefix mapping whose source could not be listed (no destination)."""
        item = _Item(m, m.destinations[0], m.source.name + "*", scope.endpoint, None, "", "", "")
        err = scope.error or BackendError("endpoint unavailable")
        self._fail_or_defer(item, "could not list the source prefix", err)
        return item

    def _refuse_shared_destinations(self, items: list[_Item]) -> None:
        """Two items writing one destination would overwrite each other run after run.

        The manifest check catches this where accounts are known at load; with profiles or the
        default chain the accounts are known only now.
        """
        by_place: dict[tuple[str, str, str], list[_Item]] = defaultdict(list)
        for item in items:
            if item.result is None:
                by_place[(item.dest_name, item.dest_region, item.dest_account)].append(item)
        for (name, region, account), group in by_place.items():
            if len(group) > 1:
                ids = ", ".join(sorted({f"{i.mapping.id} ({i.source_name})" for i in group}))
                for item in group:
                    self._finish(item, FAILED, "more than one mapping writes this destination",
                                 error=ItemError(f"{name} in {region}, account {account}, is written by: {ids}"))

    def _restrict(self, m: MappingSpec) -> bool:
        """Does a change event name this mapping's source? Remember which names, for prefixes."""
        assert self.options.sources is not None
        region = m.source.region or self.default_region
        names = []
        for ev_region, ev_id in self.options.sources:
            if ev_region != region:
                continue
            if m.source.is_arn:
                if same_source(ev_id, m.source.name):
                    return True
                continue
            name = name_from_id(ev_id)
            if m.source.prefix and name.startswith(m.source.name) and name != m.source.name:
                names.append(name)
            elif not m.source.prefix and name == m.source.name:
                return True
        if names:
            self._only[m.id] = sorted(set(names))
            return True
        return False

    def _in_shard(self, mapping_id: str, source_name: str) -> bool:
        if self.options.shard is None:
            return True
        k, n = self.options.shard
        digest = hashlib.sha256(f"{mapping_id}\x00{source_name}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % n == k - 1

    async def _list_scopes(self, scopes: list[_Scope], only_new: bool = False) -> None:
        async with anyio.create_task_group() as tg:
            for scope in scopes:
                if scope.endpoint is None:
                    continue
                names = scope.exact - set(scope.found) if only_new else set(scope.exact)
                prefixes = set() if only_new else set(scope.prefixes)
                for values in filter_plan(names, prefixes):
                    tg.start_soon(self._list_one, scope, values)

    async def _list_one(self, scope: _Scope, values: list[str] | None) -> None:
        assert scope.endpoint is not None
        try:
            async with self._list_limiter:
                async for meta in scope.endpoint.list_secrets(values):
                    if meta.name in scope.found and not meta.deleted and scope.found[meta.name].deleted:
                        scope.found[meta.name] = meta
                    else:
                        scope.found.setdefault(meta.name, meta)
        except (BackendError, DeadlineExceeded) as exc:
            scope.error = _telling(scope.error, exc)
            log.error("listing failed", extra={"endpoint": repr(scope.endpoint),
                                               "error_type": getattr(exc, "type", "DeadlineExceeded")})

    async def _describe_missing_sources(self, scopes: list[_Scope],
                                        arn_sources: dict[str, tuple[_Scope, str]]) -> None:
        # ListSecrets can lag by minutes (and never lists another account's secrets): confirm
        # with DescribeSecret before calling a source missing.
        async def confirm(scope: _Scope, secret_id: str) -> None:
            if scope.endpoint is None or scope.error is not None:
                return  # the scope's own error fails its items
            try:
                meta = await scope.endpoint.describe(secret_id)
            except (BackendError, DeadlineExceeded) as exc:
                scope.unobserved[secret_id] = exc  # could not observe: never read as "missing"
                return
            if meta is not None:
                scope.found[secret_id] = meta
                scope.found.setdefault(meta.name, meta)

        async with anyio.create_task_group() as tg:
            for scope in scopes:
                for name in scope.exact - set(scope.found):
                    tg.start_soon(confirm, scope, name)
            for arn, (scope, _) in arn_sources.items():
                tg.start_soon(confirm, scope, arn)
        for scope in scopes:
            scope.listed = sorted(scope.found.values(), key=lambda m: m.name)

    def _match_sources(self, m: MappingSpec, scope: _Scope,
                       arn_sources: dict[str, tuple[_Scope, str]]) -> list[tuple[str, SecretMeta | None]]:
        if not m.source.prefix:
            meta = scope.found.get(m.source.name)
            return [(meta.name if meta else m.source.name, meta)]
        if m.id in self._only:  # a change event named these sources of a prefix mapping
            return [(n, scope.found.get(n)) for n in self._only[m.id]]
        seen: dict[str, SecretMeta] = {}
        for meta in scope.listed:
            if meta.name.startswith(m.source.name) and meta.name != m.source.name:
                seen.setdefault(meta.name, meta)
        return sorted(seen.items())

    def _make_item(self, m: MappingSpec, d: DestinationSpec, source_name: str, source: SecretMeta | None,
                   src_scope: _Scope, scope: _Scope, region: str) -> _Item | None:
        src_ep = src_scope.endpoint
        dest_ep = scope.endpoint
        src_region = m.source.region or self.default_region
        dest_account = dest_ep.account if dest_ep else (d.identity.account_hint or "unknown")
        src_account = source.account if source else (src_ep.account if src_ep else "unknown")
        builtins = {"REGION": region, "SOURCE_REGION": src_region, "ACCOUNT_ID": dest_account,
                    "SOURCE_ACCOUNT_ID": src_account, "SECRET_NAME": source_name}
        values = {**dict(d.variables), **builtins}
        item = _Item(m, d, source_name, src_ep, dest_ep, d.name, region, dest_account, source=source)
        try:
            name = _variables.expand(d.name, {k: v for k, v in values.items() if k != "SECRET_NAME"})
            if m.source.prefix:
                name = name.removesuffix("*") + source_name[len(m.source.name):]
            item.dest_name = name
        except _variables.UndefinedVariable as exc:
            self._finish(item, FAILED, "destination name", error=TransformError(str(exc)))
            return item
        values["DEST_SECRET_NAME"] = item.dest_name
        # The source name of an exact mapping given as an ARN is the listed name.
        if source is not None:
            values["SECRET_NAME"] = source.name
        item.transform = self._transform(m, d, values, item)
        for scope_, ep in ((src_scope, src_ep), (scope, dest_ep)):
            if ep is None or scope_.error is not None:
                err = scope_.error or BackendError("endpoint unavailable")
                self._fail_or_defer(item, "cannot observe the endpoint", err)
                return item
        listed_name = source.name if source is not None else name_from_id(source_name)
        if (src_account, src_region, listed_name) == (dest_account, region, item.dest_name):
            # Only knowable now (default chain, profiles, roles into the source's own account).
            self._finish(item, FAILED, "the destination is the item's own source",
                         error=SelfMappingError(f"{item.dest_name} in {region}, account {dest_account}, "
                                                "is this item's source; it is never written"))
        return item

    def _transform(self, m: MappingSpec, d: DestinationSpec, values: dict[str, str], item: _Item) -> Transform | None:
        used = _used_variables(m)
        key = (m.id, m.destinations.index(d), tuple(values.get(v, "") for v in used))
        cached = self._transforms.get(key)
        if cached is None:
            try:
                cached = build_transform(m.steps, lambda t: _variables.expand(t, values))
            except (ValueError, KeyError) as exc:
                cached = TransformError(f"transform: {exc}")
            self._transforms[key] = cached
        if isinstance(cached, ItemError):
            self._finish(item, FAILED, "transform could not be built", error=cached)
            return None
        return cached

    # --- plan and converge -----------------------------------------------------------------------

    def _desired(self, item: _Item) -> Desired:
        return Desired(owner=self.settings.owner, mapping_id=item.mapping.id, on_existing=item.mapping.on_existing,
                       extra_tags=dict(item.dest_spec.tags), description=item.dest_spec.description)

    def _decide(self, item: _Item, source_version: str | None) -> Decision:
        token = None
        if item.source is not None and source_version is not None and item.transform is not None:
            token = self._token(item, source_version)
        decision = decide(source=item.source, source_version=source_version, token=token, dest=item.dest,
                          desired=self._desired(item))
        if item.source is not None and item.transform is not None:
            previous = {self._token(item, v) for v in item.source.versions if v != source_version}
            decision = refine_reason(decision, item.dest, previous)
        return decision

    def _redecide(self, item: _Item, source_version: str | None) -> bool:
        """Decide again; finish the item if nothing is to be written. True if it is still live."""
        item.decision = self._decide(item, source_version)
        if item.decision.action in _SETTLED:
            self._finish(item, item.decision.action, item.decision.reason)
            return False
        return True

    def _token(self, item: _Item, source_version: str) -> str:
        assert item.source is not None and item.transform is not None
        return version_token(item.source.arn, source_version, item.transform.fingerprint,
                             item.dest_account, item.dest_region, item.dest_name)

    async def _converge(self) -> None:
        units: dict[tuple[str, str], list[_Item]] = defaultdict(list)
        for item in self.items:
            if item.result is not None:
                continue
            if self._redecide(item, item.source.current_version if item.source else None):
                units[(item.mapping.id, item.source_name)].append(item)
        total = len(self.items)
        self.done = sum(1 for i in self.items if i.result is not None)
        self._progress(total)
        # Queue a batch's worth of units ahead of the workers so their reads can share calls.
        send, receive = anyio.create_memory_object_stream[list[_Item]](BATCH_GET_MAX_IDS)
        hard_stop = None if self.deadline_at is None else self.deadline_at + self.options.grace
        with anyio.CancelScope(deadline=_to_anyio(hard_stop)) as scope:
            async with anyio.create_task_group() as tg:
                for _ in range(min(self.concurrency, max(1, len(units)))):
                    tg.start_soon(self._worker, receive.clone(), total)
                receive.close()
                async with send:
                    for unit in units.values():
                        if self._stopping():
                            for item in unit:
                                self._finish(item, DEFERRED, "not started before the deadline or stop signal")
                            continue
                        self._announce(unit)
                        await send.send(unit)
        if scope.cancelled_caught:
            for item in self.items:
                if item.result is None:
                    self._finish(item, DEFERRED, "abandoned at the deadline; the next run picks it up")

    def _stopping(self) -> bool:
        if self.options.stop is not None and self.options.stop.is_set():
            return True
        return self.deadline_at is not None and time.monotonic() >= self.deadline_at

    def _progress(self, total: int) -> None:
        if self.options.progress is not None:
            self.options.progress(self.done, total)

    def _announce(self, unit: list[_Item]) -> None:
        first = unit[0]
        reads = self.options.mode == "run" or self.options.diff
        if reads and first.source is not None and first.source_endpoint is not None and any(
                i.decision is not None and i.decision.needs_value for i in unit):
            self._reader(first.source_endpoint).prefetch(first.source.arn)
            first.announced = True

    def _release(self, unit: list[_Item]) -> None:
        """The unit will not read its announced value: let the reader forget it."""
        first = unit[0]
        if first.announced and first.source is not None and first.source_endpoint is not None:
            first.announced = False
            self._reader(first.source_endpoint).release(first.source.arn)

    async def _worker(self, receive: Any, total: int) -> None:
        async with receive:
            async for unit in receive:
                if self._stopping():  # queued before the deadline, not started by it
                    self._release(unit)
                    for item in unit:
                        self._finish(item, DEFERRED, "not started before the deadline or stop signal")
                else:
                    try:
                        await self._process_unit(unit)
                    except Exception as exc:  # a bug must not stop the other items, nor leak a value
                        log.error("internal error", extra={"mapping": unit[0].mapping.id,
                                                           "exception_type": exc.__class__.__name__})
                        for item in unit:
                            self._finish(item, FAILED, "internal error",
                                         error=ItemError(f"internal error ({exc.__class__.__name__})"))
                self._progress(total)

    async def _process_unit(self, unit: list[_Item]) -> None:
        try:
            await self._process_live(unit)
        finally:
            self._release(unit)  # no-op once the value was read

    async def _process_live(self, unit: list[_Item]) -> None:
        now = time.monotonic()
        for item in unit:
            item.started = now
        # 1. Confirm suspected drift with DescribeSecret: listings can lag by minutes.
        async with anyio.create_task_group() as tg:
            for item in unit:
                if item.dest is not None:
                    tg.start_soon(self._confirm, item)
        live = [i for i in unit if i.result is None]
        if not live:
            return
        # 2. Moving AWSCURRENT back writes no value, so nothing else would prove the source
        #    really is at that version: a lagging listing would otherwise roll a copy back.
        if any(i.decision is not None and i.decision.op == OP_STAGE for i in live):
            if not await self._confirm_source(live):
                return
            live = [i for i in live if i.result is None]
        needs_value = [i for i in live if i.decision is not None and i.decision.needs_value]
        value: SecretValue | None = None
        if needs_value and (self.options.mode == "run" or self.options.diff):
            unit[0].announced = False  # the read below consumes the announcement
            value = await self._read_source(live)
            if value is None:
                return
            for item in live:
                item.decision = self._decide(item, value.version_id)
        if self.options.mode == "plan":
            for item in live:
                if item.result is None:
                    await self._plan_item(item, value)
            return
        async with anyio.create_task_group() as tg:
            for item in live:
                tg.start_soon(self._write_item, item, value)

    async def _confirm(self, item: _Item) -> None:
        assert item.dest_endpoint is not None
        token = current_item.set(item.stats)
        try:
            item.dest = await item.dest_endpoint.describe(item.dest.arn if item.dest else item.dest_name)
        except (BackendError, DeadlineExceeded) as exc:
            self._fail_or_defer(item, "could not read the destination", exc)
            return
        finally:
            current_item.reset(token)
        self._redecide(item, item.source.current_version if item.source else None)

    async def _confirm_source(self, live: list[_Item]) -> bool:
        """Describe the source afresh and decide again; False if every item is settled."""
        item0 = live[0]
        assert item0.source is not None and item0.source_endpoint is not None
        token = current_item.set(item0.stats)
        try:
            fresh = await item0.source_endpoint.describe(item0.source.arn)
        except (BackendError, DeadlineExceeded) as exc:
            for item in live:
                self._fail_or_defer(item, "could not read the source", exc)
            return False
        finally:
            current_item.reset(token)
        for item in live:
            item.source = fresh
        return any([self._redecide(item, fresh.current_version if fresh else None) for item in live])

    async def _read_source(self, live: list[_Item]) -> SecretValue | None:
        item0 = live[0]
        assert item0.source is not None and item0.source_endpoint is not None
        reader = self._reader(item0.source_endpoint)
        token = current_item.set(item0.stats)
        try:
            value = await reader.get(item0.source.arn)
        except NotFoundError:
            for item in live:
                self._finish(item, SOURCE_MISSING, "source not found when read")
            return None
        except (BackendError, DeadlineExceeded) as exc:
            for item in live:
                self._fail_or_defer(item, "could not read the source", exc)
            return None
        finally:
            current_item.reset(token)
        for item in live[1:]:
            item.stats.attempts += item0.stats.attempts
        return value

    def _reader(self, endpoint: Endpoint) -> ValueReader:
        key = (endpoint.identity.key, endpoint.region)
        if key not in self._readers:
            self._readers[key] = ValueReader(endpoint)
        return self._readers[key]

    async def _plan_item(self, item: _Item, value: SecretValue | None) -> None:
        decision = item.decision
        assert decision is not None
        if decision.action in _SETTLED:
            self._finish(item, decision.action, decision.reason)
            return
        diff = None
        if self.options.diff and value is not None and decision.needs_value:
            try:
                diff = await self._diff(item, value)
            except (ItemError, DeadlineExceeded) as exc:
                self._fail_or_defer(item, "could not compute the diff", exc)
                return
        self._finish(item, decision.action, decision.reason, diff=diff)

    async def _diff(self, item: _Item, value: SecretValue) -> dict[str, Any] | None:
        from ._diff import describe_difference

        wanted = await self._transformed(item, value)
        current = None
        if item.dest is not None and item.dest_endpoint is not None and item.dest.current_version:
            token = current_item.set(item.stats)
            try:
                current = await item.dest_endpoint.get_current(item.dest.arn)
            finally:
                current_item.reset(token)
        return describe_difference(current, wanted)

    async def _transformed(self, item: _Item, value: SecretValue) -> SecretValue:
        assert item.transform is not None
        if item.transform.identity:
            return value
        if value.binary is not None:
            raise TransformError("the source is a binary secret; a transform needs a string")
        t0 = time.perf_counter()
        out = await anyio.to_thread.run_sync(item.transform.apply, value.string or "")
        item.transform_stats = ((time.perf_counter() - t0) * 1000, value.size, len(out.encode()))
        return SecretValue(value.arn, value.name, value.version_id, value.stages, string=out)

    async def _write_item(self, item: _Item, value: SecretValue | None) -> None:
        token = current_item.set(item.stats)
        try:
            await self._write(item, value, retry_on_exists=True)
        except (ItemError, DeadlineExceeded) as exc:
            self._fail_or_defer(item, "write failed", exc)
        finally:
            current_item.reset(token)

    async def _write(self, item: _Item, value: SecretValue | None, *, retry_on_exists: bool) -> None:
        d = item.decision
        ep = item.dest_endpoint
        assert d is not None and ep is not None and item.source is not None
        if d.action in _SETTLED:
            self._finish(item, d.action, d.reason)
            return
        version = value.version_id if value is not None else item.source.current_version
        assert version is not None
        want = self._token(item, version)
        payload = None
        if d.needs_value:
            assert value is not None
            payload = await self._transformed(item, value)
        if d.op == OP_CREATE:
            assert payload is not None
            retries_before = item.stats.retries
            try:
                await ep.create(item.dest_name, want, payload, kms_key_id=item.dest_spec.kms_key_id,
                                description=item.dest_spec.description, tags=d.tags)
            except AlreadyExistsError:
                if not retry_on_exists:
                    raise
                # The listing lagged (it existed before we asked), or an earlier attempt of this
                # very request created it before its answer was lost. Look again and decide.
                item.dest = await ep.describe(item.dest_name)
                item.decision = self._decide(item, version)
                if item.decision.action == IN_SYNC:
                    retried = item.stats.retries > retries_before
                    self._finish(item, CREATE if retried else IN_SYNC,
                                 d.reason if retried else "in sync (the listing had not caught up)",
                                 value=payload if retried else None)
                    return
                await self._write(item, value, retry_on_exists=False)
                return
            self._finish(item, CREATE, d.reason, value=payload)
            return
        assert item.dest is not None
        arn = item.dest.arn
        if d.adopt and d.tags:
            await ep.tag(arn, d.tags)  # tag first: a crash after this leaves it owned, not orphaned
        if d.restore:
            await ep.restore(arn)
        if d.op == OP_PUT:
            assert payload is not None
            stages = await ep.put_value(arn, want, payload)
            if STAGE_CURRENT not in stages:
                # AWS ignores a PutSecretValue whose token already exists: make it current ourselves.
                await ep.move_current(arn, want, item.dest.current_version)
        elif d.op == OP_STAGE:
            await ep.move_current(arn, want, item.dest.current_version)
        if d.tags and not d.adopt:
            await ep.tag(arn, d.tags)
        if d.description is not None:
            await ep.set_description(arn, d.description)
        self._finish(item, d.action, d.reason, value=payload)

    # --- results -------------------------------------------------------------------------------

    def _fail_or_defer(self, item: _Item, reason: str, exc: BaseException) -> None:
        if isinstance(exc, DeadlineExceeded):
            self._finish(item, DEFERRED, "deadline reached before the item finished")
        else:
            self._finish(item, FAILED, reason, error=exc)

    def _finish(self, item: _Item, action: str, reason: str, *, error: BaseException | None = None,
                value: SecretValue | None = None, diff: dict[str, Any] | None = None) -> None:
        if item.result is not None:
            return
        err_type = err_msg = None
        retryable = None
        if error is not None:
            err_type = getattr(error, "type", error.__class__.__name__)
            err_msg = getattr(error, "message", None) or str(error)
            retryable = bool(getattr(error, "retryable", False)) or err_type == "CircuitOpen"
        stats = item.stats
        duration = int((time.monotonic() - item.started) * 1000) if item.started else 0
        transform_stats = item.transform_stats
        item.result = ItemResult(
            mapping=item.mapping.id,
            source=item.source.arn if item.source else item.source_name,
            dest_name=item.dest_name, dest_region=item.dest_region, dest_account=item.dest_account,
            action=action, reason=reason, error_type=err_type, error_message=err_msg, retryable=retryable,
            attempts=stats.attempts, duration_ms=duration, diff=diff,
            source_region=item.mapping.source.region or self.default_region,
            transform_mode=item.transform.mode if item.transform else "none",
            transform_rules=item.transform.rule_count if item.transform else 0,
            size=value.size if value is not None else None,
            transform_ms=transform_stats[0] if transform_stats else None,
            transform_in=transform_stats[1] if transform_stats else None,
            transform_out=transform_stats[2] if transform_stats else None,
            retries=stats.retries, throttles=stats.throttles,
        )
        self.done += 1
        if action != IN_SYNC:
            level = logging.WARNING if action in (FAILED, CONFLICT, SOURCE_MISSING, DEFERRED) else logging.INFO
            log.log(level, "item", extra={"run_id": self.report.run_id, "mapping": item.mapping.id,
                                          "destination": item.dest_name, "region": item.dest_region,
                                          "action": action, "reason": reason, "error_type": err_type})


def _used_variables(m: MappingSpec) -> tuple[str, ...]:
    names: set[str] = set()
    for step in m.steps:
        for text in step.rules:
            names.update(_variables.references(text))
        for _, v in step.assignments:
            names.update(_variables.references(str(v)))
    return tuple(sorted(names))


def _to_anyio(deadline: float | None) -> float:
    # anyio deadlines use the event loop clock; time.monotonic is the same clock under asyncio.
    return float("inf") if deadline is None else deadline



def _telling(current: BackendError | DeadlineExceeded | None,
             new: BackendError | DeadlineExceeded) -> BackendError | DeadlineExceeded:
    """The more telling of two errors: the first one, unless only a breaker's echo of another."""
    if current is None or (isinstance(current, CircuitOpenError) and not isinstance(new, CircuitOpenError)):
        return new
    return current
