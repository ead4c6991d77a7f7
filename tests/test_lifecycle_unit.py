"""Lifecycle's pure parts, without a server: the tag ledger (and its crash safety), the planner's
lifecycle rules, orphan finding, the prune guard, and the report/metrics surface.

Fast and deterministic: fake stores, a fake clock, no wall clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler import _tagledger as ledger
from reconciler._constants import TAG_MAPPING, TAG_OWNER, TAG_SOURCE
from reconciler._types import SecretMeta
from reconciler.engine import Action, Mode, Op
from reconciler.engine.deadline import Deadline
from reconciler.engine.lifecycle import RECOVERABLE_SERVICES, Lifecycle, find_orphans
from reconciler.engine.planner import Desired, decide
from reconciler.engine.results import Results
from reconciler.manifest import MetricsSettings, PruneSettings
from reconciler.output import metrics
from reconciler.output.report import ItemResult, Report

SRC = "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-Ab12Cd"
DEST = "arn:aws:secretsmanager:us-west-2:222222222222:secret:dr/db-Qq11Ww"
TOKEN = "11111111-1111-5111-8111-111111111111"
OWNER = "secrets-reconciler"
OURS = {TAG_OWNER: OWNER, TAG_SOURCE: SRC, TAG_MAPPING: "db"}
TEMPLATE = Path(__file__).resolve().parents[1] / "config" / "deploy" / "template.yaml"


def source(deleted: bool = False) -> SecretMeta:
    return SecretMeta(SRC, "prod/db", {"v1": ["AWSCURRENT"]}, {}, deleted=deleted)


def dest(tags: dict[str, str] | None = None, **kw: Any) -> SecretMeta:
    return SecretMeta(DEST, "dr/db", {TOKEN: ["AWSCURRENT"]}, dict(OURS if tags is None else tags), **kw)


def desired(**kw: Any) -> Desired:
    return Desired(**{"owner": OWNER, "mapping_id": "db", "on_existing": "fail", **kw})


# --- the ledger: encoding ------------------------------------------------------------------------

KEY_CHARS = st.sampled_from([*"aZ09 _.:/=+-@", "é"])
KEYS = st.text(KEY_CHARS, min_size=1, max_size=12)


@given(st.frozensets(KEYS, max_size=8))
def test_ledger_round_trips_any_keys_and_is_canonical(keys: frozenset[str]) -> None:
    value = ledger.encode(keys)
    assert ledger.decode(value) == keys
    assert ledger.encode(sorted(keys, reverse=True)) == value
    assert re.fullmatch(r"[\w .:/=+\-@]*", value)  # a valid AWS tag value


def test_ledger_of_plain_keys_is_readable_and_escapes_are_unambiguous() -> None:
    assert ledger.encode(["Team", "CostCenter"]) == "CostCenter/Team"
    assert ledger.decode(ledger.encode(["a/b", "a", "b", "@s"])) == {"a/b", "a", "b", "@s"}
    assert ledger.decode("") == frozenset()
    assert ledger.decode("odd@x") == {"odd@x"}  # a hand-edited value never raises


def test_ledger_must_fit_one_tag_and_the_tag_count() -> None:
    assert ledger.ledger_problem(["CostCenter", "Team"]) is None
    assert "256" in (ledger.ledger_problem([f"k{i:02d}" + "x" * 30 for i in range(10)]) or "")
    assert "at most 46" in (ledger.ledger_problem([f"k{i}" for i in range(47)]) or "")


# --- the ledger: crash safety, as a model --------------------------------------------------------

TAG_NAMES = st.sampled_from(["A", "B", "C", "D", "a/b", "x@y"])
EXTRAS = st.dictionaries(TAG_NAMES, st.sampled_from(["1", "2"]), max_size=4)


def plan_writes(current: dict[str, str], wanted: dict[str, str]) -> list[tuple[str, Any]]:
    """What the planner and the writer do with tags, as a list of atomic calls."""
    steps = ledger.steps(current, wanted)
    first = {k: v for k, v in wanted.items() if current.get(k) != v} | steps.first
    calls: list[tuple[str, Any]] = []
    if first:
        calls.append(("tag", first))
    if steps.remove:
        calls.append(("untag", steps.remove))
    if steps.after:
        calls.append(("tag", steps.after))
    return calls


def apply(tags: dict[str, str], calls: list[tuple[str, Any]]) -> dict[str, str]:
    out = dict(tags)
    for kind, arg in calls:
        if kind == "tag":
            out.update(arg)
        else:
            for k in arg:
                out.pop(k, None)
    return out


@settings(max_examples=300, deadline=None)
@given(before=EXTRAS, after=EXTRAS, foreign=st.dictionaries(st.sampled_from(["F", "G", "B"]), st.just("f"),
                                                           max_size=2), crash_at=st.integers(0, 3))
def test_a_crash_between_any_two_tag_writes_converges_and_never_removes_a_foreign_tag(
        before: dict[str, str], after: dict[str, str], foreign: dict[str, str], crash_at: int) -> None:
    # GIVEN a destination converged on ``before`` (foreign tags added later, under keys we never set)
    foreign = {k: v for k, v in foreign.items() if k not in before}
    state = apply(OURS | foreign, plan_writes(OURS | foreign, before))
    # WHEN the manifest moves to ``after`` and the run stops after ``crash_at`` calls
    state = apply(state, plan_writes(state, after)[:crash_at])
    # THEN the next run finishes the job ...
    state = apply(state, plan_writes(state, after))
    assert {k: state[k] for k in after} == after
    assert state.get(ledger.TAG_LEDGER, "") == ledger.encode(after)
    assert not any(k in state for k in set(before) - set(after))
    # ... never touched a tag it did not set (unless the manifest names that key now) ...
    assert all(state.get(k) == v for k, v in foreign.items() if k not in after)
    # ... and a third run has nothing left to do
    assert plan_writes(state, after) == []


def test_adopting_ignores_a_ledger_someone_else_wrote() -> None:
    steps = ledger.steps({ledger.TAG_LEDGER: "Theirs", "Theirs": "x"}, [], trusted=False)
    assert steps.empty


# --- the planner's lifecycle rules ---------------------------------------------------------------


@pytest.mark.parametrize(("meta", "words"), [
    (dict(primary_region="us-east-1"), "native replica of a secret in us-east-1"),
    (dict(rotation_enabled=True), "rotated"),
])
@pytest.mark.parametrize("tags", [OURS, {}], ids=["owned", "unowned"])
def test_a_replica_or_a_rotating_destination_is_a_conflict_never_written(meta: Any, words: str,
                                                                        tags: dict[str, str]) -> None:
    d = decide(source=source(), source_version="v1", token="other-token", dest=dest(tags, **meta),
               desired=desired(on_existing="adopt", on_source_deleted="delete"))
    assert d.action == Action.CONFLICT and words in d.reason and d.op == Op.NONE


@pytest.mark.parametrize("src", [None, source(deleted=True)], ids=["gone", "scheduled"])
def test_on_source_deleted(src: SecretMeta | None) -> None:
    key = ("111111111111", "us-east-1", "prod/db")
    keep = decide(source=src, source_version=None, token=None, dest=dest(), desired=desired(source_key=key))
    assert keep.action == Action.SOURCE_MISSING
    gone = decide(source=src, source_version=None, token=None, dest=dest(),
                  desired=desired(on_source_deleted="delete", source_key=key))
    assert gone.action == Action.DELETE and gone.op == Op.DELETE and "on_source_deleted" in gone.reason
    # not ours, fed by another source, or already scheduled: kept (source_missing)
    for other in (dest({**OURS, TAG_OWNER: "someone"}),
                  dest({**OURS, TAG_SOURCE: SRC.replace("prod/db", "prod/other")}),
                  dest(deleted=True)):
        d = decide(source=src, source_version=None, token=None, dest=other,
                   desired=desired(on_source_deleted="delete", source_key=key))
        assert d.action == Action.SOURCE_MISSING, other
    # no destination: nothing to delete
    assert decide(source=src, source_version=None, token=None, dest=None,
                  desired=desired(on_source_deleted="delete", source_key=key)).action == Action.SOURCE_MISSING


def test_a_source_that_comes_back_restores_its_deleted_copy() -> None:
    d = decide(source=source(), source_version="v1", token=TOKEN, dest=dest(deleted=True),
               desired=desired(on_source_deleted="delete"))
    assert d.action == Action.UPDATE and d.restore


def test_dropped_tags_are_planned_from_the_listing_alone() -> None:
    listed = dest({**OURS, "A": "1", "B": "1", "Foreign": "x", ledger.TAG_LEDGER: "A/B"})
    d = decide(source=source(), source_version="v1", token=TOKEN, dest=listed, desired=desired(extra_tags={"A": "1"}))
    assert d.action == Action.UPDATE and d.reason == "tags or description out of step"
    assert d.tags == {} and d.untag == ("B",) and d.tags_after == {ledger.TAG_LEDGER: "A"}
    synced = dest({**OURS, "A": "1", "Foreign": "x", ledger.TAG_LEDGER: "A"})
    assert decide(source=source(), source_version="v1", token=TOKEN, dest=synced,
                  desired=desired(extra_tags={"A": "1"})).action == Action.IN_SYNC


def test_create_writes_the_ledger_with_the_tags() -> None:
    d = decide(source=source(), source_version="v1", token=TOKEN, dest=None,
               desired=desired(extra_tags={"Team": "a", "CostCenter": "1"}))
    assert d.tags[ledger.TAG_LEDGER] == "CostCenter/Team"
    assert ledger.TAG_LEDGER not in decide(source=source(), source_version="v1", token=TOKEN, dest=None,
                                           desired=desired()).tags


# --- orphans and the guard -------------------------------------------------------------------------


@dataclass
class FakeStore:
    service: str = "secretsmanager"
    account: str = "222222222222"
    region: str = "us-west-2"
    deleted: list[tuple[str, int]] = field(default_factory=list)
    metas: dict[str, SecretMeta] = field(default_factory=dict)

    async def describe(self, arn: str) -> SecretMeta | None:
        return self.metas.get(arn)

    async def delete(self, arn: str, days: int) -> None:
        self.deleted.append((arn, days))


def owned(name: str, **kw: Any) -> SecretMeta:
    arn = f"arn:aws:secretsmanager:us-west-2:222222222222:secret:{name}-AbCdEf"
    return SecretMeta(arn, name, {"v": ["AWSCURRENT"]}, {**OURS, TAG_MAPPING: name.split("/")[-1]}, **kw)


def test_find_orphans_skips_deleted_replicas_foreign_and_what_items_use() -> None:
    store = FakeStore()
    metas = [owned("dr/gone"), owned("dr/scheduled", deleted=True), owned("dr/replica", primary_region="us-east-1"),
             SecretMeta("arn:x", "dr/theirs", {}, {TAG_OWNER: "someone"}), owned("dr/gone")]
    found = find_orphans([(store, metas)], [], OWNER)  # type: ignore[list-item]
    assert [o.meta.name for o in found] == ["dr/gone"]  # and listed twice, reported once


def lifecycle(mode: Mode = Mode.RUN, **prune: Any) -> tuple[Lifecycle, Results]:
    results = Results("run", "us-east-1", None)
    lc = Lifecycle(mode=mode, prune=PruneSettings(**prune), owner=OWNER, results=results,
                   deadline=Deadline(None, clock=lambda: 0.0), concurrency=4)
    return lc, results


def orphans(store: FakeStore, n: int) -> list[Any]:
    metas = [owned(f"dr/o{i}") for i in range(n)]
    store.metas = {m.arn: m for m in metas}
    return find_orphans([(store, metas)], [], OWNER)  # type: ignore[list-item]


def test_without_prune_orphans_are_reported_and_nothing_is_deleted() -> None:
    store = FakeStore()
    lc, _ = lifecycle(enabled=False)
    lc.add_orphans(orphans(store, 3))
    anyio.run(lc.settle)
    assert [r.action for r in lc.orphan_results] == [Action.ORPHAN] * 3 and store.deleted == []
    assert lc.orphan_results[0].mapping == "o0" and lc.orphan_results[0].source == SRC


@pytest.mark.parametrize("mode", [Mode.PLAN, Mode.RUN])
def test_the_guard_refuses_every_deletion_past_max_deletes(mode: Mode) -> None:
    store = FakeStore()
    lc, _ = lifecycle(mode, enabled=True, max_deletes=2)
    lc.add_orphans(orphans(store, 3))
    anyio.run(lc.settle)
    assert {(r.action, r.error_type) for r in lc.orphan_results} == {(Action.FAILED, "PruneGuard")}
    assert store.deleted == []


def test_within_the_guard_plan_says_delete_and_run_deletes_with_the_recovery_window() -> None:
    store = FakeStore()
    lc, _ = lifecycle(Mode.PLAN, enabled=True, max_deletes=3)
    lc.add_orphans(orphans(store, 3))
    anyio.run(lc.settle)
    assert [r.action for r in lc.orphan_results] == [Action.DELETE] * 3 and store.deleted == []
    lc, _ = lifecycle(Mode.RUN, enabled=True, max_deletes=3, recovery_window_days=9)
    lc.add_orphans(orphans(store, 3))
    anyio.run(lc.settle)
    assert [r.action for r in lc.orphan_results] == [Action.DELETE] * 3
    assert sorted(days for _, days in store.deleted) == [9, 9, 9]


def test_an_orphan_that_changed_since_the_listing_is_left_alone() -> None:
    store = FakeStore()
    found = orphans(store, 2)
    arn0 = found[0].meta.arn
    store.metas[arn0] = SecretMeta(arn0, "dr/o0", {}, {TAG_OWNER: "someone-else"})  # re-tagged meanwhile
    lc, _ = lifecycle(enabled=True)
    lc.add_orphans(found)
    anyio.run(lc.settle)
    assert [a for a, _ in store.deleted] == [found[1].meta.arn]


def test_parameter_store_orphans_are_never_deleted() -> None:
    assert "ssm" not in RECOVERABLE_SERVICES
    store = FakeStore(service="ssm")
    lc, _ = lifecycle(enabled=True)
    lc.add_orphans(orphans(store, 1))
    anyio.run(lc.settle)
    [r] = lc.orphan_results
    assert r.action == Action.ORPHAN and "no recovery window" in r.reason and store.deleted == []


def test_a_deadline_defers_deletions() -> None:
    store = FakeStore()
    results = Results("run", "us-east-1", None)
    lc = Lifecycle(mode=Mode.RUN, prune=PruneSettings(enabled=True), owner=OWNER, results=results,
                   deadline=Deadline(1.0, clock=iter([0.0] + [5.0] * 10).__next__), concurrency=1)
    lc.add_orphans(orphans(store, 2))
    anyio.run(lc.settle)
    assert [r.action for r in lc.orphan_results] == [Action.DEFERRED] * 2 and store.deleted == []


# --- report and metrics ----------------------------------------------------------------------------


def result(action: str, **kw: Any) -> ItemResult:
    return ItemResult(mapping="m", source=SRC, dest_name="dr/x", dest_region="us-west-2", dest_account="2",
                      action=action, reason="r", source_region="us-east-1", **kw)


def test_totals_name_delete_and_orphan_and_orphans_do_not_change_the_exit_code() -> None:
    report = Report(mode="run", started_at="t", run_id="r", items=[result("in_sync"), result("orphan")])
    assert report.totals["orphan"] == 1 and report.totals["delete"] == 0
    assert report.exit_code == 0
    assert Report(mode="plan", started_at="t", run_id="r", items=[result("delete")]).exit_code == 3


def test_metric_names_for_orphans_and_deletions_are_the_dashboards() -> None:
    body = TEMPLATE.read_text()
    charted = set(re.findall(r"SUM\((\w+)\)", body))
    report = Report(mode="run", started_at="t", run_id="r", items=[result("orphan"), result("delete")])
    batch = metrics.build(report, MetricsSettings())
    emitted = {name for name, _ in batch.values}
    assert {"Orphan", "Deleted"} <= emitted
    assert {"Orphan", "Deleted"} <= charted
    # a plan deletes nothing: no Deleted point
    plan = Report(mode="plan", started_at="t", run_id="r", items=[result("delete")])
    assert "Deleted" not in {name for name, _ in metrics.build(plan, MetricsSettings()).values}


def test_a_manifest_whose_tag_keys_overflow_the_ledger_is_refused_at_load() -> None:
    from reconciler._exceptions import ManifestError
    from reconciler.manifest import parse_manifest

    keys = ", ".join(f"k{i:02d}{'x' * 30}: v" for i in range(10))
    text = ("version: 1\nmappings:\n  - source: {name: a, region: us-east-1}\n"
            f"    destination: {{name: b, region: us-west-2, tags: {{{keys}}}}}\n")
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, origin="m.yaml", base_dir=None)
    assert "m.yaml:4" in str(exc.value) and "destination.tags" in str(exc.value) and "reconciler:tags" in str(exc.value)


def test_a_rotating_orphan_is_reported_never_deleted() -> None:
    store = FakeStore()
    meta = owned("dr/rotating", rotation_enabled=True)
    store.metas = {meta.arn: meta}
    lc, _ = lifecycle(enabled=True)
    lc.add_orphans(find_orphans([(store, [meta])], [], OWNER))  # type: ignore[list-item]
    anyio.run(lc.settle)
    [r] = lc.orphan_results
    assert r.action == Action.ORPHAN and "rotated" in r.reason and store.deleted == []


def test_a_followed_orphan_is_deleted_only_once_its_source_is_confirmed_gone() -> None:
    from reconciler.engine.lifecycle import Follow

    dest_store, src_store = FakeStore(), FakeStore(account="111111111111", region="us-east-1")
    gone, lagging = owned("dr/app/gone"), owned("dr/app/lagging")
    gone.tags[TAG_SOURCE] = "arn:aws:secretsmanager:us-east-1:111111111111:secret:app/gone-AbCdEf"
    lagging.tags[TAG_SOURCE] = "arn:aws:secretsmanager:us-east-1:111111111111:secret:app/lagging-AbCdEf"
    for m in (gone, lagging):
        m.tags[TAG_MAPPING] = "app"
    dest_store.metas = {gone.arn: gone, lagging.arn: lagging}
    src_store.metas = {lagging.tags[TAG_SOURCE]: SecretMeta(lagging.tags[TAG_SOURCE], "app/lagging", {}, {})}
    follow = Follow("app/", src_store)  # type: ignore[arg-type]
    assert follow.member(gone.tags[TAG_SOURCE]) and not follow.member(SRC)
    lc, _ = lifecycle(enabled=False)  # no prune: following the source needs none
    lc.add_orphans(find_orphans([(dest_store, [gone, lagging])], [], OWNER), {"app": follow})  # type: ignore[list-item]
    anyio.run(lc.settle)
    # the lagging one's source still exists: not reported, not deleted; the gone one is deleted
    assert [(r.dest_name, r.action) for r in lc.orphan_results] == [("dr/app/gone", Action.DELETE)]
    assert [a for a, _ in dest_store.deleted] == [gone.arn]
