"""Metrics (one batch), EMF, safe logs, the Lambda handler, and canaries in every output."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from reconciler._constants import MAX_METRICS_PER_REQUEST
from reconciler.manifest import MetricsSettings
from reconciler.output.metrics import Batch, emf_documents, split
from reconciler.output.report import ItemResult, Report

SPEC_NAMES = {"ReplicationSuccess", "ReplicationFailure", "ReplicationDuration", "SecretSize",
              "TransformationDuration", "TransformationInputSize", "TransformationOutputSize",
              "TransformationRulesCount", "RetryAttempt", "ThrottlingEvent", "DriftDetected", "InSync", "Conflict",
              "SourceMissing", "Deferred", "RunDuration"}
SPEC_DIMENSIONS = {"SourceRegion", "DestRegion", "TransformMode", "ErrorType", "Operation", "Mode", "Environment"}


def manifest_text(sink: str = "cloudwatch", extra: str = "") -> str:
    return f"""
version: 1
settings:
  retry: {{max_attempts: 2, base_delay: 0.01, max_delay: 0.02}}
  metrics: {{sink: {sink}, namespace: TestNS, region: us-east-1, dimensions: {{Environment: test}}{extra}}}
defaults: {{source: {{region: us-east-1}}, destination: {{region: us-west-2}}}}
mappings:
  - id: plain
    source: "app/plain/*"
    destination: "dr/plain/*"
  - id: json
    source: app/json
    destination: dr/json
    transform: [{{json: {{"$.host": "db.${{REGION}}"}}}}]
  - id: broken
    source: app/broken
    destination: dr/broken
    transform: [{{json: {{"$.host": "x"}}}}]
  - id: theirs
    source: app/theirs
    destination: dr/theirs
