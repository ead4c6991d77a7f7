"""Transforms: JSON steps, variables at three levels, chains, safety, fingerprints, plan --diff."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from reconciler._exceptions import ManifestError, TransformError
from reconciler._transform import StepSpec, build_transform
from reconciler.manifest import parse_manifest
from reconciler.manifest import variables as _variables


def transform(*steps: StepSpec, **values: str):
    return build_transform(tuple(steps), lambda t: _variables.expand(t, values))


def sed(*rules: str) -> StepSpec:
    return StepSpec("sed", "transform[0] (sed)", rules=rules)


def js(**assignments) -> StepSpec:
    return StepSpec("json", "transform[1] (json)", assignments=tuple(assignments.items()))


# --- json -----------------------------------------------------------------------------------------


def test_json_sets_existing_and_creates_only_under_an_existing_parent():
    t = build_transform((StepSpec("json", "j", assignments=(("$.db.host", "h2"), ("$.db.port", 6432),
                                                           ("$.new", True))),), lambda s: s)
    out = t.apply('{"db": {"host": "h1", "user": "u"}, "z": 1}')
    assert out == '{"db": {"host": "h2", "user": "u", "port": 6432}, "z": 1, "new": true}'
    missing_parent = build_transform((StepSpec("json", "j", assignments=(("$.nope.x", 1),)),), lambda s: s)
    with pytest.raises(TransformError, match="parent does not exist"):
        missing_parent.apply('{"a": 1}')


@pytest.mark.parametrize("source, expected", [
    ('{"a":1,"b":"x"}', '{"a":1,"b":"y"}'),  # compact stays compact
    ('{"a": 1, "b": "x"}', '{"a": 1, "b": "y"}'),
    ('{\n    "a": 1,\n    "b": "x"\n}\n', '{\n    "a": 1,\n    "b": "y"\n}\n'),  # indent width and final newline
    ('{"b":"x","a":1}', '{"b":"y","a":1}'),  # key order kept
    ('{"b":"x","u":"é"}', '{"b":"y","u":"é"}'),
])
def test_json_keeps_layout_and_key_order(source, expected):
    t = build_transform((StepSpec("json", "j", assignments=(("$.b", "y"),)),), lambda s: s)
    assert t.apply(source) == expected


@pytest.mark.parametrize("value", ["not json", "[1, 2]", '"a string"', "42"])
def test_json_step_on_a_non_object_fails_the_item(value):
    t = transform(js(**{"$.a": 1}))
    expected = r"transform\[1\] \(json\): json step: the value is not (a JSON object|JSON)"
    with pytest.raises(TransformError, match=expected):
        t.apply(value)


def test_steps_chain_in_order_with_variables():
    t = transform(sed("s/us-east-1/${REGION}/g"), js(**{"$.host": "db.${REGION}.${ENV}"}), REGION="eu-west-1",
                  ENV="dr")
    assert json.loads(t.apply('{"url": "x.us-east-1.y", "host": "h"}')) == {"url": "x.eu-west-1.y",
                                                                           "host": "db.eu-west-1.dr"}


# --- safety ---------------------------------------------------------------------------------------


def test_runaway_regex_is_stopped_by_the_time_limit():
    # No wall-clock bound is asserted (it would flake on a loaded machine): that the limit is
    # checked inside the loops is proved on a fake clock in test_json_transform.py
    # (test_the_transform_deadline_reaches_every_step_on_a_fake_clock). Here: a catastrophic
    # pattern ends with the time-limit error instead of running on.
    t = transform(sed("s/(a|aa)+$/x/"))
    value = "a" * 60 + "b"
    with pytest.raises(TransformError, match="time limit"):
        t.apply(value * 1000, timeout=0.5)


def test_the_time_limit_counts_cpu_time_not_waiting_for_other_transforms():
    # GIVEN a rule that costs about 0.12 s of CPU (backtracking), and a limit of 0.6 s
    t = transform(sed("s/(a|aa)+$/x/"))
    value = "a" * 24 + "b"
    # WHEN twelve items transform at once in worker threads, as the writer runs them: on two cores
    # each takes over 0.7 s of wall time (more on a busy host), past the limit on a wall clock
    errors: list[BaseException] = []

    def one() -> None:
        try:
            t.apply(value, timeout=0.6)
        except TransformError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # THEN none fails: each spent its 0.12 s of CPU; waiting for the others is not its cost
    assert errors == []


def test_an_expired_deadline_stops_before_any_work():
    t = transform(sed("s/(a|aa)+$/x/"))
    with pytest.raises(TransformError, match="time limit"):
        t.apply("a" * 60 + "b", timeout=0.0)


def test_output_over_the_secret_size_limit_fails():
    t = transform(sed("s/.*/&&&&/"))
    with pytest.raises(TransformError, match="65536"):
        t.apply("x" * 20_000)


def test_errors_never_carry_the_value():
    canary = "CANARY-7f3a9c-super-secret"
    for t, value in [(transform(js(**{"$.a": 1})), canary), (transform(sed("s/.*/&&&&/")), canary * 2000)]:
        with pytest.raises(TransformError) as exc:
            t.apply(value)
        assert canary not in str(exc.value)


# --- fingerprints ---------------------------------------------------------------------------------


def test_fingerprint_changes_with_rules_variables_and_engine(monkeypatch):
    base = transform(sed("s/a/${X}/"), X="1").fingerprint
    assert transform(sed("s/a/${X}/"), X="1").fingerprint == base
    assert transform(sed("s/a/${X}/"), X="2").fingerprint != base
    assert transform(sed("s/a/${X}/g"), X="1").fingerprint != base
    monkeypatch.setattr("reconciler._transform._pipeline.TRANSFORM_ENGINE_VERSION", "999")
    assert transform(sed("s/a/${X}/"), X="1").fingerprint != base


# --- variables ------------------------------------------------------------------------------------


def test_undefined_variable_is_a_load_error_listing_the_defined_ones():
    text = """
