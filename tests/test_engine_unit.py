"""The engine's pure core, without a server: decide, filter_plan, sharding, selection, exit codes, deadlines.

Fast (well under 5 s) and deterministic: deadlines run on a fake clock, never a wall clock.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler._constants import LIST_FILTER_MAX_VALUES, TAG_MAPPING, TAG_OWNER, TAG_SOURCE
from reconciler._exceptions import ManifestError
from reconciler._types import SecretMeta
from reconciler.engine import Action, InvalidShard, Mode, Op, Options, Shard, parse_shard
from reconciler.engine.deadline import Deadline
from reconciler.engine.items import DestinationRef, Item, ItemSpec, Unit
from reconciler.engine.listing import OWNED_SPLIT_ABOVE, PAGE_TARGET, filter_plan, owned_plan
from reconciler.engine.planner import Desired, decide
from reconciler.engine.results import Results
from reconciler.engine.scheduler import Scheduler
from reconciler.engine.selection import restrict, retried
from reconciler.engine.unit import ReadAhead
from reconciler.manifest import parse_manifest
from reconciler.output.report import ItemResult, Report, RunError

SRC = "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-Ab12Cd"
SRC_RECREATED = "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-Zz99Yy"
OTHER_SRC = "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/other-Ab12Cd"
DEST = "arn:aws:secretsmanager:us-west-2:222222222222:secret:dr/db-Qq11Ww"
TOKEN = "11111111-1111-5111-8111-111111111111"
OLD = "22222222-2222-5222-8222-222222222222"
OURS = {TAG_OWNER: "secrets-reconciler", TAG_SOURCE: SRC, TAG_MAPPING: "db"}


def source(deleted: bool = False) -> SecretMeta:
    return SecretMeta(SRC, "prod/db", {"v1": ["AWSCURRENT"]}, {}, deleted=deleted)


def dest(tags: dict[str, str] | None = None, current: str = TOKEN, others: tuple[str, ...] = (),
         deleted: bool = False, description: str | None = None) -> SecretMeta:
    versions = {current: ["AWSCURRENT"], **{v: [] for v in others}}
    return SecretMeta(DEST, "dr/db", versions, dict(OURS if tags is None else tags), deleted=deleted,
                      description=description)


# One row per rule of SPEC "Ownership" and "Drift": (id, source, dest, on_existing, description, want)
DECIDE_TABLE: list[Any] = [
    ("source missing", None, None, "fail", None, (Action.SOURCE_MISSING, Op.NONE, False, False)),
    ("source scheduled for deletion", source(deleted=True), dest(), "fail", None,
     (Action.SOURCE_MISSING, Op.NONE, False, False)),
    ("destination absent: create", source(), None, "fail", None, (Action.CREATE, Op.CREATE, False, False)),
    ("unowned, on_existing fail: conflict", source(), dest(tags={}), "fail", None,
     (Action.CONFLICT, Op.NONE, False, False)),
    ("unowned, adopt: tag and write", source(), dest(tags={}, current=OLD), "adopt", None,
     (Action.UPDATE, Op.PUT, False, True)),
    ("unowned and scheduled for deletion, adopt: conflict, never restored", source(),
     dest(tags={}, deleted=True), "adopt", None, (Action.CONFLICT, Op.NONE, False, False)),
    ("another owner: conflict even with adopt", source(), dest(tags={**OURS, TAG_OWNER: "someone"}), "adopt", None,
     (Action.CONFLICT, Op.NONE, False, False)),
    ("ours but fed by another source: conflict", source(), dest(tags={**OURS, TAG_SOURCE: OTHER_SRC}), "fail", None,
     (Action.CONFLICT, Op.NONE, False, False)),
    ("same source re-created under a new ARN suffix: still ours", source(),
     dest(tags={**OURS, TAG_SOURCE: SRC_RECREATED}), "fail", None, (Action.IN_SYNC, Op.NONE, False, False)),
    ("current version is the token: in sync", source(), dest(), "fail", None, (Action.IN_SYNC, Op.NONE, False, False)),
    ("in sync but ours and scheduled for deletion: restored", source(), dest(deleted=True), "fail", None,
     (Action.UPDATE, Op.NONE, True, False)),
    ("description differs: update it", source(), dest(description="old"), "fail", "new",
     (Action.UPDATE, Op.NONE, False, False)),
    ("empty description equals none (AWS omits it)", source(), dest(description=None), "fail", "",
     (Action.IN_SYNC, Op.NONE, False, False)),
    ("wanted version exists, not current (rollback): move the stage", source(), dest(current=OLD, others=(TOKEN,)),
     "fail", None, (Action.UPDATE, Op.STAGE, False, False)),
    ("changed out of band or source rotated: put", source(), dest(current=OLD), "fail", None,
     (Action.UPDATE, Op.PUT, False, False)),
    ("ours, scheduled for deletion and stale: restore then put", source(), dest(current=OLD, deleted=True), "fail",
     None, (Action.UPDATE, Op.PUT, True, False)),
]


@pytest.mark.parametrize(("src", "dst", "on_existing", "description", "want"),
                         [pytest.param(*row[1:], id=row[0]) for row in DECIDE_TABLE])
def test_decide_follows_the_spec_table(src, dst, on_existing, description, want):
    desired = Desired(owner="secrets-reconciler", mapping_id="db", on_existing=on_existing, description=description)
    d = decide(source=src, source_version="v1" if src is not None else None, token=TOKEN if src else None,
               dest=dst, desired=desired)
    assert (d.action, d.op, d.restore, d.adopt) == want, d.reason
    assert d.action in set(Action) and isinstance(d.action, str)  # report strings


def test_decide_sets_ownership_tags_on_create_and_adopt():
    desired = Desired(owner="o", mapping_id="api/*", on_existing="adopt", extra_tags={"CostCenter": "42"})
    d = decide(source=source(), source_version="v1", token=TOKEN, dest=None, desired=desired)
    # reconciler:tags: the ledger of extra tag keys the reconciler set (reconciler._tagledger)
    assert d.tags == {"CostCenter": "42", TAG_OWNER: "o", TAG_SOURCE: SRC, TAG_MAPPING: "api/_",
                      "reconciler:tags": "CostCenter"}


# --- filter_plan ---------------------------------------------------------------------------------

names = st.text(alphabet="ab/c", min_size=1, max_size=6)


@settings(max_examples=100, deadline=None)
@given(exact=st.lists(names, max_size=300), prefixes=st.lists(names, max_size=6))
def test_filter_plan_covers_every_name_in_few_values(exact, prefixes):
    calls = filter_plan(exact, prefixes)
    values = [v for call in calls for v in call]
    assert all(1 <= len(call) <= LIST_FILTER_MAX_VALUES for call in calls)
    # every exact name and every prefix is matched by some (prefix-matching) filter value ...
    for n in exact:
        assert any(n.startswith(v) for v in values), n
    for p in prefixes:
        assert any(p.startswith(v) for v in values), p
    # ... and no value is broader than what was asked: it lies under a prefix or covers names only
    for v in values:
        assert any(v.startswith(p) for p in prefixes) or any(n.startswith(v) for n in exact), v


def test_filter_plan_of_nothing_is_no_call():
    assert filter_plan([], []) == []


# --- owned_plan: the owned listing split by name -------------------------------------------------

SMALL_ALPHABET = "ab/!"  # "!" inside names only, as in the names AWS services give (rds!db-...)


def _matches(value: str, name: str) -> bool:
    """ListSecrets' name filter: a case-sensitive prefix; '!x' is every name not starting with x."""
    return not name.startswith(value[1:]) if value.startswith("!") else name.startswith(value)