"""


def seed(aws: Any, canary: str = "CANARY") -> None:
    for i in range(5):
        aws.create(f"app/plain/s{i}", f"{canary}-plain-{i}")
    aws.create("app/json", json.dumps({"host": "h", "password": f"{canary}-json"}))
    aws.create("app/broken", f"{canary}-not-json")
    aws.create("app/theirs", f"{canary}-theirs")
    aws.create("dr/theirs", f"{canary}-foreign", "us-west-2")


def put_metric_bodies(proxy) -> list[bytes]:
    return [b for name, b in proxy.bodies if name.endswith("PutMetricData")]


def test_one_put_metric_data_per_run_and_readable_back(aws, proxy, write_manifest, run_cli):
    # GIVEN a run with creates, a failure and a conflict
    seed(aws)
    path = write_manifest(manifest_text())
    proxy.record_bodies = True
    code, report, _ = run_cli("run", str(path), "--metrics-sink", "cloudwatch")
    assert code == 1
    # THEN exactly one PutMetricData call carried the whole batch
    assert proxy.calls["cloudwatch.PutMetricData"] == 1
    assert report["api_calls"]["cloudwatch.PutMetricData"] == 1
    # AND the metrics read back from CloudWatch
    cw = aws.client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)

    def total(name: str, **dims: str) -> float:
        r = cw.get_metric_statistics(Namespace="TestNS", MetricName=name, StartTime=now - dt.timedelta(hours=1),
                                     EndTime=now + dt.timedelta(hours=1), Period=3600, Statistics=["Sum"],
                                     Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()])
        return sum(p["Sum"] for p in r["Datapoints"])

    route = {"DestRegion": "us-west-2", "Environment": "test", "SourceRegion": "us-east-1"}
    assert total("ReplicationSuccess", **route, TransformMode="none") == 5
    assert total("ReplicationSuccess", **route, TransformMode="json") == 1
    assert total("DriftDetected", **route) == 6
    assert total("Conflict", **route) == 1
    assert total("ReplicationFailure", **route, ErrorType="TransformError") == 1
    # the run totals the alarms watch: no dimensions at all (moto cannot filter on "no dimensions")
    bare = {m["MetricName"] for m in cw.list_metrics(Namespace="TestNS")["Metrics"] if not m["Dimensions"]}
    assert {"ReplicationFailure", "Conflict", "DriftDetected"} <= bare
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="TestNS")["Metrics"]}
    assert {"ReplicationSuccess", "ReplicationFailure", "DriftDetected", "Conflict", "RunDuration", "SecretSize",
            "ReplicationDuration", "TransformationDuration", "TransformationRulesCount"} <= names
    assert names <= SPEC_NAMES
    dims = {d["Name"] for m in cw.list_metrics(Namespace="TestNS")["Metrics"] for d in m["Dimensions"]}
    assert dims <= SPEC_DIMENSIONS


def test_metrics_failure_never_fails_the_run(aws, proxy, write_manifest, run_cli):
    aws.create("app/plain/s0", "v")
    path = write_manifest(manifest_text())
    proxy.faults.deny["PutMetricData"] = (500, "InternalFailure", "boom")
    code, report, err = run_cli("run", str(path), "--metrics-sink", "cloudwatch", "--select", "plain")
    assert code == 0 and report["totals"]["create"] == 1
    assert "metrics not published" in err


def test_emf_goes_to_stderr_and_matches_the_spec(aws, proxy, write_manifest, run_cli):
    seed(aws)
    path = write_manifest(manifest_text(sink="emf"))
    code, report, err = run_cli("run", str(path), "--metrics-sink", "emf")
    assert code == 1 and isinstance(report, dict)  # stdout is still exactly one JSON report
    docs = [json.loads(line) for line in err.splitlines() if line.startswith('{"_aws"')]
    assert docs
    seen = set()
    for doc in docs:
        meta = doc["_aws"]["CloudWatchMetrics"][0]
        assert meta["Namespace"] == "TestNS" and isinstance(doc["_aws"]["Timestamp"], int)
        for dim in meta["Dimensions"][0]:
            assert dim in doc and dim in SPEC_DIMENSIONS
        for m in meta["Metrics"]:
            assert m["Name"] in doc and m["Unit"] in ("Count", "Milliseconds", "Bytes")
            seen.add(m["Name"])
    assert {"ReplicationSuccess", "ReplicationFailure", "Conflict", "RunDuration"} <= seen
    assert proxy.calls["cloudwatch.PutMetricData"] == 0


def test_split_respects_cloudwatch_limits():
    batch = Batch()
    for i in range(2500):
        batch.add("ReplicationDuration", float(i % 400), "Milliseconds", DestRegion=f"r{i % 1200}")
    datums = batch.datums({})
    chunks = split(datums)
    assert len(chunks) == 2 and all(len(c) <= MAX_METRICS_PER_REQUEST for c in chunks)
    assert all(len(json.dumps(c)) < 1_000_000 for c in chunks)
    many = Batch()
    for i in range(1000):
        many.add("SecretSize", float(i), "Bytes")
    (datum,) = many.datums({})
    assert "StatisticValues" in datum and datum["StatisticValues"]["SampleCount"] == 1000


def test_emf_documents_hold_at_most_100_values():
    batch = Batch()
    for i in range(250):
        batch.add("SecretSize", float(i), "Bytes", DestRegion="x")
    docs = emf_documents(batch, MetricsSettings(), 0)
    assert [len(d["SecretSize"]) for d in docs] == [100, 100, 50]


def test_secret_names_stay_out_of_dimensions_unless_asked():
    report = Report(mode="run", started_at="", run_id="r")
    report.items = [ItemResult(mapping="prod/db/password", source="arn", dest_name="dr/db/password",
                               dest_region="us-west-2", dest_account="1", action="create", reason="",
                               source_region="us-east-1")]
    from reconciler.output.metrics import build

    def values(settings: MetricsSettings) -> str:
        return json.dumps(build(report, settings).datums(settings.dimensions))

    assert "password" not in values(MetricsSettings())
    assert "prod/db/password" in values(MetricsSettings(include_secret_names=True))


# --- logs -----------------------------------------------------------------------------------------


def test_logs_are_json_lines_with_run_id_and_action(aws, proxy, write_manifest, run_cli):
    seed(aws)
    path = write_manifest(manifest_text())
    _, _, err = run_cli("run", str(path), "--log-level", "INFO")
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{") and '"_aws"' not in line]
    items = [r for r in lines if r["message"] == "item"]
    assert {r["action"] for r in items} == {"create", "failed", "conflict"}
    assert all({"timestamp", "level", "run_id", "mapping", "action"} <= set(r) for r in items)
    summary = [r for r in lines if r["message"] == "run finished"]
    assert len(summary) == 1 and summary[0]["totals"]["create"] == 6


# --- canaries: no value anywhere ------------------------------------------------------------------


def test_canary_values_never_leave_the_secrets(aws, proxy, write_manifest, run_cli, caplog):
    canary = "CANARY-9d2f-7e61"
    seed(aws, canary)
    path = write_manifest(manifest_text(extra=", include_secret_names: true"))
    proxy.record_bodies = True
    outputs = []
    for args in (["plan"], ["plan", "--diff"], ["run", "--log-level", "DEBUG", "--metrics-sink", "cloudwatch"],
                 ["run", "--log-level", "DEBUG", "--metrics-sink", "emf"], ["run", "--format", "text"]):
        aws.put("app/json", json.dumps({"host": "h2", "password": f"{canary}-json-rotated"}))
        _, out, err = run_cli(args[0], str(path), *args[1:])
        outputs += [json.dumps(out) if not isinstance(out, str) else out, err]
    # failures too: throttled writes and an unreadable source
    proxy.faults.deny["PutSecretValue"] = (400, "ThrottlingException", "Rate exceeded")
    aws.put("app/plain/s1", f"{canary}-rotated")
    _, out, err = run_cli("run", str(path), "--log-level", "DEBUG")
    outputs += [json.dumps(out), err]
    assert any("ThrottlingException" in o for o in outputs)
    metric_payloads = [b.decode("utf-8", "replace") for b in put_metric_bodies(proxy)]
    assert metric_payloads
    blob = "\n".join(outputs + metric_payloads + [r.getMessage() + json.dumps(r.__dict__, default=str)
                                                  for r in caplog.records])
    assert canary not in blob
    # and nothing guessable from a value: no hash of one either
    import hashlib

    for value in (f"{canary}-plain-0", f"{canary}-not-json"):
        for algo in ("md5", "sha1", "sha256"):
            assert hashlib.new(algo, value.encode()).hexdigest() not in blob


# --- Lambda ---------------------------------------------------------------------------------------


class FakeContext:
    def __init__(self, remaining_ms: int) -> None:
        self.end = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.end


def scheduler_event(**input_: Any) -> dict[str, Any]:
    # EventBridge Scheduler delivers the target's Input JSON as the event itself
    return input_


@pytest.fixture
def bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="reconciler-manifests")
    return s3


@pytest.fixture
def trusted_events(monkeypatch):
    """These tests name the manifest in the event: only a function that trusts its events may."""
    monkeypatch.setenv("ALLOW_EVENT_MANIFEST", "true")


def test_lambda_runs_a_manifest_from_s3(aws, proxy, bucket, trusted_events):
    from reconciler.lambda_handler import handler

    aws.create("app/plain/s0", "v0")
    text = manifest_text(sink="none").split("  - id: json")[0]
    bucket.put_object(Bucket="reconciler-manifests", Key="m.yaml", Body=text.encode())
    result = handler(scheduler_event(manifest="s3://reconciler-manifests/m.yaml"), FakeContext(300_000))
    assert result["totals"]["create"] == 1 and result["exit_code"] == 0
    assert aws.value("dr/plain/s0", "us-west-2") == "v0"
    proxy.clock.advance(proxy.faults.list_lag)  # a later run, past ListSecrets' lag (AWS mode)
    result = handler(scheduler_event(manifest="s3://reconciler-manifests/m.yaml", mode="plan"), FakeContext(300_000))
    assert result["totals"]["in_sync"] == 1


def test_lambda_inline_manifest_shard_and_env_fallback(aws, proxy, bucket, monkeypatch, trusted_events):
    import yaml

    from reconciler.lambda_handler import handler

    for i in range(6):
        aws.create(f"app/plain/s{i}", f"v{i}")
    text = manifest_text(sink="none").split("  - id: json")[0]
    inline = yaml.safe_load(text)
    seen = 0
    for k in (1, 2):
        seen += handler({"manifest": inline, "shard": f"{k}/2", "select": ["plain"]}, FakeContext(300_000))[
            "totals"]["create"]
    assert seen == 6
    bucket.put_object(Bucket="reconciler-manifests", Key="env.yaml", Body=text.encode())
    monkeypatch.setenv("MANIFEST_URI", "s3://reconciler-manifests/env.yaml")
    proxy.clock.advance(proxy.faults.list_lag)  # a later run, past ListSecrets' lag (AWS mode)
    assert handler({}, FakeContext(300_000))["totals"]["in_sync"] == 6


def test_lambda_raises_on_conflict_and_on_deferral(aws, proxy, bucket, trusted_events):
    from reconciler.lambda_handler import RunNotConverged, handler

    seed(aws)
    inline = __import__("yaml").safe_load(manifest_text(sink="none"))
    with pytest.raises(RunNotConverged) as exc:
        handler({"manifest": inline, "select": ["theirs"]}, FakeContext(300_000))
    assert json.loads(str(exc.value))["totals"]["conflict"] == 1
    # a context with little time left: nothing can start, everything is deferred
    proxy.faults.latency = 0.3
    with pytest.raises(RunNotConverged) as exc:
        handler({"manifest": inline, "select": ["plain"]}, FakeContext(1_000))
    totals = json.loads(str(exc.value))["totals"]
    assert totals["deferred"] >= 1 and totals["failed"] == 0


def change_event(name: str, secret_id: str, region: str = "us-east-1") -> dict[str, Any]:
    if name == "RotationSucceeded":
        detail = {"eventName": name, "awsRegion": region, "additionalEventData": {"SecretId": secret_id}}
        kind = "AWS Service Event via CloudTrail"
    else:
        detail = {"eventName": name, "awsRegion": region, "eventSource": "secretsmanager.amazonaws.com",
                  "requestParameters": {"secretId": secret_id}}
        kind = "AWS API Call via CloudTrail"
    return {"version": "0", "source": "aws.secretsmanager", "detail-type": kind, "region": region, "detail": detail}


def test_lambda_change_event_reconciles_only_the_named_source(aws, proxy, bucket, monkeypatch):
    from reconciler.lambda_handler import handler

    for i in range(3):
        aws.create(f"app/plain/s{i}", f"v{i}")
    arn = aws.create("app/json", '{"host": "h"}')["ARN"]
    text = manifest_text(sink="none").split("  - id: broken")[0]
    bucket.put_object(Bucket="reconciler-manifests", Key="m.yaml", Body=text.encode())
    monkeypatch.setenv("MANIFEST_URI", "s3://reconciler-manifests/m.yaml")
    result = handler(change_event("PutSecretValue", "app/plain/s1"), FakeContext(60_000))
    assert result["totals"]["create"] == 1
    assert aws.exists("dr/plain/s1", "us-west-2") and not aws.exists("dr/plain/s0", "us-west-2")
    result = handler(change_event("RotationSucceeded", arn), FakeContext(60_000))
    assert result["totals"]["create"] == 1 and aws.exists("dr/json", "us-west-2")
    ignored = handler(change_event("DeleteSecret", "app/plain/s2"), FakeContext(60_000))
    assert ignored["totals"]["create"] == 0 and "ignored" in ignored
    assert handler(change_event("PutSecretValue", "app/plain/s2", "eu-west-1"), FakeContext(60_000))[
        "totals"]["create"] == 0


def test_lambda_cold_import_is_small():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import reconciler.lambda_handler"],
                         capture_output=True, text=True).stderr
    heavy = [line for line in out.splitlines()
             if any(m in line for m in ("aioboto3", "botocore", "pydantic", "rich", "regex", "jsonpath"))]
    assert heavy == []


# --- text output never reads markup; json output is always one report ----------------------------


MARKUP_MANIFEST = """
version: 1
settings: {metrics: {sink: none}}
defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
mappings:
  - {id: cfg, source: app/cfg, destination: dr/cfg,
     transform: [{json: {"$['allow[/admin]']": {find: unused, replace: unused}}}]}  # names the key for --diff
  - {id: theirs, source: app/theirs, destination: dr/theirs}
