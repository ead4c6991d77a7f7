"""Regression tests for the hostile review's findings (manifest, --diff, logs, CLI).

Pure where no AWS is involved; over HTTP (moto behind the fault proxy) where it is. No test here
races a wall clock: bounds are asserted on line counts and work counters.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from reconciler._exceptions import ManifestError
from reconciler._types import SecretValue
from reconciler.manifest import parse_manifest
from reconciler.output.diff import describe_difference, json_path_fields


def load(text: str) -> Any:
    return parse_manifest(textwrap.dedent(text), origin="m.yaml", base_dir=None)


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load(text)
    return list(exc.value.problems)


@pytest.fixture(autouse=True)
def _known_default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


# --- 1. variables in a destination name: a clear error, exit 2, never a traceback ---------------------


@pytest.mark.parametrize(("variables", "name", "wanted"), [
    ("", "c6/${NOPE}", "undefined variable ${NOPE}"),
    ("", "c6/${DEST_SECRET_NAME}", "${DEST_SECRET_NAME} is not allowed in a destination name"),
    ("", "c6/${SECRET_NAME}", "${SECRET_NAME} is not allowed in a destination name"),
    ("variables: {X: 'x${SECRET_NAME}'}", "c6/${X}", "${X} uses ${SECRET_NAME}, which is not allowed"),
    ("variables: {X: 'x${DEST_SECRET_NAME}'}", "c6/${X}*", "${X} uses ${DEST_SECRET_NAME}, which is not allowed"),
    ("variables: {X: 'x${NOPE}'}", "c6/${X}", "undefined variable ${NOPE}"),
])
def test_a_bad_variable_in_a_destination_name_is_exit_2_with_a_clear_message(
        variables: str, name: str, wanted: str, write_manifest: Any, run_cli: Any) -> None:
    source = "p/*" if name.endswith("*") else "p/a"
    path = write_manifest(f"""
        version: 1
        {variables}
        mappings:
          - source: {{name: "{source}", region: us-east-1}}
            destinations:
              - {{name: "{name}", region: us-west-2}}
              - {{name: "{name}", region: eu-west-1, variables: {{Y: y}}}}
    """)
    code, out, err = run_cli("validate", str(path))
    assert code == 2, (out, err)
    assert wanted in err, err
    assert "Traceback" not in err and "AttributeError" not in err


# --- 2. overlapping mappings: bounded error output, bounded work -------------------------------------


def test_overlapping_mappings_give_a_bounded_error_list_and_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.manifest import collisions
    from reconciler.manifest.load import MAX_REPORTED_PROBLEMS

    examined: list[int] = []
    real = collisions.check_collisions

    def spy(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        examined.append(out.examined)
        return out

    monkeypatch.setattr("reconciler.manifest.load.check_collisions", spy)
    n = 900
    lines = ["version: 1", "mappings:"] + [
        f"  - {{source: 'p/{'x' * i}*', destination: {{name: 'q/{'x' * i}*', region: us-west-2}}}}"
        for i in range(n)]
    with pytest.raises(ManifestError) as exc:
        parse_manifest("\n".join(lines) + "\n", origin="m.yaml", base_dir=None)
    found = exc.value.problems
    assert len(found) <= MAX_REPORTED_PROBLEMS + 1
    assert found[-1].startswith("... and ") and found[-1].endswith(" more problems")
    # every overlapping pair of destinations is a problem: n*(n-1)/2, counted, not enumerated; and
    # names past Secrets Manager's 512 characters (source and destination) are problems too
    too_long = 2 * sum(1 for i in range(n) if len(f"p/{'x' * i}x") > 512)
    assert found[-1] == f"... and {n * (n - 1) // 2 + too_long - MAX_REPORTED_PROBLEMS} more problems"
    assert examined and examined[0] <= MAX_REPORTED_PROBLEMS + 2 * n  # pairs looked at: not n^2


def test_a_few_problems_are_all_listed_without_a_trailer() -> None:
    found = problems("""
        version: 1
        mappings:
          - {source: {name: a, region: us-east-1}, destination: {name: c, region: us-west-2}}
          - {source: {name: b, region: us-east-1}, destination: {name: c, region: us-west-2}}
    """)
    assert len(found) == 1 and "writes the same destination" in found[0]


# --- 3. placeholders: a valid rule using a built-in loads; messages never show a stand-in -----------


def test_a_sed_rule_using_dest_secret_name_loads() -> None:
    m = load("""
        version: 1
        mappings:
          - source: {name: c6, region: us-east-1}
            destination: {name: c6x, region: us-west-2}
            transform: [{sed: ["s/a/${DEST_SECRET_NAME}/", "s/${SECRET_NAME}/${REGION}-${ACCOUNT_ID}/g"]}]
    """)
    assert m.mappings[0].steps


def test_a_rule_that_fails_only_with_a_builtin_names_the_variable_not_a_stand_in() -> None:
    from reconciler.manifest.rules import PLACEHOLDERS

    found = problems("""
        version: 1
        mappings:
          - source: {name: c6, region: us-east-1}
            destination: {name: c6x, region: us-west-2}
            transform: [{sed: ["s/a/b/${SECRET_NAME}"]}]
    """)
    text = "\n".join(found)
    assert "${SECRET_NAME}" in text
    assert not any(p in text for p in PLACEHOLDERS.values()), text
    for value in PLACEHOLDERS.values():
        assert not set(value) & set("/\\[](){}.*+?^$|&#-"), value  # no sed/regex metacharacter


def test_a_rule_broken_whatever_the_value_is_quoted_as_written() -> None:
    from reconciler.manifest.rules import ALTERNATE_PLACEHOLDERS, PLACEHOLDERS

    (found,) = problems("""
        version: 1
        mappings:
          - source: {name: c6, region: us-east-1}
            destination: {name: c6x, region: us-west-2}
            transform: [{sed: ["s/(${REGION}/x/"]}]
    """)
    assert "s/(${REGION}/x/" in found, found
    assert not any(p in found for p in [*PLACEHOLDERS.values(), *ALTERNATE_PLACEHOLDERS.values()])


def test_an_expansion_that_breaks_a_rule_at_run_time_fails_that_item_only(aws: Any, write_manifest: Any,
                                                                          run_cli: Any) -> None:
    aws.create("c6/src", "aaa")
    aws.create("c6plain", "aaa")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: slash, source: c6/src, destination: c6/dst, transform: [{sed: ["s/a/${SECRET_NAME}/"]}]}
          - {id: plain, source: c6plain, destination: c6dst, transform: [{sed: ["s/a/${SECRET_NAME}/"]}]}
    """)
    code, report, _ = run_cli("run", str(path))
    assert code == 1
    items = {i["mapping"]: i for i in report["items"]}
    assert items["slash"]["action"] == "failed" and items["slash"]["error"]["type"]
    assert items["plain"]["action"] == "create"
    assert aws.value("c6dst", "us-west-2") == "c6plainaa"


