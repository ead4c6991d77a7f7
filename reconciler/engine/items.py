"""Items: one (source secret, destination) pair each, expanded from the mappings and the listings.

``ItemSpec`` is what an item *is* (fixed at expansion, immutable); ``Item`` adds what happens to
it (observed metadata, the current decision, the result). A ``Unit`` is the items of one source
secret: they share one value read.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from .._exceptions import BackendError, DeadlineExceeded, ItemError, TransformError
from .._transform import Transform, build_transform
from .._types import SecretMeta, name_from_id
from ..aws.call import ItemStats
from ..aws.store import Store, StoreService
from ..manifest import DestinationSpec, Identity, MappingSpec
from ..manifest import variables as _variables
from ..output.report import ItemResult
from .accounts import AccountDirectory, Target
from .actions import Action, Op
from .planner import Decision, Desired, carry_description, decide, refine_reason, version_token
from .selection import Shard

# What the expander needs of the observation (``inventory.Inventory``/``Scope``) and of the
# results (``results.Results``), as Protocols: items are a value type at the bottom of the engine,
# and those modules import ``Item``, so items cannot import them back (no cycle, even for typing).
ObserveError = BackendError | DeadlineExceeded


class Scope(Protocol):
    """One observed (service, identity, region): ``inventory.Scope``."""

    @property
    def endpoint(self) -> Store | None: ...
    @property
    def error(self) -> ObserveError | None: ...
    @property
    def account(self) -> str: ...


class Inventory(Protocol):
    """What was listed: ``inventory.Inventory``."""

    def source_scope(self, m: MappingSpec) -> Scope: ...
    def match_sources(self, m: MappingSpec,
                      only: dict[str, tuple[str, ...]]) -> list[tuple[str, SecretMeta | None]]: ...
    async def scope(self, service: StoreService, identity: Identity, region: str) -> Scope: ...
    # ``scope`` is typed Any: the implementation takes its own concrete Scope, which a parameter
    # typed with the Protocol above would not accept (parameters are contravariant).
    def unobserved_error(self, scope: Any, secret_id: str) -> ObserveError | None: ...


class Results(Protocol):
    """Where items finish: ``results.Results``."""

    def finish(self, item: Item, action: Action, reason: str, *, error: BaseException | None = None) -> None: ...
    def fail_or_defer(self, item: Item, reason: str, exc: BaseException) -> None: ...


class SelfMappingError(ItemError):
    """The destination resolved at run time is the item's own source: it is never written."""

    type_name = "SelfMapping"


@dataclass(frozen=True, slots=True)
class DestinationRef:
    """Where an item writes. An empty name: a prefix mapping whose source could not be listed."""

    name: str
    region: str
    account: str


UNLISTED = DestinationRef("", "", "")


@dataclass(frozen=True, slots=True)
class ItemSpec:
    mapping: MappingSpec
    dest_spec: DestinationSpec
    source_name: str  # as listed, or as written for an exact source
    dest: DestinationRef
    source_endpoint: Store | None = None
    dest_endpoint: Store | None = None
    transform: Transform | None = None  # None: it could not be built (the item has failed)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The item's identity across runs (--retry-failed)."""
        return (self.mapping.id, self.dest.name, self.dest.region, self.dest.account)

    @property
    def source_id(self) -> str:
        """How the source is keyed in its scope: its ARN when the manifest gave one, else its name."""
        return self.mapping.source.name if self.mapping.source.is_arn else self.source_name


@dataclass(slots=True)
class Item:
    spec: ItemSpec
    source: SecretMeta | None = None  # as observed; refreshed when the source is confirmed
    dest: SecretMeta | None = None  # as observed; refreshed by DescribeSecret before any write
    decision: Decision | None = None
    result: ItemResult | None = None  # set once, by Results only
    stats: ItemStats = field(default_factory=ItemStats)
    started: float = 0.0
    transform_stats: tuple[float, int, int] | None = None  # (ms, input bytes, output bytes)
    seen_version: str | None = None  # the source VersionId the current decision was made at (plan files)


@dataclass(eq=False, slots=True)
class Unit:
    """The live items of one source secret. ``announced`` is set and cleared by ReadAhead only."""

    items: list[Item]
    announced: bool = False

    @property
    def first(self) -> Item:
        return self.items[0]


def token(item: Item, source_version: str) -> str:
    """SPEC's deterministic ClientRequestToken for this item at that source version."""
    spec = item.spec
    assert item.source is not None and spec.transform is not None
    fingerprint = spec.transform.fingerprint
    if spec.dest_endpoint is not None and not spec.dest_endpoint.listings_carry_tags and spec.dest_spec.tags:
        # Its listings show no tags (Parameter Store): the token covers the extra tags, so a change
        # of them is drift seen from the listing, like a change of the transform.
        fingerprint += "\x1f" + "\x1f".join(f"{k}={v}" for k, v in sorted(spec.dest_spec.tags))
    return version_token(item.source.arn, source_version, fingerprint,
                         spec.dest.account, spec.dest.region, spec.dest.name)


