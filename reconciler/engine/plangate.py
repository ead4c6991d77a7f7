"""Recording a plan (``plan --out``) and holding a run to one (``run --plan``).

``PlanRecorder`` turns what a plan run decided into ``PlanEntry`` rows. ``PlanGate`` is what a
``run --plan`` consults: an item or orphan without an entry is not touched; one whose source or
destination is no longer at the version the plan saw fails ``PlanStale`` and is not written.

Why versions and not values: a VersionId changes with every write, by us or anyone, so "the same
VersionId" is "nothing was written since the plan" without reading either value. Secrets Manager
has no conditional write, so the check is made right before the write, on the DescribeSecret the
run makes anyway; a write that lands in the milliseconds between is the same race any run has.
"""

from __future__ import annotations

from .._exceptions import ItemError
from .._types import SecretMeta
from ..output.report import ItemResult, action_value
from .actions import Action, Op
from .items import Item, token
from .planfile import Change, PlanDestination, PlanEntry, PlanFile

__all__ = ["PlanGate", "PlanStale", "entry_for_item", "entry_for_orphan"]


class PlanStale(ItemError):
    """The planned item moved since the plan (its source or destination was written): not written."""

    type_name = "PlanStale"


def _changes(item: Item) -> tuple[Change, ...]:
    d = item.decision
    assert d is not None
    out: list[Change] = []
    if d.op in (Op.DELETE, Op.CREATE):
        return ("delete",) if d.op == Op.DELETE else ("create",)  # a create carries its tags in the call
    if d.restore:
        out.append("restore")
    if d.op == Op.PUT:
        out.append("put")
    elif d.op == Op.STAGE:
        out.append("rollback")
    if d.tags or d.tags_after:
        out.append("tag")
    if d.untag:
        out.append("untag")
    if d.description is not None:
        out.append("description")
    return tuple(out)


def entry_for_item(item: Item) -> PlanEntry:
    """The plan row of an item a plan run finished as create, update or delete."""
    spec, d, result = item.spec, item.decision, item.result
    assert d is not None and result is not None
    version = item.seen_version
    want = token(item, version) if (version is not None and item.source is not None and spec.transform is not None
                                    and d.op != Op.DELETE) else None
    return PlanEntry(kind="item", mapping=spec.mapping.id,
                     source=item.source.arn if item.source is not None else spec.source_name,
                     source_version=version if d.op != Op.DELETE else None,
                     destination=PlanDestination(service=spec.dest_spec.service, account=spec.dest.account,
                                                 region=spec.dest.region, name=spec.dest.name),
                     destination_version=item.dest.current_version if item.dest is not None else None,
                     token=want, action=action_value(result.action),  # type: ignore[arg-type]
                     changes=_changes(item))


def entry_for_orphan(service: str, account: str, region: str, meta: SecretMeta, mapping: str,
                     source: str) -> PlanEntry:
    return PlanEntry(kind="orphan", mapping=mapping, source=source, destination=PlanDestination(
        service=service, account=account, region=region, name=meta.name),  # type: ignore[arg-type]
        destination_version=meta.current_version, action="delete", changes=("delete",))


class PlanGate:
    """The entries of a plan, found by item or orphan; remembers which were met."""

    def __init__(self, plan: PlanFile) -> None:
        self.items = {e.key: e for e in plan.items if e.kind == "item"}
        self.orphans = {e.destination.place: e for e in plan.items if e.kind == "orphan"}
        self._met: set[int] = set()

    def for_item(self, item: Item) -> PlanEntry | None:
        spec = item.spec
        entry = self.items.get((spec.mapping.id, spec.dest_spec.service, spec.dest.account, spec.dest.region,
                                spec.dest.name))
        if entry is not None:
            self._met.add(id(entry))
        return entry

    def for_orphan(self, service: str, account: str, region: str, name: str) -> PlanEntry | None:
        entry = self.orphans.get((service, account, region, name))
        if entry is not None:
            self._met.add(id(entry))
        return entry

    def moved(self, item: Item, source_version: str | None) -> PlanStale | None:
        """Why this item may not be written as planned (None: it may). Names the side that moved,
        and never a value: VersionIds and actions only."""
        entry = self.items.get((item.spec.mapping.id, item.spec.dest_spec.service, item.spec.dest.account,
                                item.spec.dest.region, item.spec.dest.name))
        if entry is None:
            return PlanStale("the item is not in the plan")
        d = item.decision
        assert d is not None
        if d.op != Op.DELETE:
            if item.source is None or item.source.arn != entry.source:
                return PlanStale("the source moved: it is not the secret the plan saw (deleted or re-created)")
            if source_version != entry.source_version:
                return PlanStale("the source moved: its current version is not the one the plan saw")
        current = item.dest.current_version if item.dest is not None else None
        if current != entry.destination_version:
            what = ("created since the plan" if entry.destination_version is None else
                    "deleted since the plan" if item.dest is None else "written since the plan")
            return PlanStale(f"the destination moved: it was {what}")
        if action_value(d.action) != entry.action:
            return PlanStale(f"the item would now be {action_value(d.action)}, the plan says {entry.action}")
        if entry.token is not None and source_version is not None and token(item, source_version) != entry.token:
            return PlanStale("the version the write would carry is not the planned one")
        return None

    @staticmethod
    def orphan_moved(entry: PlanEntry, fresh: SecretMeta) -> PlanStale | None:
        if fresh.current_version != entry.destination_version:
            return PlanStale("the orphan moved: it was written since the plan")
        return None

    def unmet(self) -> list[ItemResult]:
        """A failed result for every planned entry this run never met: what it planned is gone."""
        out = []
        for entry in (*self.items.values(), *self.orphans.values()):
            if id(entry) in self._met:
                continue
            why = ("the planned orphan is no longer an orphan of this manifest (gone, scheduled for deletion, "
                   "or re-tagged)" if entry.kind == "orphan" else
                   "the planned item is not in this run (its source or destination could not be found as planned)")
            d = entry.destination
            out.append(ItemResult(mapping=entry.mapping, source=entry.source, dest_name=d.name, dest_region=d.region,
                                  dest_account=d.account, action=Action.FAILED, reason="planned item not found",
                                  error_type=PlanStale.type_name, error_message=why, retryable=False,
                                  source_region=_region(entry.source)))
        return out


def _region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else "unknown"  # a metric dimension: never empty