# --- 4. version is exactly the integer 1 ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["true", "1.0", '"1"', "2"])
def test_version_is_strictly_the_integer_1(version: str) -> None:
    found = problems(f"""
        version: {version}
        mappings:
          - {{source: {{name: a, region: us-east-1}}, destination: {{name: b, region: us-west-2}}}}
    """)
    assert len(found) == 1 and found[0].startswith("m.yaml:2:") and "'version'" in found[0], found


# --- 5. plan --diff never shows a key taken from a secret value ------------------------------------------


def _sv(text: str) -> SecretValue:
    return SecretValue("arn", "n", "v", ("AWSCURRENT",), string=text)


def test_diff_shows_unnamed_keys_by_position_and_named_keys_by_name() -> None:
    current = _sv(json.dumps({"x": [1, 2, {"CANARY-7f3a9e-hunter2": 1}], "allow[/admin]": 1, "db": {"host": "a"}}))
    wanted = _sv(json.dumps({"x": [1, 2, {"CANARY-7f3a9e-hunter2": 2}], "allow[/admin]": 2, "db": {"host": "b"},
                             "new-SECRET": 1}))
    out = describe_difference(current, wanted, frozenset({"allow[/admin]", "host", "db"}))
    assert out["paths"] == ["$[{key 1}][2][{key 1}]", "$['allow[/admin]']", "$.db.host", "$[{key 4}]"]
    assert "CANARY" not in json.dumps(out) and "SECRET" not in json.dumps(out)
    assert json_path_fields(()) == frozenset()