version: 1
variables: {ENV: prod}
mappings:
  - id: m
    source: a
    destination: {name: b, region: us-west-2}
    variables: {TEAM: x}
    transform: [{sed: "s/x/${NOPE}/"}]
"""
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, origin="m.yaml", base_dir=None)
    msg = str(exc.value)
    assert re.search(r"m\.yaml(:\d+)?: mapping 'm' \(mappings\[0\]\): field 'transform'", msg)
    assert "undefined variable ${NOPE}" in msg and "REGION" in msg
    assert "ENV" in msg and "TEAM" in msg  # the user's own variables are listed too


def test_builtin_variables_cannot_be_redefined():
    text = "version: 1\nvariables: {REGION: x}\nmappings: [{source: a, destination: {name: b, region: us-west-2}}]\n"
    with pytest.raises(ManifestError, match="REGION is a built-in"):
        parse_manifest(text, origin="m.yaml", base_dir=None)


# --- end to end -----------------------------------------------------------------------------------

MANIFEST = """
version: 1
variables: {ENV: prod, TIER: bronze}
defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
mappings:
  - id: svc
    source: "prod/svc/*"
    variables: {TIER: silver}
    destinations:
      - {name: "dr/svc/*", region: us-west-2}
      - {name: "dr/svc/*", region: eu-west-1, variables: {TIER: gold}}
    transform:
      - sed: ["s/us-east-1/${REGION}/g", "/^debug=/d", "s/^tier=.*/tier=${TIER}/"]
      - sed_file: rules/names.sed
  - id: cfg
    source: prod/cfg
    destination: dr/cfg
    transform:
      - json: {"$.host": "db.${REGION}.internal", "$.from": "${SECRET_NAME}@${SOURCE_REGION}",
               "$.to": "${DEST_SECRET_NAME}"}
