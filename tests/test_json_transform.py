"""json / json_file steps, pure and fast: the closed JSONPath, JSON values, exact text, seed files,
the closed step types and deadlines on a fake clock. No server."""

from __future__ import annotations

import datetime
import json
import math
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler._exceptions import ManifestError, TransformError
from reconciler._transform import (
    COPY,
    JsonPathSyntaxError,
    JsonValueError,
    Step,
    StepKind,
    StepSpec,
    Transform,
    TransformMode,
    _json,
    _jsontext,
    build_transform,
    parse_seed_transformations,
)
from reconciler._transform._jsonpath import MAX_JSONPATH_LENGTH, parse_jsonpath
from reconciler.manifest import variables as _variables

SEED = Path(__file__).parent / "data" / "seed"


def js(*assignments: tuple[Any, Any], kind: str = "json", **variables: str) -> Transform:
    spec = StepSpec(kind, f"transform[0] ({kind})", assignments=tuple(assignments))  # type: ignore[arg-type]
    return build_transform((spec,), lambda t: _variables.expand(t, variables))


# --- the closed JSONPath subset -------------------------------------------------------------------


@pytest.mark.parametrize("path, doc, expected", [
    ("$.a", '{"a": 1}', '{"a": 0}'),
    ("$['a']", '{"a": 1}', '{"a": 0}'),
    ('$["a b"]', '{"a b": 1}', '{"a b": 0}'),
    ("$.'a b'", '{"a b": 1}', '{"a b": 0}'),
    ("$['it\\'s']", '{"it\'s": 1}', '{"it\'s": 0}'),
    ("$.a.b", '{"a": {"b": 1}}', '{"a": {"b": 0}}'),
    ("$.a[1]", '{"a": [1, 2, 3]}', '{"a": [1, 0, 3]}'),
    ("$.a[-1]", '{"a": [1, 2, 3]}', '{"a": [1, 2, 0]}'),
    ("$.a[*]", '{"a": [1, 2]}', '{"a": [0, 0]}'),
    ("$.a.*", '{"a": {"x": 1, "y": 2}}', '{"a": {"x": 0, "y": 0}}'),
    ("$[*]", '{"x": 1, "y": 2}', '{"x": 0, "y": 0}'),
    ("$.a[1:3]", '{"a": [1, 2, 3, 4]}', '{"a": [1, 0, 0, 4]}'),
    ("$.a[::2]", '{"a": [1, 2, 3, 4]}', '{"a": [0, 2, 0, 4]}'),
    ("$..b", '{"a": {"b": 1, "c": [{"b": 2}]}, "b": 3}', '{"a": {"b": 0, "c": [{"b": 0}]}, "b": 0}'),
    ("$..[0]", '{"a": [[1, 2], 3]}', '{"a": [0, 3]}'),
    ("$.a..*", '{"a": [1, {"b": 2}]}', '{"a": [0, 0]}'),
])
def test_the_closed_subset_selects_as_jsonpath_does(path, doc, expected):
    assert js((path, 0)).apply(doc) == expected


@pytest.mark.parametrize("path", [
    '$[?(@ =~ "^(a+)+$")]',  # issue 9: a regex filter is an oracle on values and runs without bound
    "$.a[?(@.b == 1)]",
    "$[?(@.password)]",
    "$.a[(@.length-1)]",
    "$.a.length()",
    "$.a + 1",
    "$.a[0,1]",
    "$.a|$.b",
    "$.a.`this`",
    "@.a",
    "a.b",  # no root
    "$.a[",
    "$['a",
    "$.a[1:2:0]",
    "$.",
    "$..",
    "$ .a",
    "$.a[?]",
])
def test_anything_outside_the_subset_is_refused_at_load_naming_the_path(path):
    with pytest.raises(JsonPathSyntaxError) as exc:
        js((path, 1))
    message = str(exc.value)
    assert message.startswith("transform[0] (json): ")
    assert repr(path) in message or f"{path!r}"[1:-1] in message