def test_json_path_fields_come_from_the_manifest_paths() -> None:
    from reconciler._transform import StepSpec

    steps = (StepSpec("json", "t", assignments=(("$.db.host", "x"), ("$['a b'][0]", 1), ("$..port", 2),
                                                ("$.${ENV}.k", 3), ("$[?(@.x)]", 4))),
             StepSpec("sed", "s", rules=("s/a/b/",)))
    # a path holding a variable names nothing (its keys are shown by position)
    assert json_path_fields(steps) == frozenset({"db", "host", "a b", "port"})


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_plan_diff_never_leaks_a_key_from_a_secret_value(fmt: str, aws: Any, write_manifest: Any,
                                                          run_cli: Any) -> None:
    canary = "CANARY-7f3a9e-hunter2"
    aws.create("app/src", json.dumps({"x": [1, 2, {canary: 1}], "db": {"host": "h"}}))
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: app, source: app/src, destination: app/dst, transform: [{json: {"$.db.host": "h2"}}]}
    """)
    code, _, _ = run_cli("run", str(path))
    assert code == 0
    aws.put("app/src", json.dumps({"x": [1, 2, {canary: 2}], "db": {"host": "h"}}))
    code, out, err = run_cli("plan", str(path), "--diff", "--format", fmt)
    assert code == 3, (out, err)
    blob = (json.dumps(out) if not isinstance(out, str) else out) + err
    assert canary not in blob and "hunter2" not in blob
    if fmt == "json":
        (item,) = out["items"]
        assert item["diff"]["paths"] == ["$[{key 1}][2][{key 1}]"], item
    else:
        assert "[{key 1}][2][{key 1}]" in out


# --- 6. logs on stderr are JSON lines, whoever logs ------------------------------------------------------


def test_a_denied_assume_role_prints_only_json_lines_on_stderr(aws: Any, proxy: Any, write_manifest: Any) -> None:
    from conftest import ROLE_B

    aws.create("app/s", "v")
    path = write_manifest(f"""
        version: 1
        defaults: {{source: {{region: us-east-1}}}}
        mappings:
          - {{id: r, source: app/s, destination: {{name: dr/s, region: us-west-2, role_arn: "{ROLE_B}"}}}}
    """)
    proxy.faults.deny["AssumeRole"] = (403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
    # a real process: in-process, pytest's own handlers on the root logger hide what a bare
    # interpreter prints (logging's last-resort handler, with the library's traceback)
    done = subprocess.run([sys.executable, "-m", "reconciler", "run", str(path), "--format", "json",
                           "--metrics-sink", "none"], capture_output=True, text=True, timeout=120, check=False)
    code, err = done.returncode, done.stderr
    assert code == 1, err
    assert json.loads(done.stdout)["items"][0]["error"]["type"] == "AccessDenied"
    assert err.strip()
    for line in err.splitlines():
        json.loads(line)  # every line, no traceback, no plain text
    assert "Traceback" not in err


def test_library_records_are_json_lines_without_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler.output import logs

    logs.configure("INFO")
    try:
        raise RuntimeError("a message that could carry data: s3cr3t")
    except RuntimeError:
        logging.getLogger("botocore.credentials").warning("Refreshing failed.", exc_info=True)
        logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    logging.getLogger("botocore.endpoint").debug("request body s3cr3t")  # below WARNING: dropped
    logging.getLogger("somelib").warning("a %s line", "plain")
    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines()]
    assert [r["logger"] for r in records] == ["botocore.credentials", "asyncio", "somelib"]
    # a library's broken format string is still one line (pytest's own capture handler would raise)
    broken = logging.makeLogRecord({"name": "somelib", "msg": "bad %s %d", "args": ("x",), "levelname": "WARNING"})
    assert json.loads(logs.JsonFormatter().format(broken))["message"] == "bad %s %d"
    assert records[0]["exception_type"] == "RuntimeError"
    assert "s3cr3t" not in err and "Traceback" not in err


# --- 7. CLI: --shard bound, signals, a prefix that matched nothing -----------------------------------------


def test_an_absurd_shard_count_is_a_usage_error(write_manifest: Any, run_cli: Any) -> None:
    from reconciler.engine.selection import MAX_SHARDS, InvalidShard, parse_shard

    path = write_manifest("""
        version: 1
        mappings:
          - {source: {name: a, region: us-east-1}, destination: {name: b, region: us-west-2}}
    """)
    code, _, err = run_cli("plan", str(path), "--shard", "1/99999999999999999999")
    assert code == 2 and "1000000" in err.replace(",", "")
    with pytest.raises(InvalidShard):
        parse_shard(f"1/{MAX_SHARDS + 1}")
    assert parse_shard(f"{MAX_SHARDS}/{MAX_SHARDS}") == (MAX_SHARDS, MAX_SHARDS)


@pytest.mark.parametrize(("signals", "code"), [
    ((signal.SIGTERM, signal.SIGTERM), 143), ((signal.SIGINT, signal.SIGINT), 130),
    ((signal.SIGINT, signal.SIGTERM), 143),
])
def test_a_second_signal_exits_with_128_plus_its_number(signals: tuple[int, ...], code: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    import anyio

    from reconciler import _cli

    class Receiver:
        def __aiter__(self) -> Any:
            return self._gen()

        async def _gen(self) -> Any:
            for s in signals:
                yield s

    @contextlib.contextmanager
    def fake_receiver(*_: int) -> Any:
        yield Receiver()

    class Exited(Exception):
        pass

    exits: list[int] = []

    def fake_exit(n: int) -> None:
        exits.append(n)
        raise Exited

    monkeypatch.setattr(_cli.anyio, "open_signal_receiver", fake_receiver)
    monkeypatch.setattr(_cli.os, "_exit", fake_exit)

    async def go() -> anyio.Event:
        stop = anyio.Event()
        with pytest.raises(Exited):
            await _cli._watch_signals(stop, None)
        return stop

    stop = anyio.run(go)
    assert stop.is_set() and exits == [code]


def test_a_prefix_that_matched_nothing_logs_one_warning(aws: Any, write_manifest: Any, run_cli: Any) -> None:
    aws.create("app/other", "v")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: empty, source: "nothing/*", destination: "dr/nothing/*"}
          - {id: full, source: "app/*", destination: "dr/app/*"}
    """)
    code, _, err = run_cli("plan", str(path))
    assert code == 3
    warnings = [r for r in map(json.loads, err.splitlines()) if r["message"] == "prefix matched no source"]
    assert len(warnings) == 1 and warnings[0]["mapping"] == "empty" and warnings[0]["level"] == "WARNING"
