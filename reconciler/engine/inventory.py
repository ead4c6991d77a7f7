"""Inventory: what exists, observed with ListSecrets (batched name filters) and DescribeSecret.

A scope is one (service, identity, region): Secrets Manager or Parameter Store, through the store
the AWS layer hands out for it. Sources are observed first (prefixes must be listed before their
destinations are known), then the destinations the expanded items name.

Invariant (SPEC "Failures are never silent"): a name that could not be observed is never taken
as absent. A scope whose listing failed keeps the error; a name whose DescribeSecret failed is
kept in ``unobserved``. ``unobserved_error`` tells the engine which items must fail (or defer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio

from .._constants import TAG_OWNER
from .._exceptions import BackendError, CircuitOpenError, DeadlineExceeded
from .._types import SecretMeta
from ..aws.backend import Backend
from ..aws.store import Store, StoreService
from ..manifest import DestinationSpec, Identity, MappingSpec
from ..output.report import RunError
from .deadline import Deadline
from .listing import OwnedPlan, filter_plan, owned_plan

log = logging.getLogger("reconciler")

ObserveError = BackendError | DeadlineExceeded


@dataclass
class Scope:
    """What must be observed in one (service, identity, region), and what was."""

    service: str
    identity: Identity
    region: str
    endpoint: Store | None
    error: ObserveError | None = None  # the endpoint or a listing failed: nothing here is reliable
    exact: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)
    found: dict[str, SecretMeta] = field(default_factory=dict)
    listed: list[SecretMeta] = field(default_factory=list)  # in name order, for prefix matches
    unobserved: dict[str, ObserveError] = field(default_factory=dict)  # DescribeSecret failed
    owned: list[SecretMeta] | None = None  # the owner's secrets here (observe_owned); None: not listed

    @property
    def account(self) -> str:
        if self.endpoint is not None:
            return self.endpoint.account
        return self.identity.account_hint or "unknown"


class Inventory:
    """Every observation of one run: sources, destinations by name, owned secrets (whole or split).

    One class of a little over 200 lines because all of them fill the same scopes, under one
    limiter and one deadline; the choice of filters is engine.listing's (pure), not this class's.
    """

    def __init__(self, backend: Backend, default_region: str, concurrency: int, deadline: Deadline) -> None:
        self.backend = backend
        self.default_region = default_region
        self.deadline = deadline
        self._scopes: dict[tuple[str, str, str], Scope] = {}
        self._limiter = anyio.CapacityLimiter(concurrency)  # listing calls in flight
        self._arn_sources: dict[str, Scope] = {}  # ARN -> its scope, for sources the manifest gives by ARN

    async def scope(self, service: StoreService, identity: Identity, region: str) -> Scope:
        """The scope's store is made on first use; an error (e.g. AssumeRole denied) is kept, not raised."""
        key = (service, identity.key, region)
        scope = self._scopes.get(key)
        if scope is None:
            try:
                endpoint: Store | None = await self.backend.endpoint(identity, region, service=service)
                error: ObserveError | None = None
            except (BackendError, DeadlineExceeded) as exc:  # a deadline defers the scope's items
                endpoint, error = None, exc
            scope = self._scopes.setdefault(key, Scope(service, identity, region, endpoint, error))
        return scope

    def scopes(self) -> list[Scope]:
        """Every scope this run has opened (sources and destinations)."""
        return list(self._scopes.values())

    def source_scope(self, m: MappingSpec) -> Scope:
        s = m.source
        return self._scopes[(s.service, s.identity.key, s.region or self.default_region)]

    def dest_scope(self, d: DestinationSpec, region: str) -> Scope:
        return self._scopes[(d.service, d.identity.key, region)]

    # --- sources -------------------------------------------------------------------------------

    async def observe_sources(self, mappings: list[MappingSpec], only: dict[str, tuple[str, ...]]) -> None:
        """List every source scope; confirm exact names the listing did not show with DescribeSecret."""
        for m in mappings:
            s = m.source
            scope = await self.scope(s.service, s.identity, s.region or self.default_region)
            if s.is_arn:
                self._arn_sources[s.name] = scope
            elif m.id in only:
                scope.exact.update(only[m.id])
            elif s.prefix:
                scope.prefixes.add(s.name)
            else:
                scope.exact.add(s.name)
        scopes = list(self._scopes.values())
        await self._list(scopes, only_new=False)
        await self._describe_missing(scopes)

    def match_sources(self, m: MappingSpec, only: dict[str, tuple[str, ...]]) -> list[tuple[str, SecretMeta | None]]:
        """(name, metadata or None) of each source secret of ``m``: one for an exact source."""
        scope = self.source_scope(m)
        if not m.source.prefix:
            meta = scope.found.get(m.source.name)
            return [(meta.name if meta else m.source.name, meta)]
        if m.id in only:  # a change event named these sources of a prefix mapping
            return [(n, scope.found.get(n)) for n in only[m.id]]
        seen: dict[str, SecretMeta] = {}
        for meta in scope.listed:
            if meta.name.startswith(m.source.name) and meta.name != m.source.name:
                seen.setdefault(meta.name, meta)
        return sorted(seen.items())

    async def _describe_missing(self, scopes: list[Scope]) -> None:
        # ListSecrets can lag by minutes (and never lists another account's secrets): confirm
        # with DescribeSecret before calling a source missing.
        async def confirm(scope: Scope, secret_id: str) -> None:
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
            for arn, scope in self._arn_sources.items():
                tg.start_soon(confirm, scope, arn)
        for scope in scopes:
            scope.listed = sorted(scope.found.values(), key=lambda m: m.name)

    # --- destinations --------------------------------------------------------------------------

    async def observe_destinations(self, wanted: list[tuple[Scope, str]]) -> None:
        """List the (scope, name) pairs not yet found, in as few calls as filter_plan allows.

        A name the listing misses is not yet "absent": ListSecrets lags, so the unit pipeline
        describes it before anything is decided from its absence (engine.unit, step 1).
        """
        for scope, name in wanted:
            if scope.endpoint is not None:
                scope.exact.add(name)
        await self._list([s for s in self._scopes.values() if s.exact - set(s.found)], only_new=True)

    async def observe_owned(self, scopes: list[Scope], owner: str,
                            expected: Mapping[int, list[str]] | None = None) -> None:
        """One listing per destination scope of the secrets ``owner`` owns (SPEC "Lifecycle").

        It serves drift and orphans at once: the destinations it finds need no listing by name
        (``observe_destinations`` then lists only new or foreign names), and what no item maps to
        is an orphan (engine.lifecycle). Scheduled deletions are included (ours are restored).
        ``expected`` (by ``id(scope)``: the destination names the items name there) lets a large
        scope's listing be split into parallel calls (engine.listing.owned_plan).
        """
        async with anyio.create_task_group() as tg:
            for scope in scopes:
                if scope.endpoint is not None and scope.error is None and scope.owned is None:
                    scope.owned = []
                    alphabet = scope.endpoint.owned_name_alphabet
                    names = (expected or {}).get(id(scope), [])
                    plan = owned_plan(names, alphabet) if alphabet else None
                    tg.start_soon(self._list_owned, scope, owner, plan)

    async def _list_owned(self, scope: Scope, owner: str, plan: OwnedPlan | None) -> None:
        assert scope.endpoint is not None and scope.owned is not None
        endpoint, owned = scope.endpoint, scope.owned
        if plan is not None:
            # The names no split value covers come first: if one cannot be read, the scope is
            # listed whole instead (never "absent" for "could not observe").
            failed: list[ObserveError] = []
            async with anyio.create_task_group() as tg:
                for name in plan.describe:
                    tg.start_soon(self._describe_owned, endpoint, name, owner, owned, failed)
            if failed:
                error_type = getattr(failed[0], "type", "DeadlineExceeded")
                log.warning("owned listing not split", extra={"endpoint": repr(endpoint), "error_type": error_type})
                owned.clear()
                plan = None
        if plan is None:
            await self._list_one(scope, None, owner)
            return
        for meta in owned:
            self._found(scope, meta)
        async with anyio.create_task_group() as tg:
            for values in plan.calls:
                tg.start_soon(self._list_one, scope, values, owner)

    async def _describe_owned(self, endpoint: Store, name: str, owner: str, owned: list[SecretMeta],
                              failed: list[ObserveError]) -> None:
        try:
            async with self._limiter:
                if self.deadline.passed():
                    raise DeadlineExceeded("DescribeSecret: the run's deadline passed")
                meta = await endpoint.describe(name)
        except (BackendError, DeadlineExceeded) as exc:
            failed.append(exc)
            return
        if meta is not None and meta.name == name and meta.tags.get(TAG_OWNER) == owner:
            owned.append(meta)

    def unobserved_error(self, scope: Scope, secret_id: str) -> ObserveError | None:
        """Why ``secret_id`` in ``scope`` could not be observed, or None if it was."""
        if scope.endpoint is None or scope.error is not None:
            return scope.error or BackendError("endpoint unavailable")
        return scope.unobserved.get(secret_id)

    def errors(self) -> list[RunError]:
        """One run-level error per scope that could not be observed (SPEC: the report's ``errors``).

        A deadline is not a failure: its items are deferred (exit 1 all the same) and the next run
        picks them up, so it adds no entry.
        """
        return [RunError(account=s.account, region=s.region, service=s.service, type=s.error.type,
                         message=s.error.message)
                for s in self._scopes.values() if isinstance(s.error, BackendError)]

    # --- listing -------------------------------------------------------------------------------

    async def _list(self, scopes: list[Scope], *, only_new: bool) -> None:
        async with anyio.create_task_group() as tg:
            for scope in scopes:
                if scope.endpoint is None:
                    continue
                names = scope.exact - set(scope.found) if only_new else set(scope.exact)
                prefixes = set() if only_new else set(scope.prefixes)
                for values in filter_plan(names, prefixes):
                    tg.start_soon(self._list_one, scope, values)

    async def _list_one(self, scope: Scope, values: list[str] | None, owner: str | None = None) -> None:
        """List by name prefixes ``values``, or (``owner`` given) the secrets ``owner`` owns (among
        the names ``values`` filters, when given)."""
        assert scope.endpoint is not None
        try:
            async with self._limiter:
                if self.deadline.passed():  # SPEC: no new work after the deadline; listing included
                    raise DeadlineExceeded("ListSecrets: the run's deadline passed")
                listing = (scope.endpoint.list_secrets(values) if owner is None
                           else scope.endpoint.list_owned(owner, values))
                async for meta in listing:
                    if owner is not None and scope.owned is not None:
                        scope.owned.append(meta)
                    self._found(scope, meta)
        except (BackendError, DeadlineExceeded) as exc:
            scope.error = _telling(scope.error, exc)
            log.error("listing failed", extra={"endpoint": repr(scope.endpoint),
                                               "error_type": getattr(exc, "type", "DeadlineExceeded")})

    @staticmethod
    def _found(scope: Scope, meta: SecretMeta) -> None:
        if meta.name in scope.found and not meta.deleted and scope.found[meta.name].deleted:
            scope.found[meta.name] = meta  # a live secret wins over a deleted namesake
        else:
            scope.found.setdefault(meta.name, meta)


def _telling(current: ObserveError | None, new: ObserveError) -> ObserveError:
    """The more telling of two errors: the first one, unless it is only a breaker's echo of another."""
    if current is None or (isinstance(current, CircuitOpenError) and not isinstance(new, CircuitOpenError)):
        return new
    return current