def _every_name(max_len: int) -> list[str]:
    """Every name that can exist, up to ``max_len`` characters: none starts with "!"."""
    out, level = [], [""]
    for _ in range(max_len):
        level = [n + ch for n in level for ch in SMALL_ALPHABET if n or ch != "!"]
        out += level
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), count=st.integers(OWNED_SPLIT_ABOVE + 1, 1500), depth=st.integers(5, 6),
       short=st.booleans())
def test_owned_plan_covers_every_possible_name_exactly_once(seed, count, depth, short):
    # GIVEN expected names over a small alphabet (so every possible short name can be tried); long
    # names with a common tail (short=False) leave branch points that no expected name fills: they
    # must be described
    import random
    rnd = random.Random(seed)
    least = 1 if short else depth - 1
    expected = {"".join(rnd.choice(SMALL_ALPHABET) for _ in range(rnd.randint(least, depth)))
                for _ in range(count)}
    expected = {n if short else n + "/b" for n in expected if not n.startswith("!")}  # none can lead with "!"
    # WHEN the owned listing is planned
    plan = owned_plan(expected, SMALL_ALPHABET)
    if plan is None:
        return  # too few, or no split pays: one listing by owner tag, nothing to check
    # THEN every name that could exist is listed by exactly one call value, or described, or is
    # expected (listed by name afterwards); and no call has more than 10 values
    assert all(1 <= len(call) <= LIST_FILTER_MAX_VALUES for call in plan.calls)
    values = [v for call in plan.calls for v in call]
    positive = {v for v in values if not v.startswith("!")}
    negated_roots = [v[1:] for v in values if v.startswith("!")]
    for name in [*_every_name(depth + 1), *expected]:
        # what _matches would say of each value, by the name's prefixes (a value is a prefix)
        hits = sum(name[:k] in positive for k in range(1, len(name) + 1))
        hits += sum(not name.startswith(root) for root in negated_roots)
        covered_otherwise = name in plan.describe or name in expected
        assert hits == 1 or (hits == 0 and covered_otherwise), (name, hits)
    assert not set(plan.describe) & expected
    # one negation at most, alone in its call (values of one filter are ORed: two would cover all)
    negated = [call for call in plan.calls if any(v.startswith("!") for v in call)]
    assert len(negated) <= 1 and all(len(call) == 1 for call in negated)