"""
RULES = "# rename the environment\ns/\\bprod\\b/${ENV}-dr/g\n"


def test_variables_at_three_levels_and_builtins_end_to_end(aws, proxy, write_manifest, run_cli):
    aws.create("prod/svc/a", "url=https://a.us-east-1.example\ndebug=true\ntier=x\nenv=prod\n")
    aws.create("prod/cfg", '{"host": "db.us-east-1.internal", "port": 5432}')
    path = write_manifest(MANIFEST, {"rules/names.sed": RULES})
    code, report, err = run_cli("run", str(path))
    assert code == 0, (report, err)
    assert aws.value("dr/svc/a", "us-west-2") == "url=https://a.us-west-2.example\ntier=silver\nenv=prod-dr\n"
    assert aws.value("dr/svc/a", "eu-west-1") == "url=https://a.eu-west-1.example\ntier=gold\nenv=prod-dr\n"
    assert json.loads(aws.value("dr/cfg", "us-west-2")) == {
        "host": "db.us-west-2.internal", "port": 5432, "from": "prod/cfg@us-east-1", "to": "dr/cfg"}


def test_changing_a_rule_rewrites_exactly_the_affected_destinations(aws, proxy, write_manifest, run_cli):
    aws.create("prod/svc/a", "tier=x\n")
    aws.create("prod/svc/b", "tier=y\n")
    aws.create("prod/cfg", '{"host": "h"}')
    path = write_manifest(MANIFEST, {"rules/names.sed": RULES})
    assert run_cli("run", str(path))[0] == 0
    # WHEN only the gold destination's variable changes
    path.write_text(MANIFEST.replace("TIER: gold", "TIER: platinum"))
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    # THEN exactly the two eu-west-1 copies are rewritten
    assert code == 0
    written = sorted((i["destination"]["name"], i["destination"]["region"]) for i in report["items"]
                     if i["action"] == "update")
    assert written == [("dr/svc/a", "eu-west-1"), ("dr/svc/b", "eu-west-1")]
    assert proxy.calls["secretsmanager.PutSecretValue"] == 2
    assert aws.value("dr/svc/b", "eu-west-1") == "tier=platinum\n"
    # AND an unchanged manifest writes nothing
    proxy.calls.clear()
    assert run_cli("run", str(path))[1]["totals"]["in_sync"] == 5
    assert proxy.calls["secretsmanager.PutSecretValue"] == 0


def test_plan_diff_names_paths_and_lines_never_values(aws, proxy, write_manifest, run_cli):
    aws.create("prod/svc/a", "line1\nsecret=SEKRIT-one\nline3\n")
    aws.create("prod/cfg", '{"host": "h", "password": "SEKRIT-two"}')
    path = write_manifest(MANIFEST, {"rules/names.sed": RULES})
    assert run_cli("run", str(path))[0] == 0
    aws.put("prod/svc/a", "line1\nsecret=SEKRIT-three\nline3\n")
    aws.put("prod/cfg", '{"host": "h", "password": "SEKRIT-four"}')
    code, report, err = run_cli("plan", str(path), "--diff")
    assert code == 3
    diffs = {(i["mapping"], i["destination"]["region"]): i.get("diff") for i in report["items"]}
    assert diffs[("svc", "us-west-2")] == {"kind": "lines", "lines": [2], "count": 1}
    # "password" is not named by the manifest's json paths: shown by its position, never its name
    assert diffs[("cfg", "us-west-2")] == {"kind": "json", "paths": ["$[{key 2}]"], "count": 1}
    blob = json.dumps(report) + err
    assert "SEKRIT" not in blob
    code, _, err = run_cli("run", str(path), "--diff")
    assert code == 2


def test_runtime_transform_failures_fail_only_their_item(aws, proxy, write_manifest, run_cli):
    aws.create("prod/a", "not json")
    aws.create("prod/b", '{"k": "v"}')
    aws.create("prod/big", "y" * 40_000)
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: a, source: prod/a, destination: dr/a, transform: [{json: {"$.k": "x"}}]}
          - {id: b, source: prod/b, destination: dr/b, transform: [{json: {"$.k": "x"}}]}
          - {id: big, source: prod/big, destination: dr/big, transform: [{sed: "s/.*/&&/"}]}
    """)
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    by_id = {i["mapping"]: i for i in report["items"]}
    assert by_id["a"]["action"] == "failed" and "json" in by_id["a"]["error"]["message"]
    assert by_id["big"]["action"] == "failed" and "65536" in by_id["big"]["error"]["message"]
    assert by_id["b"]["action"] == "create"
    assert not aws.exists("dr/a", "us-west-2") and not aws.exists("dr/big", "us-west-2")


@pytest.mark.parametrize("tags, why", [
    ("{'a*b': x}", "tag key"), ("{aws:thing: x}", "tag key"), ("{reconciler:owner: x}", "reconciler: tags"),
    ("{ok: 'bad*value'}", "the value may have"),
])
def test_destination_tags_follow_aws_rules(tags, why):
    text = f"version: 1\nmappings: [{{source: a, destination: {{name: b, region: us-west-2, tags: {tags}}}}}]\n"
    with pytest.raises(ManifestError, match=why):
        parse_manifest(text, origin="m.yaml", base_dir=None)