def decide_item(item: Item, source_version: str | None, owner: str) -> Decision:
    """The planner's decision for this item as observed now (pure)."""
    spec = item.spec
    want = None
    if item.source is not None and source_version is not None and spec.transform is not None:
        want = token(item, source_version)
    desired = Desired(owner=owner, mapping_id=spec.mapping.id, on_existing=spec.mapping.on_existing,
                      extra_tags=dict(spec.dest_spec.tags), description=spec.dest_spec.description,
                      on_source_deleted=spec.mapping.on_source_deleted, source_key=_source_key(spec))
    decision = decide(source=item.source, source_version=source_version, token=want, dest=item.dest,
                      desired=desired)
    if item.source is not None and spec.transform is not None and decision.op in (Op.STAGE, Op.PUT):
        # only a stage or a put has its reason refined: the tokens of older versions (a uuid5
        # each) are not worked out for the items in sync
        previous = {token(item, v) for v in item.source.versions if v != source_version}
        decision = refine_reason(decision, item.dest, previous)
    if spec.dest_endpoint is not None and spec.dest_endpoint.writes_description_with_value:
        decision = carry_description(decision)
    return decision


def _source_key(spec: ItemSpec) -> tuple[str, str, str] | None:
    """(account, region, name) of the item's source, known even when the source is gone."""
    src = spec.mapping.source
    if src.is_arn:
        parts = src.name.split(":")
        return (parts[4], parts[3], name_from_id(src.name)) if len(parts) > 5 else None
    endpoint = spec.source_endpoint
    return None if endpoint is None else (endpoint.account, endpoint.region, spec.source_name)


class TransformCache:
    """One compiled transform per (mapping, destination, values of the variables it uses)."""

    def __init__(self) -> None:
        self._cache: dict[object, Transform | ItemError] = {}

    def get(self, m: MappingSpec, d: DestinationSpec, values: dict[str, str]) -> Transform | ItemError:
        used = _variables.closure(_used_variables(m), values)  # with the built-ins custom variables use
        key = (m.id, m.destinations.index(d), tuple(values.get(v, "") for v in used))
        cached = self._cache.get(key)
        if cached is None:
            try:
                cached = build_transform(m.steps, lambda t: _variables.expand(t, values))
            except (ValueError, KeyError) as exc:
                cached = TransformError(f"transform: {exc}")
            self._cache[key] = cached
        return cached