"""


def test_text_format_shows_markup_like_keys_and_owner_tags_literally(aws, proxy, write_manifest, run_cli):
    # GIVEN (issue 8 item 9) a JSON key "allow[/admin]" that --diff names, and a foreign owner tag "team[/x]"
    aws.create("app/cfg", json.dumps({"allow[/admin]": "a", "x": 1}))
    aws.create("app/theirs", "v")
    aws.create("dr/theirs", "v", "us-west-2", Tags=[{"Key": "reconciler:owner", "Value": "team[/x]"}])
    path = write_manifest(MARKUP_MANIFEST)
    code, out, _ = run_cli("run", str(path), "--format", "text")
    assert code == 1 and "team[/x]" in out  # the conflict's reason, in full
    aws.put("app/cfg", json.dumps({"allow[/admin]": "b", "x": 1}))
    # WHEN plan --diff renders it as text THEN it is shown literally, and the run reports as usual
    code, out, err = run_cli("plan", str(path), "--diff", "--format", "text")
    assert code == 1, err
    assert "$['allow[/admin]']" in out and "team[/x]" in out and "Traceback" not in err
    assert out.rstrip().splitlines()[-1] == "orphans: 0, deletions: 0"


def test_deadline_nan_is_a_usage_error_in_a_real_process(tmp_path):
    import subprocess
    import sys

    for value in ("nan", "inf", "-1", "0", "abc"):
        proc = subprocess.run([sys.executable, "-m", "reconciler", "plan", str(tmp_path / "m.yaml"),
                               "--deadline", value], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, value
        assert "--deadline" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""


def test_json_format_prints_one_report_for_an_invalid_manifest(write_manifest, run_cli):
    path = write_manifest("version: 1\nmappings: [{source: a}]\n")
    for mode in ("plan", "run"):
        code, report, err = run_cli(mode, str(path))
        assert code == 2 and "error:" in err
        assert isinstance(report, dict) and report["mode"] == mode and report["items"] == []
        assert [e["type"] for e in report["errors"]] == ["ManifestError"]


def test_json_format_prints_one_report_when_the_run_crashes(aws, proxy, write_manifest, run_cli, monkeypatch):
    import reconciler.engine

    async def crash(*_: Any, **__: Any) -> Any:
        raise RuntimeError("an unexpected bug quoting CANARY-value")

    monkeypatch.setattr(reconciler.engine, "reconcile", crash, raising=False)  # run_once imports it from there
    path = write_manifest(MARKUP_MANIFEST)
    code, report, err = run_cli("run", str(path))
    assert code == 1 and isinstance(report, dict)
    assert [e["type"] for e in report["errors"]] == ["RuntimeError"]
    assert "CANARY" not in json.dumps(report) + err  # a library's message is not ours to repeat
