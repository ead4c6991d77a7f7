"""SPEC "Lambda trust", over HTTP (moto S3 + Secrets Manager behind the fault proxy).

Whoever can invoke the function must not choose what it reads and writes, a manifest must not
silence the alarms, and the function's own writes must not trigger it again.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ACCOUNT_A

from reconciler.lambda_handler import InvalidInvocation, RunNotConverged, handler

ROLE = f"arn:aws:iam::{ACCOUNT_A}:role/service/secrets-reconciler-fn"
OWN_SESSION = f"arn:aws:sts::{ACCOUNT_A}:assumed-role/secrets-reconciler-fn/secrets-reconciler-fn"
BUCKET = "reconciler-manifests"
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_A}:secret:"

MANIFEST = """\
version: 1
settings:
  retry: {max_attempts: 2, base_delay: 0.01, max_delay: 0.02}
  metrics: {sink: none, namespace: ManifestChosen}
defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
mappings:
  - id: app
    source: "app/*"
    destination: "dr/app/*"
  - id: my
    source: app/my
    destination: dr/my
"""


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


@pytest.fixture
def env(aws: Any, proxy: Any, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The deployed function's environment: MANIFEST_URI in S3, its role known, nothing else trusted."""
    for var in ("ALLOW_EVENT_MANIFEST", "METRICS_SINK", "METRICS_NAMESPACE", "RECONCILER_ROLE_ARN", "MANIFEST_URI"):
        monkeypatch.delenv(var, raising=False)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="m.yaml", Body=MANIFEST.encode())
    monkeypatch.setenv("MANIFEST_URI", f"s3://{BUCKET}/m.yaml")
    monkeypatch.setenv("RECONCILER_ROLE_ARN", ROLE)
    for name in ("app/s1", "app/my", "app/my-secret"):
        aws.create(name, f"value of {name}")
    proxy.calls.clear()
    return monkeypatch


def aws_calls(proxy: Any) -> int:
    return sum(proxy.calls.values())


def change(secret_id: str, *, actor: str | None = None, issuer: str | None = None,
           response: dict[str, Any] | None = None) -> dict[str, Any]:
    identity: dict[str, Any] = {"type": "AssumedRole"}
    if actor:
        identity["arn"] = actor
    if issuer:
        identity["sessionContext"] = {"sessionIssuer": {"type": "Role", "arn": issuer}}
    return {"version": "0", "source": "aws.secretsmanager", "detail-type": "AWS API Call via CloudTrail",
            "region": "us-east-1", "detail": {
                "eventName": "PutSecretValue", "awsRegion": "us-east-1", "eventType": "AwsApiCall",
                "eventSource": "secretsmanager.amazonaws.com", "userIdentity": identity,
                "requestParameters": {"secretId": secret_id}, "responseElements": response}}


# --- event.manifest ---------------------------------------------------------------------------------


def manifest_forms(tmp_path: Path) -> list[Any]:
    path = tmp_path / "evil.yaml"
    path.write_text(MANIFEST)
    return [f"s3://{BUCKET}/m.yaml", yaml.safe_load(MANIFEST), str(path)]


@pytest.mark.parametrize("allow", [None, "", "false", "1", "yes", "TRUE-ish"])
def test_an_event_that_names_a_manifest_is_refused_unless_trusted(env, aws, proxy, tmp_path, allow):
    # GIVEN a function whose environment does not trust events (ALLOW_EVENT_MANIFEST is not "true")
    if allow is not None:
        env.setenv("ALLOW_EVENT_MANIFEST", allow)
    for form in manifest_forms(tmp_path):
        # WHEN an event names a manifest (S3, inline, a path)
        with pytest.raises(InvalidInvocation, match="ALLOW_EVENT_MANIFEST=true") as exc:
            handler({"manifest": form}, Context())
        # THEN it is refused before any AWS call, and the message names the field
        assert "'manifest' is refused" in str(exc.value)
    assert aws_calls(proxy) == 0
    assert aws.names("us-west-2") == []


@pytest.mark.parametrize("allow", ["true", "True", " TRUE "])
def test_a_trusting_function_honours_the_event_manifest(env, aws, proxy, allow):
    env.setenv("ALLOW_EVENT_MANIFEST", allow)
    inline = yaml.safe_load(MANIFEST)
    inline["mappings"] = inline["mappings"][1:]  # only "my": proves the event's manifest, not MANIFEST_URI, ran
    result = handler({"manifest": inline}, Context())
    assert result["totals"]["create"] == 1 and aws.names("us-west-2") == ["dr/my"]


def test_without_an_event_manifest_the_environment_one_runs(env, aws, proxy):
    result = handler({"mode": "run"}, Context())
    assert result["totals"]["create"] == 4 and result["exit_code"] == 0