def test_default_mapping_id_of_a_prefix_mapping_is_a_valid_tag_value():
    from reconciler.engine.planner import Desired

    tags = Desired(owner="o", mapping_id="prod/api/*", on_existing="fail").tags("arn")
    assert tags["reconciler:mapping"] == "prod/api/_"


@pytest.mark.parametrize("source, dest, why", [
    ("bad name", "ok", "source.name': a secret name"),
    ("ok", "dr/${V}", "is not a secret name"),
    ("ok", "dr/a#b", "is not a secret name"),
])
def test_secret_names_follow_aws_rules(source, dest, why):
    text = (f"version: 1\nvariables: {{V: 'has space'}}\n"
            f"mappings: [{{source: '{source}', destination: {{name: '{dest}', region: us-west-2}}}}]\n")
    with pytest.raises(ManifestError, match=why):
        parse_manifest(text, origin="m.yaml", base_dir=None)


def test_runaway_rule_fails_only_its_item_end_to_end(aws, proxy, write_manifest, run_cli):
    aws.create("prod/slow", ("a" * 60 + "b\n") * 1000)
    aws.create("prod/fine", "ok")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: slow, source: prod/slow, destination: dr/slow, transform: [{sed: "s/(a|aa)+b$/x/"}]}
          - {id: fine, source: prod/fine, destination: dr/fine, transform: [{sed: "s/(a|aa)+b$/x/"}]}
    """)
    # No upper bound on the run's wall time here (over HTTP only lower bounds hold on a loaded
    # machine): the item's "time limit" error below is the proof that the limit stopped it.
    code, report, _ = run_cli("run", str(path))
    by_id = {i["mapping"]: i for i in report["items"]}
    assert code == 1
    assert by_id["slow"]["action"] == "failed" and "time limit" in by_id["slow"]["error"]["message"]
    assert "transform[0] (sed)" in by_id["slow"]["error"]["message"]
    assert by_id["fine"]["action"] == "create" and not aws.exists("dr/slow", "us-west-2")


SEED = Path(__file__).parent / "data" / "seed"


def test_json_steps_keep_untouched_text_and_read_seed_files_end_to_end(aws, proxy, write_manifest, run_cli):
    # Issue 8 item 7 and issue 11 item 6 over HTTP: numbers elsewhere keep their exact text,
    # {find, replace} edits strings, json_file reads the original replicator's file.
    numbers = '{"n": 1e400, "p": 0.30000000000000004441, "k": 1e3, "z": -0.0, "host": "db.us-east-1.internal"}'
    aws.create("prod/cfg", numbers)
    aws.create("prod/seed", (SEED / "promotion.secret.json").read_text())
    rules = (SEED / "promotion.transformations.json").read_text()
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - id: cfg
            source: prod/cfg
            destination: dr/cfg
            transform: [{json: {"$.host": {find: us-east-1, replace: "${REGION}"}}}]
          - {id: seed, source: prod/seed, destination: dr/seed, transform: [{json_file: rules/promotion.json}]}
    """, {"rules/promotion.json": rules})
    code, report, err = run_cli("run", str(path))
    assert code == 0, (report, err)
    assert aws.value("dr/cfg", "us-west-2") == numbers.replace("us-east-1", "us-west-2")
    assert aws.value("dr/seed", "us-west-2") == (SEED / "promotion.expected.json").read_text()
    # AND the next run finds both in sync and writes nothing
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(path))
    assert code == 0 and report["totals"]["in_sync"] == 2
    assert proxy.calls["secretsmanager.PutSecretValue"] == 0


@pytest.mark.parametrize("entry, why", [
    ('{"$": {a: 1}}', r"'\$' alone is the whole secret"),
    ("{'$[?(@ =~ \"^h\")]': x}", "filter expressions are not supported"),
    ('{"$.d": 2024-01-01}', "date"),
    ('{"$.n": .nan}', "NaN"),
])
def test_json_load_errors_name_the_mapping_and_field(entry, why):
    text = ("version: 1\nmappings:\n  - id: m\n    source: a\n    destination: {name: b, region: us-west-2}\n"
            f"    transform: [{{json: {entry}}}]\n")
    with pytest.raises(ManifestError, match=why) as exc:
        parse_manifest(text, origin="m.yaml", base_dir=None)
    assert "mapping 'm'" in str(exc.value) and "transform" in str(exc.value)