def test_owned_plan_is_not_guided_by_names_the_store_would_refuse():
    # GIVEN many expected names, some with a character no secret name may hold
    good = [f"a/{i:04d}" for i in range(400)]
    plan = owned_plan([*good, *(f"a/{i:04d}#x" for i in range(400))], "a/0123456789")
    # THEN no filter value holds it (AWS would refuse the call, and the scope's listing with it)
    assert plan is not None and plan == owned_plan(good, "a/0123456789")
    assert all("#" not in v for call in plan.calls for v in call)


def test_owned_plan_keeps_small_scopes_to_one_listing():
    assert owned_plan([f"dst/{i}" for i in range(OWNED_SPLIT_ABOVE)], SMALL_ALPHABET) is None
    assert owned_plan([], SMALL_ALPHABET) is None


def test_owned_plan_of_5000_destinations_costs_no_more_calls_than_pages():
    # GIVEN the steady-state benchmark's 5,000 destinations and Secrets Manager's name alphabet
    from reconciler.aws.secretsmanager import NAME_ALPHABET
    names = [f"bench/dst/s{i:05d}" for i in range(5000)]
    # WHEN planned
    plan = owned_plan(names, NAME_ALPHABET)
    # THEN about as many calls as one serial listing has pages, each call at most two pages deep
    assert plan is not None
    pages = -(-len(names) // PAGE_TARGET)
    assert len(plan.calls) + len(plan.describe) <= pages + 2
    call_of = {v: i for i, call in enumerate(plan.calls) for v in call if not v.startswith("!")}
    per_call = Counter(next(call_of[n[:k]] for k in range(1, len(n) + 1) if n[:k] in call_of) for n in names)
    deepest = max(per_call.values())
    assert deepest <= 2 * PAGE_TARGET
    assert plan.calls[-1] == ["!bench/dst/s0"]


# --- sharding and selection ----------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 12), keys=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=12)), max_size=50))
def test_n_shards_cover_every_item_exactly_once(n, keys):
    for mapping_id, source_name in keys:
        owners = [k for k in range(1, n + 1) if Shard(k, n).owns(mapping_id, source_name)]
        assert len(owners) == 1


@pytest.mark.parametrize(("text", "want"), [("1/1", Shard(1, 1)), ("2/3", Shard(2, 3)), (" 3/3 ", Shard(3, 3))])
def test_parse_shard(text, want):
    assert parse_shard(text) == want and str(want) == text.strip()


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0", "", "1/2/3", "-1/2"])
def test_parse_shard_refuses(text):
    with pytest.raises(InvalidShard) as info:
        parse_shard(text)
    assert isinstance(info.value, ManifestError) and isinstance(info.value, ValueError)


MANIFEST = """
version: 1
defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
mappings:
  - {id: db, source: prod/db, destination: dr/db}
  - {id: api, source: "prod/api/*", destination: "dr/api/*"}
  - {id: eu, source: {name: prod/db, region: eu-west-1}, destination: dr/eu/db}
  - {id: arn, source: "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/x-Ab12Cd", destination: dr/x}
"""


def mappings() -> list[Any]:
    return list(parse_manifest(MANIFEST, origin="m.yaml", base_dir=None).mappings)


def test_change_events_restrict_mappings_and_prefix_members():
    events = frozenset({("us-east-1", "prod/db"), ("us-east-1", "prod/api/k1"),
                        ("us-east-1", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/api/k2-Ab12Cd"),
                        ("us-east-1", "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/x-Zz99Yy")})
    kept, only = restrict(mappings(), events, "us-east-1")
    assert [m.id for m in kept] == ["db", "api", "arn"]
    assert only == {"api": ("prod/api/k1", "prod/api/k2")}


def test_retry_failed_keeps_the_failed_items_and_an_unlisted_mappings_items():
    keys = frozenset({("db", "dr/db", "us-west-2", "1"), ("api", "", "", "")})
    assert retried(("db", "dr/db", "us-west-2", "1"), keys)
    assert retried(("api", "dr/api/k9", "us-west-2", "1"), keys)
    assert not retried(("eu", "dr/eu/db", "us-west-2", "1"), keys)
    assert retried(("eu", "dr/eu/db", "us-west-2", "1"), None)


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"mode": "apply"}, "mode"), ({"concurrency": 0}, "concurrency"), ({"concurrency": 513}, "concurrency"),
    ({"shard": (3, 2)}, "shard"), ({"deadline": 0}, "deadline"), ({"deadline": float("nan")}, "deadline"),
    ({"deadline": float("inf")}, "deadline"), ({"diff": True}, "--diff"),
])
def test_options_refuse_bad_values(kwargs, problem):
    with pytest.raises(ManifestError) as info:
        Options(**kwargs)
    assert problem in str(info.value)