# --- metrics from the environment -------------------------------------------------------------------


def namespaces(aws: Any) -> set[str]:
    """Namespaces with metrics, but AWS's own (moto's S3 publishes AWS/S3)."""
    return {m["Namespace"] for m in aws.client("cloudwatch").list_metrics()["Metrics"]
            if not m["Namespace"].startswith("AWS/")}


def test_metrics_sink_and_namespace_come_from_the_environment(env, aws, proxy):
    # GIVEN a manifest that turns metrics off and picks its own namespace
    env.setenv("METRICS_SINK", "cloudwatch")
    env.setenv("METRICS_NAMESPACE", "ReconcilerAlarms")
    # WHEN the function runs it
    handler({}, Context())
    # THEN the one batch went to the environment's namespace: the alarms still see the run
    assert proxy.calls["cloudwatch.PutMetricData"] == 1
    assert namespaces(aws) == {"ReconcilerAlarms"}
    cw = aws.client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc)
    stats = cw.get_metric_statistics(Namespace="ReconcilerAlarms", MetricName="RunDuration", Period=3600,
                                     StartTime=now - dt.timedelta(hours=1), EndTime=now + dt.timedelta(hours=1),
                                     Statistics=["SampleCount"], Dimensions=[{"Name": "Mode", "Value": "run"}])
    assert sum(p["SampleCount"] for p in stats["Datapoints"]) == 1


def test_the_environment_namespace_wins_over_the_manifest_sink_settings(env, aws, proxy):
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key="m.yaml", Body=MANIFEST.replace("sink: none", "sink: cloudwatch").encode())
    env.setenv("METRICS_NAMESPACE", "ReconcilerAlarms")
    handler({}, Context())
    assert namespaces(aws) == {"ReconcilerAlarms"}


@pytest.mark.parametrize(("var", "value"), [("METRICS_SINK", "stdout"), ("METRICS_NAMESPACE", "AWS/Lambda"),
                                            ("METRICS_NAMESPACE", "x" * 256), ("LOG_LEVEL", "verbose")])
def test_a_bad_environment_is_refused(env, proxy, var, value):
    env.setenv(var, value)
    with pytest.raises(InvalidInvocation, match=var):
        handler({}, Context())
    assert aws_calls(proxy) == 0


# --- the function's own changes ---------------------------------------------------------------------


@pytest.mark.parametrize(("actor", "issuer"), [(OWN_SESSION, ROLE), (OWN_SESSION, None), (None, ROLE),
                                               (f"arn:aws:sts::{ACCOUNT_A}:assumed-role/secrets-reconciler-fn/x",
                                                None)])
def test_a_change_made_by_the_functions_own_role_is_ignored(env, aws, proxy, actor, issuer):
    # WHEN the function's own role (or a session of it) changed a source
    result = handler(change("app/s1", actor=actor, issuer=issuer), Context())
    # THEN nothing runs: no manifest read, no AWS call, nothing written
    assert "own role" in result["ignored"] and result["exit_code"] == 0
    assert aws_calls(proxy) == 0 and aws.names("us-west-2") == []


def test_a_change_by_someone_else_is_reconciled(env, aws, proxy):
    other = f"arn:aws:sts::{ACCOUNT_A}:assumed-role/secrets-reconciler-fn-admin/alice"
    result = handler(change("app/s1", actor=other, issuer=f"arn:aws:iam::{ACCOUNT_A}:role/secrets-reconciler-fn-admin"),
                     Context())
    assert "ignored" not in result and result["totals"]["create"] == 1
    assert aws.names("us-west-2") == ["dr/app/s1"]


def test_without_a_role_in_the_environment_no_change_is_taken_for_our_own(env, aws, proxy):
    env.delenv("RECONCILER_ROLE_ARN")
    result = handler(change("app/s1", actor=OWN_SESSION, issuer=ROLE), Context())
    assert result["totals"]["create"] == 1


# --- change events name the right secret ------------------------------------------------------------


def test_a_partial_arn_names_app_my_secret_never_app_my(env, aws, proxy):
    # GIVEN sources app/my and app/my-secret; a change event that names app/my-secret by partial ARN
    result = handler(change(SECRET_ARN + "app/my-secret"), Context())
    # THEN only app/my-secret is reconciled
    assert result["totals"]["create"] == 1
    assert aws.names("us-west-2") == ["dr/app/my-secret"]


def test_the_full_arn_in_the_response_is_preferred(env, aws, proxy):
    full = aws.describe("app/my-secret")["ARN"]
    result = handler(change(SECRET_ARN + "app/my-secret", response={"arn": full}), Context())
    assert result["totals"]["create"] == 1 and aws.names("us-west-2") == ["dr/app/my-secret"]
    # and a full ARN of app/my (its own suffix) names app/my: two mappings read it
    full_my = aws.describe("app/my")["ARN"]
    result = handler(change(full_my, response={"arn": full_my}), Context())
    assert result["totals"]["create"] == 2
    assert aws.names("us-west-2") == ["dr/app/my", "dr/app/my-secret", "dr/my"]