class Expander:
    """Mappings x listed sources x destinations -> items. Items that cannot proceed finish here."""

    def __init__(self, inventory: Inventory, results: Results, default_region: str, shard: Shard | None,
                 only: dict[str, tuple[str, ...]], accounts: AccountDirectory | None = None) -> None:
        self.inventory = inventory
        self.results = results
        self.default_region = default_region
        self.shard = shard
        self.only = only  # mapping id -> the member names change events named (prefix mappings)
        self.transforms = TransformCache()
        self.accounts = accounts  # destinations with `accounts` (SPEC "Organizations")

    async def expand(self, mappings: list[MappingSpec]) -> list[Item]:
        items: list[Item] = []
        for m in mappings:
            src_scope = self.inventory.source_scope(m)
            if m.source.prefix and m.id not in self.only and (src_scope.endpoint is None or src_scope.error):
                # The prefix could not be listed: its members are unknown, so the mapping itself fails.
                if self._owns(m.id, m.source.name):
                    items.append(self._unlisted(m, src_scope))
                continue
            targets = await self._targets(m, src_scope, items)
            matched = False
            for source_name, meta in self.inventory.match_sources(m, self.only):
                matched = True
                if not self._owns(m.id, source_name):
                    continue
                for t in targets:
                    region = t.spec.region or self.default_region
                    if t.account is not None and not t.account.active:
                        items.append(self._not_active(m, t, source_name, meta, src_scope, region))
                        continue
                    scope = await self.inventory.scope(t.spec.service, t.spec.identity, region)
                    items.append(self._item(m, t.spec, source_name, meta, src_scope, scope, region, t.template))
            if m.source.prefix and not matched and m.id not in self.only:  # listed fine, but empty: a typo?
                logging.getLogger(__name__).warning("prefix matched no source", extra={"mapping": m.id})
        return items

    async def _targets(self, m: MappingSpec, src_scope: Scope, items: list[Item]) -> list[Target]:
        """Each destination of ``m``, one per account for a destination with ``accounts``.

        Accounts that could not be discovered are never "none": that destination fails with one
        item for the mapping (destination null), and its run-level error is the directory's.
        """
        targets: list[Target] = []
        for d in m.destinations:
            found = await self.accounts.expand(d) if self.accounts is not None else [Target(d, d)]
            if isinstance(found, list):
                targets += found
            elif self._owns(m.id, m.source.name):
                item = Item(ItemSpec(m, d, m.source.name + ("*" if m.source.prefix else ""), UNLISTED,
                                     src_scope.endpoint))
                self.results.fail_or_defer(item, "could not discover the accounts under the organizational units",
                                           found)
                items.append(item)
        return targets

    def _not_active(self, m: MappingSpec, t: Target, source_name: str, source: SecretMeta | None,
                    src_scope: Scope, region: str) -> Item:
        """An item for an account that is not ACTIVE: failed at once, nothing is called there."""
        assert t.account is not None and self.accounts is not None
        values = {**dict(t.spec.variables), "REGION": region, "SOURCE_REGION": m.source.region or self.default_region,
                  "ACCOUNT_ID": t.account.id, "SOURCE_ACCOUNT_ID": src_scope.account, "SECRET_NAME": source_name}
        try:
            name = destination_name(m, t.spec, source_name, values)
        except _variables.UndefinedVariable:
            name = t.spec.name
        item = Item(ItemSpec(m, t.spec, source_name, DestinationRef(name, region, t.account.id), src_scope.endpoint),
                    source=source)
        self.results.finish(item, Action.FAILED, "the account is not active", error=self.accounts.not_active(t.account))
        return item

    def _owns(self, mapping_id: str, source_name: str) -> bool:
        return self.shard is None or self.shard.owns(mapping_id, source_name)

    def _unlisted(self, m: MappingSpec, scope: Scope) -> Item:
        """The one item reported for a prefix mapping whose source could not be listed (no destination)."""
        item = Item(ItemSpec(m, m.destinations[0], m.source.name + "*", UNLISTED, scope.endpoint))
        self.results.fail_or_defer(item, "could not list the source prefix",
                                   self.inventory.unobserved_error(scope, "") or BackendError("not listed"))
        return item

    def _item(self, m: MappingSpec, d: DestinationSpec, source_name: str, source: SecretMeta | None,
              src_scope: Scope, scope: Scope, region: str, template: DestinationSpec | None = None) -> Item:
        src_ep, dest_ep = src_scope.endpoint, scope.endpoint
        src_region = m.source.region or self.default_region
        dest_account = dest_ep.account if dest_ep else (d.identity.account_hint or "unknown")
        src_account = source.account if source else (src_ep.account if src_ep else "unknown")
        values = {**dict(d.variables), "REGION": region, "SOURCE_REGION": src_region, "ACCOUNT_ID": dest_account,
                  "SOURCE_ACCOUNT_ID": src_account, "SECRET_NAME": source_name}
        try:
            name = destination_name(m, d, source_name, values)
        except _variables.UndefinedVariable as exc:
            item = Item(ItemSpec(m, d, source_name, DestinationRef(d.name, region, dest_account), src_ep, dest_ep),
                        source=source)
            self.results.finish(item, Action.FAILED, "destination name", error=TransformError(str(exc)))
            return item
        values["DEST_SECRET_NAME"] = name
        if source is not None:  # the source name of an exact mapping given as an ARN is the listed name
            values["SECRET_NAME"] = source.name
        transform = self.transforms.get(m, template or d, values)  # keyed by the manifest's destination
        ref = DestinationRef(name, region, dest_account)
        item = Item(ItemSpec(m, d, source_name, ref, src_ep, dest_ep,
                             transform if isinstance(transform, Transform) else None), source=source)
        if isinstance(transform, ItemError):
            self.results.finish(item, Action.FAILED, "transform could not be built", error=transform)
        elif (src_account, src_region, source.name if source else name_from_id(source_name)) == \
                (dest_account, region, name) and dest_ep is not None:
            # Only knowable now (default chain, profiles, roles into the source's own account).
            self.results.finish(item, Action.FAILED, "the destination is the item's own source",
                                error=SelfMappingError(f"{name} in {region}, account {dest_account}, "
                                                       "is this item's source; it is never written"))
        return item


def refuse_shared_destinations(items: list[Item], results: Results) -> None:
    """Two items writing one destination would overwrite each other run after run.

    The manifest check catches this where accounts are known at load; with profiles or the
    default chain the accounts are known only now.
    """
    # a secret and a parameter of the same name are two places: keyed by service too
    by_place: dict[tuple[str, DestinationRef], list[Item]] = defaultdict(list)
    for item in items:
        if item.result is None:
            by_place[(item.spec.dest_spec.service, item.spec.dest)].append(item)
    for (_, ref), group in by_place.items():
        if len(group) > 1:
            ids = ", ".join(sorted({f"{i.spec.mapping.id} ({i.spec.source_name})" for i in group}))
            for item in group:
                results.finish(item, Action.FAILED, "more than one mapping writes this destination",
                               error=ItemError(f"{ref.name} in {ref.region}, account {ref.account}, "
                                               f"is written by: {ids}"))


def destination_name(m: MappingSpec, d: DestinationSpec, source_name: str, values: dict[str, str]) -> str:
    """The destination's name: variables expanded, a prefix's '*' replaced by the matched remainder.

    Raises ``_variables.UndefinedVariable``.
    """
    name = _variables.expand(d.name, {k: v for k, v in values.items() if k != "SECRET_NAME"})
    if m.source.prefix:
        name = name.removesuffix("*") + source_name[len(m.source.name):]
    return name


def _used_variables(m: MappingSpec) -> tuple[str, ...]:
    names: set[str] = set()
    for step in m.steps:
        for text in step.rules:
            names.update(_variables.references(text))
        for _, v in step.assignments:
            names.update(_variables.references(str(v)))
    return tuple(sorted(names))