def test_options_convert_strings_and_tuples():
    o = Options(mode="plan", shard=(1, 2), diff=True)
    assert o.mode is Mode.PLAN and o.mode == "plan" and o.shard == Shard(1, 2) and o.run_shard == Shard(1, 2)


# --- the report's exit code (the output helper's Report; tested here as the engine relies on it) -

def result(action: str) -> ItemResult:
    return ItemResult(mapping="m", source="s", dest_name="d", dest_region="r", dest_account="a", action=action,
                      reason="")


@pytest.mark.parametrize(("mode", "actions", "errors", "code"), [
    ("run", [], False, 0), ("run", ["in_sync", "create", "update"], False, 0),
    ("plan", ["in_sync"], False, 0), ("plan", ["in_sync", "create"], False, 3), ("plan", ["update"], False, 3),
    ("run", ["failed"], False, 1), ("run", ["conflict"], False, 1), ("run", ["source_missing"], False, 1),
    ("run", ["deferred"], False, 1), ("plan", ["create", "failed"], False, 1), ("run", [], True, 1),
    ("plan", ["create"], True, 1), ("run", [Action.FAILED], False, 1), ("plan", [Action.CREATE], False, 3),
])
def test_exit_code(mode, actions, errors, code):
    report = Report(mode=mode, started_at="", run_id="x", items=[result(a) for a in actions],
                    errors=[RunError("1", "us-east-1", "secretsmanager", "AccessDeniedException", "no")] if errors
                    else [])
    assert report.exit_code == code


# --- deadline and scheduler on a fake clock ------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_deadline_on_a_fake_clock():
    clock = FakeClock()
    d = Deadline(5, clock=clock)
    assert not d.passed() and not d.stopping()
    clock.now += 4.99
    assert not d.passed()
    clock.now += 0.01
    assert d.passed() and d.stopping()
    assert not Deadline(None, clock=clock).passed()


def units(n: int) -> list[Unit]:
    m = mappings()[0]
    return [Unit([Item(ItemSpec(m, m.destinations[0], f"prod/s{i}", DestinationRef(f"dr/s{i}", "us-west-2", "1")))])
            for i in range(n)]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_scheduler_starts_no_unit_after_the_deadline(concurrency):
    # GIVEN 10 units, each taking one tick of a fake clock, and a deadline 4 ticks away
    clock = FakeClock()
    started: list[str] = []

    async def process(unit: Unit) -> None:
        started.append(unit.first.spec.source_name)
        clock.now += 1
        await anyio.sleep(0)
        results.finish(unit.first, Action.CREATE, "done")

    async def go() -> None:
        deadline = Deadline(4, clock=clock)
        await Scheduler(concurrency, deadline, results, ReadAhead(False), process).run(todo, items)

    todo = units(10)
    items = [i for u in todo for i in u.items]
    results = Results("run", "us-east-1", None)
    anyio.run(go)
    # THEN units start only while the clock is before the deadline; the rest are deferred, none lost
    actions = [i.result.action for i in items if i.result is not None]
    assert len(actions) == 10
    assert actions.count(Action.CREATE) == len(started)
    assert 4 <= len(started) < 4 + concurrency + 1
    assert all(a == Action.DEFERRED for a in actions[len(started):])


def test_scheduler_stop_signal_defers_everything_not_started():
    results = Results("run", "us-east-1", None)
    todo = units(5)
    items = [i for u in todo for i in u.items]

    async def go() -> None:
        stop = anyio.Event()
        stop.set()

        async def process(unit: Unit) -> None:  # pragma: no cover - never called
            raise AssertionError("started after stop")

        await Scheduler(2, Deadline(None, stop=stop), results, ReadAhead(False), process).run(todo, items)

    anyio.run(go)
    assert {i.result.action for i in items if i.result} == {Action.DEFERRED}


def test_hard_stop_is_real_time_only_on_the_real_clock():
    async def go() -> None:
        real = Deadline(5, grace=1)
        assert 5.9 < real.hard_stop() - anyio.current_time() <= 6.0
        assert real.backend_deadline() is not None
        fake = Deadline(5, clock=FakeClock(), grace=1)  # an injected clock only stops new work
        assert fake.hard_stop() == float("inf") and fake.backend_deadline() is None
        assert Deadline(None).hard_stop() == float("inf") and Deadline(None).backend_deadline() is None

    anyio.run(go)