def test_a_partial_arn_reaches_a_mapping_whose_source_is_a_full_arn(env, aws, proxy):
    # GIVEN a mapping that names its source by full ARN, and an event naming it by partial ARN only
    full = aws.describe("app/my-secret")["ARN"]
    text = MANIFEST.split("mappings:")[0] + f"mappings:\n  - {{id: byarn, source: '{full}', destination: dr/byarn}}\n"
    aws.client("s3").put_object(Bucket=BUCKET, Key="m.yaml", Body=text.encode())
    result = handler(change(SECRET_ARN + "app/my-secret"), Context())
    assert result["totals"]["create"] == 1 and aws.names("us-west-2") == ["dr/byarn"]


# --- a bad event is a clear error, before any AWS call ------------------------------------------------


@pytest.mark.parametrize(("event", "message"), [
    ({"shard": "3/2"}, "shard 3/2: needs K/N with 1 <= K <= N"),
    ({"shard": "x"}, "shard takes K/N, not 'x'"),
    ({"shard": 2}, "shard takes K/N"),
    ({"mode": "apply"}, "mode must be one of run, plan"),
    ({"select": [1]}, "select must be a mapping id"),
    ({"selct": ["my"]}, "unknown key(s) 'selct'"),
])
def test_a_bad_event_is_refused_with_a_clear_message(env, proxy, event, message):
    with pytest.raises(InvalidInvocation) as exc:
        handler(event, Context())
    assert message in str(exc.value) and str(exc.value).startswith("event input:")
    assert aws_calls(proxy) == 0


def test_a_shard_in_the_event_takes_its_share(env, aws, proxy):
    seen = sum(handler({"shard": f"{k}/3"}, Context())["totals"]["create"] for k in (1, 2, 3))
    assert seen == 4 and len(aws.names("us-west-2")) == 4


def test_a_lambda_run_never_imports_rich(env, aws, proxy):
    # The Lambda bundle leaves rich out (issue 9, supply chain): a whole run must not need it.
    import os
    import subprocess
    import sys

    code = ("import sys\nfrom reconciler.lambda_handler import handler\nr = handler({}, None)\n"
            "assert r['totals']['create'] == 4, r\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'moto', 'pytest'))\n"
            "assert not loaded, loaded\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AWS_ENDPOINT_URL": proxy.url})
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- event.plan (issue 17: run --plan from the Lambda) ----------------------------------------------


def test_an_event_plan_is_refused_unless_trusted(env, aws, proxy):
    # GIVEN a function that does not trust events WHEN an event names a plan file THEN it is refused, no AWS call
    with pytest.raises(InvalidInvocation, match="'plan' is refused"):
        handler({"plan": f"s3://{BUCKET}/plan.json"}, Context())
    assert aws_calls(proxy) == 0


def test_a_trusting_function_applies_the_event_plan_exactly(env, aws, proxy, run_cli, tmp_path):
    # GIVEN a plan of MANIFEST_URI's manifest, saved to S3, and a source rotated after it was made
    env.setenv("ALLOW_EVENT_MANIFEST", "true")
    plan_path = tmp_path / "plan.json"
    code, report, _ = run_cli("plan", f"s3://{BUCKET}/m.yaml", "--out", str(plan_path))
    assert code == 3 and report["totals"]["create"] == 4
    aws.client("s3").put_object(Bucket=BUCKET, Key="plan.json", Body=plan_path.read_bytes())
    aws.put("app/my", "rotated after the plan")
    # WHEN the function is invoked with the plan
    with pytest.raises(RunNotConverged) as exc:
        handler({"plan": f"s3://{BUCKET}/plan.json", "plan_max_age": "1h"}, Context())
    # THEN the unchanged items are created; the two copies of the rotated source are not (PlanStale:
    # exit 1, raised)
    result = json.loads(str(exc.value))
    assert result["totals"]["create"] == 2 and result["totals"]["failed"] == 2
    assert "dr/my" not in aws.names("us-west-2")


@pytest.mark.parametrize("event, message", [
    ({"plan": "/tmp/plan.json"}, "s3:// URI of a plan file"),
    ({"plan_max_age": "1h"}, "plan_max_age needs plan"),
])
def test_a_bad_event_plan_is_refused(env, proxy, event, message):
    env.setenv("ALLOW_EVENT_MANIFEST", "true")
    with pytest.raises(InvalidInvocation, match=message):
        handler(event, Context())