def test_assigning_the_root_is_refused_at_load():
    # Before: "$" was accepted and silently did nothing.
    with pytest.raises(JsonPathSyntaxError, match=r"'\$' alone is the whole secret"):
        js(("$", {"a": 1}))
    with pytest.raises(JsonPathSyntaxError, match=r"'\$' alone"):
        js(("$", {"find": "a", "replace": "b"}))


def test_path_length_is_capped_and_compiling_is_one_scan():
    with pytest.raises(JsonPathSyntaxError, match=f"at most {MAX_JSONPATH_LENGTH}"):
        parse_jsonpath("$" + ".a" * 600_000)  # a 1 MiB manifest's worth
    longest = "$" + "['x']" * ((MAX_JSONPATH_LENGTH - 1) // 5)
    assert len(parse_jsonpath(longest).segments) == (MAX_JSONPATH_LENGTH - 1) // 5
    with pytest.raises(JsonPathSyntaxError, match="must be a string"):
        parse_jsonpath(42)


class _CountingTicker(_jsontext.Ticker):
    last: _CountingTicker | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _CountingTicker.last = self


def test_recursive_descent_costs_document_size_times_path_length(monkeypatch):
    # A chain 2,000 deep: without deduplication "$..a..a..a..a" visits O(n^4) node pairs.
    depth = 2000
    doc = '{"a": ' * depth + "1" + "}" * depth
    monkeypatch.setattr(_json, "Ticker", _CountingTicker)
    path = "$" + "..a" * 4
    out = js((path, {"find": "x", "replace": "y"})).apply(doc)
    assert out == doc
    ticker = _CountingTicker.last
    assert ticker is not None
    nodes = depth + 1
    segments = 4
    assert ticker.count <= 3 * nodes * (segments + 2)


# --- deadlines on a fake clock ----------------------------------------------------------------------


class FakeClock:
    """Reads 0.0 for the first ``free`` reads, then far past any deadline. Counts reads."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return 0.0 if self.reads <= self.free else 1e9


def test_a_json_step_checks_its_deadline_inside_its_loops():
    step = js(("$..*", 0)).steps[0][1]
    assert isinstance(step, _json.JsonSet)
    doc = json.dumps({f"k{i}": [i, {"v": i}] for i in range(1000)})
    # The deadline is 2 s after the first read; the clock jumps past it at the third read.
    clock = FakeClock(free=2)
    with pytest.raises(TransformError, match="time limit"):
        step.apply(doc, 2.0, clock=clock)
    assert clock.reads == 3  # stopped at the first read past the deadline, nothing after
    # And with a clock that never moves, the same work completes.
    assert step.apply(doc, 2.0, clock=lambda: 0.0).count("0") > 1000


def test_an_expired_deadline_stops_a_step_before_any_work():
    clock = FakeClock(free=0)
    step = js(("$.a", 1)).steps[0][1]
    with pytest.raises(TransformError, match="time limit"):
        step.apply('{"a": 0}', 5.0, clock=clock)  # type: ignore[call-arg]
    assert clock.reads == 1


@pytest.mark.parametrize("spec, value", [
    (StepSpec(StepKind.JSON, "transform[0] (json)", assignments=(("$..*", 0),)),
     json.dumps({f"k{i}": [i] for i in range(2000)})),
    (StepSpec(StepKind.SED, "transform[0] (sed)", rules=("s/a/b/",)), "a\n" * 2000),
])
def test_the_transform_deadline_reaches_every_step_on_a_fake_clock(monkeypatch, spec, value):
    # Transform.apply reads the clock once for the deadline (2 s later); every step then reads
    # the same clock while it works. The clock jumps past the deadline at its fourth read.
    t = build_transform((spec,), lambda s: s)
    clock = FakeClock(free=3)
    monkeypatch.setattr(time, "thread_time", clock)
    with pytest.raises(TransformError, match=r"^transform\[0\] \((json|sed)\): .*exceeded the transform time limit"):
        t.apply(value, timeout=2.0)
    assert clock.reads == 4  # the step stopped at the first read past the deadline


# --- values must be JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("value, why", [
    (datetime.date(2024, 1, 1), "date"),
    (datetime.datetime(2024, 1, 1, 12, 0), "timestamp"),
    (b"\x00\x01", r"binary value \(!!binary\)"),
    ({"a", "b"}, r"set \(!!set\)"),
    (float("nan"), "NaN and infinity"),
    (float("inf"), "NaN and infinity"),
    (-math.inf, "NaN and infinity"),
    ({1: "x"}, "JSON keys are strings"),
    ({"when": [1, datetime.date(2024, 1, 1)]}, r"at \.when\[1\]: a date"),
    (object(), "object is not a JSON value"),
])
def test_a_value_that_is_not_json_is_a_load_error_naming_the_path(value, why):
    # Before: TypeError (exit 1) for dates, binary and sets; NaN/Infinity written as invalid JSON.
    with pytest.raises(JsonValueError, match=why) as exc:
        js(("$.x", value))
    assert "transform[0] (json): json value for $.x" in str(exc.value)
    assert isinstance(exc.value, JsonPathSyntaxError) and isinstance(exc.value, ValueError)


def test_an_alias_bomb_value_is_refused_without_expanding_it():
    bomb: Any = ["lol"]
    for _ in range(30):  # 10**30 strings if expanded; YAML aliases build exactly this DAG
        bomb = [bomb] * 10
    with pytest.raises(JsonValueError, match="over 65536 bytes as JSON"):
        js(("$.x", bomb))


def test_values_nest_at_most_64_levels():
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    with pytest.raises(JsonValueError, match="deeper than 64"):
        js(("$.x", deep))


@pytest.mark.parametrize("yaml_value, why", [
    ("2024-01-01", "date"), ("2024-01-01T10:00:00Z", "timestamp"), ("!!binary aGVsbG8=", "binary"),
    ("!!set {a, b}", "set"), (".nan", "NaN"), (".inf", "infinity"), ("-.inf", "infinity"),
])
def test_yaml_values_that_are_not_json_exit_2_through_the_manifest(yaml_value, why):
    from reconciler.manifest import parse_manifest

    text = ("version: 1\nmappings:\n  - id: m\n    source: a\n    destination: {name: b, region: us-west-2}\n"
            f"    transform: [{{json: {{'$.x': {yaml_value}}}}}]\n")
    with pytest.raises(ManifestError, match=why):
        parse_manifest(text, origin="m.yaml", base_dir=None)


# --- exact text -------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", [
    "1e400", "-1e400", "0.30000000000000004441", "1e3", "1E+3", "-0.0", "-0", "123456789012345678901234567890",
    "9" * 5000, "1.0", "1.50",
])
def test_untouched_numbers_keep_their_exact_text(number):
    # Before: 1e400 became Infinity, 0.30000000000000004441 lost digits, 1e3 became 1000.0.
    doc = f'{{"n": {number}, "list": [{number}, {{"deep": {number}}}], "s": "old"}}'
    assert js(("$.s", "new")).apply(doc) == doc.replace('"old"', '"new"')


@pytest.mark.parametrize("doc", [
    '{"s": "old", "esc": "caf\\u00e9 \\/ \\ud83d\\ude00", "t": "x"}',  # escapes elsewhere kept as written
    '{ "s" :"old" ,"t":  [ 1 ,2 ] }',  # irregular spacing
    '\n\n  {"s": "old"}  \n\n',  # whitespace around the document
    '{\r\n\t"s": "old",\r\n\t"t": 1\r\n}',  # CRLF and tabs
    '{"t": 1, "t": 2, "s": "old"}',  # duplicate keys elsewhere
])
def test_only_the_written_value_changes(doc):
    assert js(("$.s", "new")).apply(doc) == doc.replace('"old"', '"new"')


def test_duplicate_keys_are_all_written_and_new_keys_added_once():
    doc = '{"a": 1, "b": 0, "a": 2}'
    assert js(("$.a", 9), ("$.c", True)).apply(doc) == '{"a": 9, "b": 0, "a": 9, "c": true}'


@pytest.mark.parametrize("doc, expected", [
    # a new container in an indented document is indented like its neighbours
    ('{\n    "a": 1\n}\n', '{\n    "a": 1,\n    "new": {\n        "k": [\n            1\n        ]\n    }\n}\n'),
    ('{\n\t"a": {}\n}', '{\n\t"a": {\n\t\t"new": {\n\t\t\t"k": [\n\t\t\t\t1\n\t\t\t]\n\t\t}\n\t}\n}'),
    # inside a one-line object of an indented document it stays on that line
    ('{\n  "a": {"b": 1}\n}', '{\n  "a": {"b": 1, "new": {"k": [1]}}\n}'),
    ('{"a":{"b":1}}', '{"a":{"b":1,"new":{"k":[1]}}}'),
])
def test_new_containers_follow_the_layout_around_them(doc, expected):
    path = "$.new" if expected.startswith('{\n    "a": 1,') else "$.a.new"
    assert js((path, {"k": [1]})).apply(doc) == expected


def test_ascii_documents_stay_ascii_and_others_keep_their_characters():
    assert js(("$.x", "é")).apply('{"a": "\\u00e9"}') == '{"a": "\\u00e9", "x": "\\u00e9"}'
    assert js(("$.x", "é")).apply('{"a": "ü"}') == '{"a": "ü", "x": "é"}'


def test_a_later_path_sees_what_an_earlier_one_wrote():
    out = js(("$.a", {"b": {"c": 1}}), ("$.a.b.c", 2), ("$.a.b.d", "x")).apply('{"a": 0}')
    assert out == '{"a": {"b": {"c": 2, "d": "x"}}}'


def test_deeply_nested_secrets_are_handled_without_recursion():
    depth = 30_000  # json.loads raises RecursionError here
    doc = '{"a": ' + "[" * depth + "]" * depth + ', "s": "old"}'
    assert js(("$.s", "new")).apply(doc, timeout=3600.0) == doc.replace('"old"', '"new"')


@pytest.mark.parametrize("value", ['{"a": 1', '{"a": 1} x', "{'a': 1}", '{"a": 01}', '{"a": "\x01"}', "", "  "])
def test_text_that_json_loads_refuses_is_not_json(value):
    with pytest.raises(TransformError, match="json step: the value is not JSON"):
        js(("$.a", 1)).apply(value)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(doc=st.dictionaries(st.text(max_size=5), _json_values, max_size=5), indent=st.sampled_from([None, 2, "\t"]),
       ensure_ascii=st.booleans())
def test_property_edits_change_exactly_what_they_write(doc, indent, ensure_ascii):
    text = json.dumps(doc, indent=indent, ensure_ascii=ensure_ascii)
    # a find that occurs nowhere leaves the text byte for byte
    assert js(("$..*", {"find": "\x00never", "replace": "x"})).apply(text) == text
    # a new member: the document reads as before plus that member, and still parses
    out = js(("$['\x00new']", [1, {"k": None}])).apply(text)
    assert json.loads(out) == {**doc, "\x00new": [1, {"k": None}]}
    assert out.startswith(text.rstrip()[:-1].rstrip())


# --- seed compatibility: {find, replace} and the transformation file -----------------------------


def test_find_replace_edits_strings_only_and_a_missing_path_is_no_error():
    t = js(("$..host", {"find": "us-east-1", "replace": "${REGION}"}), ("$.nope", {"find": "a", "replace": "b"}),
           ("$.port", {"find": "5432", "replace": "6432"}), REGION="eu-west-1")
    doc = '{"host": "db.us-east-1.x", "r": [{"host": "us-east-1"}, {"host": 7}], "port": 5432}'
    assert t.apply(doc) == '{"host": "db.eu-west-1.x", "r": [{"host": "eu-west-1"}, {"host": 7}], "port": 5432}'


@pytest.mark.parametrize("value", [{"find": "a", "replace": 1}, {"find": "a", "replace": "b", "x": 1}, {"find": "a"}])
def test_any_other_map_is_a_value_to_set(value):
    assert json.loads(js(("$.k", value)).apply('{"k": "a"}')) == {"k": value}


def test_an_empty_find_is_refused():
    with pytest.raises(JsonValueError, match="'find' is empty"):
        js(("$.k", {"find": "", "replace": "x"}))


def _cases() -> list[str]:
    return sorted(p.name.split(".")[0] for p in SEED.glob("*.secret.json"))


@pytest.mark.parametrize("case", _cases())
def test_seed_fixture_files(case):
    """The original replicator's documented file shapes (our own copies under tests/data/seed)."""
    secret = (SEED / f"{case}.secret.json").read_text()
    expected = (SEED / f"{case}.expected.json").read_text()
    variables = {"REGION": "eu-west-1", "SOURCE_REGION": "us-east-1", "ACCOUNT_ID": "444455556666"}
    rules = SEED / f"{case}.transformations.json"
    if rules.exists():
        label = f"transform[0] (json_file {rules.name})"
        spec = StepSpec(StepKind.JSON_FILE, label, assignments=parse_seed_transformations(rules.read_text(), label))
    else:  # the replicator's JSON mapping form is a json step as written
        mapping = json.loads((SEED / f"{case}.mapping.json").read_text())
        spec = StepSpec(StepKind.JSON, "transform[0] (json)", assignments=tuple(mapping.items()))
    t = build_transform((spec,), lambda s: _variables.expand(s, variables))
    assert t.apply(secret) == expected
    assert t.mode is TransformMode.JSON and t.rule_count == len(spec.assignments)


def test_seed_file_reads_into_find_replace_assignments():
    text = '{"description": "d", "transformations": [{"path": "$.a", "find": "x", "replace": "${REGION}"}]}'
    assert parse_seed_transformations(text, "lbl") == (("$.a", {"find": "x", "replace": "${REGION}"}),)


CANARY = "AKIAIOSFODNN7EXAMPLE"


@pytest.mark.parametrize("text, why", [
    (f"not json {CANARY}", "not JSON"),
    (f'{{"transformations": [{{"path": "$.a", "find": "{CANARY}"', "not JSON"),
    (f'["{CANARY}"]', "must be a JSON object"),
    (f'{{"{CANARY}": 1}}', "must be a JSON object"),
    (f'{{"transformations": [], "{CANARY}": 1}}', "unknown top-level keys"),
    (f'{{"transformations": [], "description": ["{CANARY}"]}}', "'description' must be a string"),
    ('{"transformations": []}', "non-empty list"),
    (f'{{"transformations": "{CANARY}"}}', "non-empty list"),
    (f'{{"transformations": ["{CANARY}"]}}', r"transformations\[0\] must be an object with exactly"),
    (f'{{"transformations": [{{"path": "$.a", "find": "x", "replace": "y", "{CANARY}": 1}}]}}', "exactly the keys"),
    (f'{{"transformations": [{{"path": "$.a", "find": ["{CANARY}"], "replace": "y"}}]}}',
     r"transformations\[0\]\.find must be a string"),
    (f'{{"transformations": [{{"path": "$.a", "find": "x", "replace": 1, "replace": "{CANARY}"}}]}}',
     "duplicate key"),
    (f'{{"transformations": [{{"path": "$.a", "find": NaN, "replace": "{CANARY}"}}]}}', "NaN"),
    (f'{{"transformations": [{{"path": "$.a", "find": "", "replace": "{CANARY}"}}]}}', r"\.find is empty"),
    (f'{{"transformations": [{{"path": "$[?(@.x)]", "find": "{CANARY}", "replace": "y"}}]}}',
     r"transformations\[0\]\.path: .*filter expressions are not supported"),
    ("[" * 100_000, "nests too deeply|not JSON"),
])
def test_a_malformed_seed_file_is_refused_without_quoting_it(text, why):
    with pytest.raises(JsonPathSyntaxError, match=why) as exc:
        parse_seed_transformations(text, "transform[2] (json_file rules/x.json)")
    message = str(exc.value)
    assert message.startswith("transform[2] (json_file rules/x.json): ")
    assert CANARY not in message


# --- closed step types ------------------------------------------------------------------------------


def test_step_kinds_modes_and_the_step_protocol():
    assert [k.value for k in StepKind] == ["sed", "sed_file", "json", "json_file"]
    assert StepSpec("sed", "l").kind is StepKind.SED  # plain names are accepted and normalised
    with pytest.raises(ValueError):
        StepSpec("awk", "l")  # type: ignore[arg-type]
    sed = build_transform((StepSpec(StepKind.SED, "s", rules=("s/a/b/", "/x/d")),), lambda s: s)
    json_ = js(("$.a", 1), ("$.b", 2), kind="json_file")
    both = build_transform((StepSpec(StepKind.SED, "s", rules=("s/a/b/",)), StepSpec("json", "j",
                                                                                    assignments=(("$.a", 1),))),
                           lambda s: s)
    for t in (sed, json_, both):
        assert all(isinstance(step, Step) for _, step in t.steps)
    assert (sed.mode, json_.mode, both.mode, COPY.mode) == (TransformMode.SED, TransformMode.JSON,
                                                            TransformMode.MIXED, TransformMode.NONE)
    assert (sed.rule_count, json_.rule_count, both.rule_count, COPY.rule_count) == (2, 2, 2, 0)
    assert COPY.is_copy and COPY.identity and not sed.is_copy and not sed.identity
    assert build_transform((), lambda s: s) is COPY
    assert f"{both.mode}" == "mixed" and json.dumps({"m": sed.mode}) == '{"m": "sed"}'


def test_fingerprint_is_deterministic_and_follows_meaning_not_spelling():
    a = js(("$.a", {"x": [1, 2.5]}), ("$.b", {"find": "u", "replace": "${R}"}), R="1")
    assert a.fingerprint == js(("$.a", {"x": [1, 2.5]}), ("$.b", {"find": "u", "replace": "${R}"}), R="1").fingerprint
    assert a.fingerprint != js(("$.a", {"x": [1, 2.5]}), ("$.b", {"find": "u", "replace": "${R}"}), R="2").fingerprint
    same_rules_from_a_file = js(("$.a", {"x": [1, 2.5]}), ("$.b", {"find": "u", "replace": "${R}"}), R="1",
                                kind="json_file")
    assert same_rules_from_a_file.fingerprint == a.fingerprint
    set_not_replace = js(("$.a", {"x": [1, 2.5]}), ("$.b", {"find": "u", "replace": "1", "also": 0}), R="1")
    assert set_not_replace.fingerprint != a.fingerprint


def _loads_accepts(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(doc=_json_values, cut=st.integers(min_value=0, max_value=200), insert=st.sampled_from(
    ["", ",", '"', "\\", "\x01", "]", "}", ":", " ", "0", "-", "e", "\\u12", "NaN", "tru"]))
def test_property_the_parser_accepts_exactly_what_json_loads_accepts(doc, cut, insert):
    text = json.dumps(doc)
    cut = min(cut, len(text))
    mutated = text[:cut] + insert + text[cut + (1 if insert == "" and cut < len(text) else 0):]
    ticker = _jsontext.Ticker(float("inf"))
    try:
        _jsontext.parse_document(mutated, ticker)
        ours = True
    except _jsontext.NotJson:
        ours = False
    assert ours == _loads_accepts(mutated), mutated
