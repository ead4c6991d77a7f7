"""Fast unit tests, no server: the report's exit code, the text renderer, metrics sinks, the
change-event parser, shard parsing (the engine's one parser, as the CLI and Lambda use it) and the
CLI's numeric options."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from rich.console import Console

from reconciler._change_event import ChangeEvent, made_by, parse_change_event, secret_name
from reconciler.engine.selection import InvalidShard, parse_shard
from reconciler.output.metrics import (
    CloudWatchSink,
    EmfSink,
    MetricName,
    MetricUnit,
    NullSink,
    SinkName,
    build,
    publish,
    sink_for,
)
from reconciler.output.render import render_text, summary_line
from reconciler.output.report import ExitCode, ItemResult, Report, RunError, failure_report

ACCOUNT = "123456789012"
ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"


def item(action: str, **kw: Any) -> ItemResult:
    fields: dict[str, Any] = {"mapping": "m", "source": "src", "dest_name": "dr/x", "dest_region": "us-west-2",
                              "dest_account": ACCOUNT, "action": action, "reason": "why"}
    fields.update(kw)
    return ItemResult(**fields)


def report(mode: str, *actions: str, errors: int = 0) -> Report:
    r = Report(mode=mode, started_at="2026-01-01T00:00:00Z", run_id="r")
    r.items = [item(a) for a in actions]
    r.errors = [RunError(ACCOUNT, "us-east-1", "secretsmanager", "AccessDeniedException", "ListSecrets")] * errors
    return r


# --- Report.exit_code (SPEC: Command line) --------------------------------------------------------


@pytest.mark.parametrize(("mode", "actions", "errors", "code"), [
    ("run", (), 0, ExitCode.OK),
    ("run", ("in_sync", "create", "update"), 0, ExitCode.OK),
    ("run", ("delete", "orphan"), 0, ExitCode.OK),  # deletions done; orphans never change the exit code
    ("plan", ("in_sync",), 0, ExitCode.OK),
    ("plan", ("in_sync", "orphan"), 0, ExitCode.OK),
    ("plan", ("create",), 0, ExitCode.CHANGES_PENDING),
    ("plan", ("update",), 0, ExitCode.CHANGES_PENDING),
    ("plan", ("delete",), 0, ExitCode.CHANGES_PENDING),
    ("plan", ("create", "failed"), 0, ExitCode.NOT_CONVERGED),
    ("run", ("failed",), 0, ExitCode.NOT_CONVERGED),
    ("run", ("conflict",), 0, ExitCode.NOT_CONVERGED),
    ("run", ("source_missing",), 0, ExitCode.NOT_CONVERGED),
    ("run", ("deferred",), 0, ExitCode.NOT_CONVERGED),
    ("run", ("in_sync",), 1, ExitCode.NOT_CONVERGED),  # a run-level error alone
    ("plan", ("create",), 1, ExitCode.NOT_CONVERGED),  # errors win over pending changes
])
def test_exit_code(mode: str, actions: tuple[str, ...], errors: int, code: ExitCode) -> None:
    assert report(mode, *actions, errors=errors).exit_code == code


def test_totals_count_every_action_and_keep_unknown_ones() -> None:
    r = report("run", "create", "create", "orphan", "delete")
    totals = r.totals
    assert totals["create"] == 2 and totals["orphan"] == 1 and totals["delete"] == 1
    assert {"update", "in_sync", "conflict", "source_missing", "failed", "deferred"} <= set(totals)


def test_report_json_has_null_destination_and_errors() -> None:
    r = report("run", errors=1)
    r.items = [item("failed", dest_name="", dest_region="", dest_account="", error_type="AccessDeniedException",
                    error_message="ListSecrets")]
    out = io.StringIO()
    r.write_json(out)
    doc = json.loads(out.getvalue())
    assert doc == r.to_dict() and doc["items"][0]["destination"] is None
    assert doc["errors"] == [{"scope": {"account": ACCOUNT, "region": "us-east-1", "service": "secretsmanager"},
                              "type": "AccessDeniedException", "message": "ListSecrets"}]


def test_failure_report_is_one_report_that_exits_1() -> None:
    r = failure_report("plan", service="manifest", error_type="ManifestError", messages=["m.yaml: line 3: bad"])
    assert r.exit_code == ExitCode.NOT_CONVERGED and r.items == []
    assert r.to_dict()["errors"][0]["type"] == "ManifestError"


# --- text rendering -------------------------------------------------------------------------------


def render(r: Report, **kw: Any) -> str:
    buf = io.StringIO()
    render_text(r, console=Console(file=buf, width=200, color_system=None), **kw)
    return buf.getvalue()


def test_a_run_that_stopped_on_an_error_never_says_nothing_to_do() -> None:
    # GIVEN a run that stopped before deciding any item WHEN rendered THEN it says so
    r = failure_report("plan", service="reconciler", error_type="ConfigParseError", messages=["stopped"])
    assert "nothing to do" not in render(r) and "stopped before any item was decided" in render(r)
    # and an empty run without errors still reads "nothing to do"
    assert "nothing to do" in render(Report(mode="plan", started_at="", run_id="r"))


MARKUP = ["allow[/admin]", "team[/x]", "[bold]", "[/]", "[link=http://x]y[/link]", "\\[x]", "[red]m[/red]"]


@pytest.mark.parametrize("text", MARKUP)
def test_render_never_reads_markup_in_anything_it_shows(text: str) -> None:
    # GIVEN markup-like text in every field the table shows, and in a run-level error
    r = Report(mode="plan", started_at="", run_id="r")
    r.items = [item("update", mapping=f"id{text}", dest_name=f"dr/{text}", dest_account=f"acct{text}",
                    reason=f"owned by another owner ({text})", diff={"kind": "json", "paths": [f"$.{text}"]}),
               item("failed", reason="write failed", error_type=f"Err{text}", error_message=f"msg {text}"),
               item("conflict", reason=f"destination is owned by another owner ({text})")]
    r.errors = [RunError(f"a{text}", "us-east-1", "secretsmanager", f"T{text}", f"listing {text}")]
    # WHEN it is rendered THEN nothing raises and every string appears literally
    out = render(r)
    for expected in (f"id{text}", f"dr/{text}", f"({text})", f"$.{text}", f"Err{text}", f"msg {text}",
                     f"listing {text}"):
        assert expected in out, expected


def test_render_handles_any_action_and_a_missing_destination() -> None:
    r = report("plan", "delete", "orphan", "in_sync")
    r.items.append(item("failed", dest_name="", dest_region="", dest_account=""))
    r.items.append(item("some_future_action"))
    out = render(r)
    assert "would delete" in out and "orphan" in out and "some_future_action" in out and "(none)" in out


def test_run_level_errors_come_before_the_counts() -> None:
    out = render(report("run", "in_sync", errors=1))
    assert out.index("run-level error") < out.index("run finished in")
    assert "secretsmanager, us-east-1, 123456789012: AccessDeniedException: ListSecrets" in out


def test_the_text_report_ends_with_the_orphan_and_deletion_summary() -> None:
    assert render(report("run")).rstrip().splitlines()[-1] == "orphans: 0, deletions: 0"
    r = report("plan", "orphan", "orphan", "delete")
    assert summary_line(r) == "orphans: 2, deletions: 1"
    assert render(r).rstrip().splitlines()[-1] == "orphans: 2, deletions: 1"


def test_render_caps_the_table_but_counts_every_item() -> None:
    out = render(report("run", *["create"] * 7), max_rows=3)
    assert "7 item(s) need attention" in out and "... and 4 more" in out and "create 7" in out


# --- metrics: names, units, sinks -----------------------------------------------------------------


def test_metric_names_and_units_are_closed_sets() -> None:
    batch = build(report("run", "create", "failed", "conflict", errors=1), _settings())
    assert {name for name, _ in batch.values} <= {n.value for n in MetricName}
    assert set(batch.units.values()) <= {u.value for u in MetricUnit}
    # a run-level error counts in the undimensioned failure total the alarms watch
    assert batch.values[(MetricName.REPLICATION_FAILURE.value, None)] == [2.0]


def test_sink_for_each_name() -> None:
    assert isinstance(sink_for("cloudwatch"), CloudWatchSink)
    assert isinstance(sink_for(SinkName.EMF), EmfSink)
    assert isinstance(sink_for("none"), NullSink)
    with pytest.raises(ValueError):
        sink_for("stdout")


async def test_emf_sink_writes_one_document_per_dimension_set() -> None:
    out = io.StringIO()
    await publish(report("run", "create"), _settings(), sink=EmfSink(stream=out))
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert docs and all(d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "NS" for d in docs)


async def test_a_failing_sink_is_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def send(self, *_: Any) -> None:
            raise RuntimeError("boom")

    await publish(report("run"), _settings(), sink=Broken())
    assert any(r.getMessage() == "metrics not published" for r in caplog.records)


async def test_cloudwatch_with_an_unusable_ca_bundle_logs_why(caplog: pytest.LogCaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # GIVEN AWS_CA_BUNDLE names a file that is gone
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    # WHEN the CloudWatch sink publishes THEN nothing is raised, and the warning names the cause
    await publish(report("run"), _settings(), sink="cloudwatch", region="us-east-1")
    [rec] = [r for r in caplog.records if r.getMessage() == "metrics not published"]
    assert rec.error_type == "InvalidCABundle"


def _settings() -> Any:
    from reconciler.manifest import MetricsSettings

    return MetricsSettings(namespace="NS")


# --- change events (pure) -------------------------------------------------------------------------


def api_event(name: str, *, request: Any = None, response: Any = None, identity: Any = None,
              error: str | None = None, region: str = "us-east-1") -> dict[str, Any]:
    detail: dict[str, Any] = {"eventName": name, "awsRegion": region, "eventSource": "secretsmanager.amazonaws.com",
                              "eventType": "AwsApiCall", "requestParameters": request, "responseElements": response,
                              "userIdentity": identity or {}}
    if error:
        detail["errorCode"] = error
    return {"source": "aws.secretsmanager", "detail-type": "AWS API Call via CloudTrail", "detail": detail}


def names(change: ChangeEvent | None) -> list[str]:
    assert change is not None
    return [s.name for s in change.secrets]


@pytest.mark.parametrize(("secret_id", "expected"), [
    ("app/my-secret", "app/my-secret"),  # a name
    (ARN + "app/my-secret", "app/my-secret"),  # a partial ARN: never app/my
    (ARN + "app/my-secret-AbC123", "app/my-secret-AbC123"),  # a caller's ARN: could be partial, so kept whole
    (ARN + "db", "db"),
])
def test_a_caller_given_secret_id_is_never_cut(secret_id: str, expected: str) -> None:
    assert names(parse_change_event(api_event("PutSecretValue", request={"secretId": secret_id}))) == [expected]


def test_the_full_arn_from_the_response_wins() -> None:
    full = ARN + "app/my-secret-AbC123"
    change = parse_change_event(api_event("PutSecretValue", request={"secretId": ARN + "app/my-secret"},
                                          response={"arn": full, "versionId": "v"}))
    assert change is not None
    assert names(change) == ["app/my-secret"] and change.secrets[0].arn == full
    assert change.sources == frozenset({("us-east-1", full)})


def test_a_partial_arn_alone_reaches_the_engine_as_a_name() -> None:
    change = parse_change_event(api_event("UpdateSecret", request={"secretId": ARN + "app/my-secret"}))
    assert change is not None and change.sources == frozenset({("us-east-1", "app/my-secret")})


def test_the_response_name_wins_over_a_derived_one() -> None:
    change = parse_change_event(api_event("RestoreSecret", request={"secretId": ARN + "a/b-xyz"},
                                          response={"name": "a/b-xyz", "arn": ARN + "a/b-xyz-Q1w2E3"}))
    assert names(change) == ["a/b-xyz"]


def test_rotation_service_event_names_the_full_arn() -> None:
    full = ARN + "app/my-secret-AbC123"
    event = {"source": "aws.secretsmanager", "detail-type": "AWS Service Event via CloudTrail", "detail": {
        "eventName": "RotationSucceeded", "awsRegion": "us-east-1", "eventType": "AwsServiceEvent",
        "requestParameters": None, "responseElements": None, "additionalEventData": {"SecretId": full}}}
    change = parse_change_event(event)
    assert names(change) == ["app/my-secret"] and change is not None and change.secrets[0].arn == full


def test_region_comes_from_the_arn_then_the_event() -> None:
    change = parse_change_event(api_event("PutSecretValue", request={"secretId": "n"}, region="eu-west-1"))
    assert change is not None and change.sources == frozenset({("eu-west-1", "n")})


@pytest.mark.parametrize("event", [
    {}, {"mode": "run"}, {"source": "aws.events", "detail-type": "Scheduled Event"},
    {"source": "aws.secretsmanager"},  # no detail
])
def test_not_a_change_event(event: dict[str, Any]) -> None:
    assert parse_change_event(event) is None


@pytest.mark.parametrize("event", [
    api_event("DeleteSecret", request={"secretId": "n"}),
    api_event("GetSecretValue", request={"secretId": "n"}),
    api_event("PutSecretValue", request={"secretId": "n"}, error="AccessDenied"),
    api_event("PutSecretValue", request={}),
    api_event("PutSecretValue", request="garbage"),
])
def test_events_that_change_no_source(event: dict[str, Any]) -> None:
    change = parse_change_event(event)
    assert change is not None and not change.changes_a_source


ROLE = f"arn:aws:iam::{ACCOUNT}:role/service/reconciler-fn"


@pytest.mark.parametrize(("identity", "ours"), [
    ({"type": "AssumedRole", "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/reconciler-fn/fn-session",
      "sessionContext": {"sessionIssuer": {"type": "Role", "arn": ROLE}}}, True),
    ({"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/reconciler-fn/other-session"}, True),  # no issuer given
    ({"sessionContext": {"sessionIssuer": {"arn": ROLE}}}, True),
    ({"arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/reconciler-fn-2/s"}, False),  # a name that starts the same
    ({"arn": "arn:aws:sts::222222222222:assumed-role/reconciler-fn/s"}, False),  # another account
    ({"arn": f"arn:aws:iam::{ACCOUNT}:user/alice"}, False),
    ({}, False),
])
def test_own_role_detection(identity: dict[str, Any], ours: bool) -> None:
    change = parse_change_event(api_event("PutSecretValue", request={"secretId": "n"}, identity=identity))
    assert change is not None and made_by(change, [ROLE]) is ours
    assert made_by(change, []) is False


def test_secret_name_strips_only_a_full_arn_suffix() -> None:
    assert secret_name(ARN + "app/my-secret", full_arn=False) == "app/my-secret"
    assert secret_name(ARN + "app/my-secret-AbC123", full_arn=True) == "app/my-secret"
    assert secret_name(ARN + "app/my-secret", full_arn=True) == "app/my"  # only ever given a real full ARN
    assert secret_name(ARN + "x-ab_cde", full_arn=True) == "x-ab_cde"  # not 6 alphanumerics
    assert secret_name("plain/name", full_arn=True) == "plain/name"


# --- shards and numeric options -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "shard"), [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3))])
def test_parse_shard(text: str, shard: tuple[int, int]) -> None:
    assert parse_shard(text) == shard


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "", "nan/2", "1/2/3", "-1/2", "1.0/2", None, 2])
def test_parse_shard_refuses(text: Any) -> None:
    with pytest.raises(InvalidShard):
        parse_shard(text)


@pytest.mark.parametrize(("option", "value"), [
    ("--deadline", "nan"), ("--deadline", "NaN"), ("--deadline", "inf"), ("--deadline", "-inf"),
    ("--deadline", "-1"), ("--deadline", "0"), ("--deadline", "abc"), ("--deadline", ""),
    ("--concurrency", "0"), ("--concurrency", "513"), ("--concurrency", "nan"), ("--concurrency", "1.5"),
    ("--concurrency", "abc"), ("--shard", "0/2"), ("--shard", "3/2"), ("--shard", "x"), ("--shard", "nan/1"),
])
def test_numeric_options_are_usage_errors(option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from reconciler._cli import main

    for command in ("plan", "run"):
        with pytest.raises(SystemExit) as exc:
            main([command, "m.yaml", f"{option}={value}"])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert option in err and "Traceback" not in err


def test_the_heartbeat_series_keeps_exact_dimensions_whatever_the_manifest_adds() -> None:
    from reconciler.manifest import MetricsSettings
    from reconciler.output.metrics import build, emf_documents

    # GIVEN a manifest that adds its own dimensions to every metric
    settings = MetricsSettings(dimensions={"Environment": "prod"})
    report = Report(mode="run", started_at="2026-11-29T00:00:00Z", run_id="r", duration_ms=5)
    # WHEN the run's batch is built
    batch = build(report, settings)
    # THEN RunDuration{Mode=run} (what the stack's heartbeat alarm watches) is still published
    series = [sorted((d["Name"], d["Value"]) for d in datum["Dimensions"])
              for datum in batch.datums(settings.dimensions) if datum["MetricName"] == "RunDuration"]
    assert [("Mode", "run")] in series and [("Environment", "prod"), ("Mode", "run")] in series
    docs = [d for d in emf_documents(batch, settings, 0) if "RunDuration" in d]
    assert any(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Mode"]] for doc in docs)
