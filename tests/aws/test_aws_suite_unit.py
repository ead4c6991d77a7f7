"""The conformance suite's own parts: the cost it states, the policy it runs under, its cleanup,
its recording (no values), and the fault proxy's AWS mode against the reference recording."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from policy_eval import evaluate

from aws.cleanup import parse_age
from aws.conformance_cost import SECRET_MONTH_USD, estimate
from aws.conformance_policy import LIST_ACTIONS, PARAMETER_ACTIONS, SECRET_ACTIONS, conformance_policy
from aws.conformance_target import Target, owner_for, run_of, sweep
from aws.conftest import Case

REFERENCE = json.loads((Path(__file__).parent / "recordings" / "aws-reference.json").read_text())
ACCOUNT = "123456789012"
INSIDE = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:reconciler-conformance/20261206T000000-abcdef/x-AbCdEf"
OUTSIDE = (f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db/password-AbCdEf",
           f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:reconciler-conformance-x/y-AbCdEf",
           f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:reconciler-conformanceX-AbCdEf")


# --- cost -----------------------------------------------------------------------------------------


def test_cost_prorates_secret_hours_and_charges_api_calls() -> None:
    # GIVEN 730 secrets for one hour (= one secret-month) and 20,000 calls
    est = estimate(secrets=730, api_calls=20_000, hours=1)
    # THEN $0.40 for storage plus $0.10 for the calls
    assert est.dollars == pytest.approx(SECRET_MONTH_USD + 0.10)
    assert "730 secrets" in est.line() and "$0.5000" in est.line()


def test_cost_bills_a_started_hour_and_nothing_without_secrets() -> None:
    assert estimate(secrets=10, api_calls=0, hours=0.1).dollars == pytest.approx(10 * 0.40 / 730)
    assert estimate(secrets=10, api_calls=0, hours=1.5).dollars == pytest.approx(2 * 10 * 0.40 / 730)
    assert estimate(secrets=0, api_calls=10_000, hours=5).dollars == pytest.approx(0.05)
    with pytest.raises(ValueError):
        estimate(secrets=-1, api_calls=0)


# --- policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                                    "secretsmanager:DeleteSecret", "secretsmanager:CreateSecret",
                                    "secretsmanager:UpdateSecretVersionStage", "secretsmanager:TagResource"])
@pytest.mark.parametrize("arn", OUTSIDE)
def test_policy_cannot_reach_a_secret_outside_the_prefix(action: str, arn: str) -> None:
    assert evaluate([conformance_policy()], action, arn) != "Allow"


@pytest.mark.parametrize("action", ["ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameters",
                                    "ssm:GetParameters"])
def test_policy_cannot_reach_a_parameter_outside_the_prefix(action: str) -> None:
    for arn in (f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/prod/db",
                f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/reconciler-conformance-x/y"):
        assert evaluate([conformance_policy()], action, arn) != "Allow"


def test_policy_allows_everything_the_suite_does_inside_the_prefix() -> None:
    policy = conformance_policy()
    param = f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/reconciler-conformance/20261206T000000-abcdef/p"
    assert all(evaluate([policy], a, INSIDE) == "Allow" for a in SECRET_ACTIONS)
    assert all(evaluate([policy], a, param) == "Allow" for a in PARAMETER_ACTIONS)
    assert all(evaluate([policy], a, "*") == "Allow" for a in LIST_ACTIONS)
    # and nothing beyond: no resource policy, no rotation, no KMS administration
    for action in ("secretsmanager:PutResourcePolicy", "secretsmanager:RotateSecret", "kms:CreateKey", "iam:*"):
        assert evaluate([policy], action, INSIDE) != "Allow"


# --- cleanup and the run tag ----------------------------------------------------------------------


def test_older_than_parses_minutes_hours_days_and_refuses_the_rest() -> None:
    assert parse_age("30m") == dt.timedelta(minutes=30) and parse_age("2d") == dt.timedelta(days=2)
    with pytest.raises(Exception, match="not like"):
        parse_age("1 hour")


def test_run_is_read_from_the_run_tag_or_from_the_owner_the_reconciler_wrote() -> None:
    assert run_of({"reconciler:test-run": "20261206T000000-abcdef"}) == "20261206T000000-abcdef"
    assert run_of({"reconciler:owner": owner_for("20261206T000000-abcdef", "prune-x")}) == "20261206T000000-abcdef"
    assert run_of({"reconciler:owner": "secrets-reconciler"}) is None and run_of({}) is None


def test_sweep_deletes_only_old_runs_under_the_prefix(target: Target, case: Case) -> None:
    # GIVEN an old run's leftover, a fresh run's secret, and a tagged secret outside the prefix
    if target.real:
        pytest.skip("writes outside the prefix, which the suite's policy forbids on a real account")
    sm = case.sm()
    old, fresh = "20200101T000000-aaaaaa", "29990101T000000-bbbbbb"
    sm.create_secret(Name=f"reconciler-conformance/{old}/left", SecretString="x",
                     Tags=[{"Key": "reconciler:test-run", "Value": old}])
    sm.create_secret(Name=f"reconciler-conformance/{fresh}/new", SecretString="x",
                     Tags=[{"Key": "reconciler:test-run", "Value": fresh}])
    sm.create_secret(Name=f"elsewhere/{target.run_id}", SecretString="x",
                     Tags=[{"Key": "reconciler:test-run", "Value": old}])
    try:
        # WHEN cleanup runs with --older-than 1h
        gone = sweep(target, older_than=dt.timedelta(hours=1))
        # THEN only the old run's secret under the prefix is force-deleted
        assert [g.split(":secret:")[1] for g in gone if ":secret:" in g] == [f"reconciler-conformance/{old}/left"]
    finally:
        for n in (f"reconciler-conformance/{fresh}/new", f"elsewhere/{target.run_id}"):
            sm.delete_secret(SecretId=n, ForceDeleteWithoutRecovery=True)


def test_a_recording_refuses_any_value_the_suite_wrote(target: Target) -> None:
    # GIVEN a value the suite wrote (a canary)
    target.written.add("canary-7f3a9c")
    # THEN a shape carrying it is refused, and the message does not repeat it
    with pytest.raises(ValueError) as exc:
        target.record("leak", {"message": "value canary-7f3a9c seen"})
    assert "canary-7f3a9c" not in str(exc.value) and "leak" not in target.recording


# --- the fault proxy's AWS mode against what AWS answered ------------------------------------------


def _through_proxy(case: Case) -> Any:
    if case.proxy is None:
        pytest.skip("checks the fault proxy; on real AWS the behaviour tests record the answers")
    return boto3.client("secretsmanager", region_name=case.src_region, endpoint_url=case.proxy.url)


def _mismatches(entry: dict[str, Any], exc: ClientError) -> list[str]:
    err, status = exc.response["Error"], exc.response["ResponseMetadata"]["HTTPStatusCode"]
    out = []
    if err["Code"] != entry["error_code"]:
        out.append(f"code {err['Code']} (AWS: {entry['error_code']})")
    if not re.search(entry["message_pattern"], err["Message"]):
        out.append(f"message without {entry['message_pattern']!r}")
    if status != entry["status"]:
        out.append(f"HTTP {status} (AWS: {entry['status']})")
    return out


def _matches(entry: dict[str, Any], exc: ClientError, op: str) -> None:
    """Pass when the proxy answers as AWS did; xfail, naming each difference, where its AWS mode
    does not cover the point yet (issue 16 part 1 adds them)."""
    gaps = _mismatches(entry, exc)
    if gaps:
        pytest.xfail(f"fault proxy AWS mode, {op}: " + "; ".join(gaps))


@pytest.mark.parametrize("op", ["PutSecretValue", "UpdateSecret", "UpdateSecretVersionStage", "TagResource",
                                "UntagResource"])
def test_proxy_refuses_writes_to_a_secret_marked_for_deletion_as_aws_does(case: Case, op: str) -> None:
    # GIVEN a secret scheduled for deletion
    sm = _through_proxy(case)
    case.create("deleted/s", "canary-deleted")
    case.sm().delete_secret(SecretId=case.name("deleted/s"), RecoveryWindowInDays=7)
    calls = {"PutSecretValue": lambda i: sm.put_secret_value(SecretId=i, SecretString="y"),
             "UpdateSecret": lambda i: sm.update_secret(SecretId=i, Description="d"),
             "UpdateSecretVersionStage": lambda i: sm.update_secret_version_stage(
                 SecretId=i, VersionStage="X", MoveToVersionId=case.current("deleted/s")),
             "TagResource": lambda i: sm.tag_resource(SecretId=i, Tags=[{"Key": "k", "Value": "v"}]),
             "UntagResource": lambda i: sm.untag_resource(SecretId=i, TagKeys=["k"])}
    entry = REFERENCE["behaviours"]["write_marked_for_deletion"]
    assert op in entry["applies_to"]
    # WHEN the operation is sent through the proxy in AWS mode
    try:
        calls[op](case.name("deleted/s"))
    except ClientError as exc:
        # THEN it answers as AWS answered (code, message, status)
        _matches(entry, exc, op)
        return
    pytest.xfail(f"the fault proxy's AWS mode lets {op} through on a secret marked for deletion (issue 16 part 1)")


def test_proxy_refuses_create_over_a_name_scheduled_for_deletion_as_aws_does(case: Case) -> None:
    sm = _through_proxy(case)
    case.create("deleted/c", "canary-create")
    case.sm().delete_secret(SecretId=case.name("deleted/c"), RecoveryWindowInDays=7)
    try:
        sm.create_secret(Name=case.name("deleted/c"), SecretString="y")
    except ClientError as exc:
        _matches(REFERENCE["behaviours"]["create_secret_scheduled_for_deletion"], exc, "CreateSecret")
        return
    pytest.xfail("the fault proxy's AWS mode lets CreateSecret reuse a name scheduled for deletion (issue 16 part 1)")


def test_proxy_lists_and_describes_with_the_fields_aws_answers(case: Case) -> None:
    sm = _through_proxy(case)
    # GIVEN a listed, unreplicated secret carries the fields AWS lists, and no PrimaryRegion
    case.create("listed", "canary-listed")
    ref = REFERENCE["behaviours"]["list_secrets_entry"]
    case.wait_listed(["listed"])  # ListSecrets lags on AWS, and in the proxy's AWS mode
    pages = sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [case.name("listed")]}])
    [entry] = [s for page in pages for s in page["SecretList"]]  # AWS may page short, even empty
    assert set(ref["fields_present"]) <= set(entry) and not set(ref["fields_absent"]) & set(entry)
    deleted = REFERENCE["behaviours"]["describe_secret_deleted"]
    case.sm().delete_secret(SecretId=case.name("listed"), RecoveryWindowInDays=7)
    assert set(deleted["fields_present"]) <= set(sm.describe_secret(SecretId=case.name("listed")))


def test_proxy_answers_a_missing_secret_as_aws_does(case: Case) -> None:
    sm = _through_proxy(case)
    with pytest.raises(ClientError) as exc:
        sm.get_secret_value(SecretId=case.name("missing"))
    _matches(REFERENCE["behaviours"]["get_secret_value_not_found"], exc.value, "GetSecretValue")


def test_reference_recording_cites_an_aws_validated_source_for_every_entry() -> None:
    for name, entry in REFERENCE["behaviours"].items():
        assert entry["aws_validated"] and entry["source"].startswith("github:localstack/localstack@"), name
        assert entry["snapshot"].startswith("tests/aws/services/secretsmanager/"), name
    assert all(e["source"] for e in REFERENCE["not_covered"].values())


SUITE_LIKE_MANIFEST = """\
version: 1
settings: {owner: reconciler-conformance-x, prune: {enabled: true}}
defaults:
  source: {region: us-east-1}
  destination: {region: us-west-2}
mappings:
  - {id: a, source: reconciler-conformance/r/src/a, destination: reconciler-conformance/r/dst/a,
     on_source_deleted: delete}
  - {id: p, source: {name: /reconciler-conformance/r/src/p, service: ssm}, destination: reconciler-conformance/r/dst/p}
  - {id: s, source: reconciler-conformance/r/src/s, destination: {name: /reconciler-conformance/r/dst/s, service: ssm}}
"""
# Not the suite's to grant: the metrics sink is off in the suite (--metrics-sink none), and the
# AWS managed keys (aws/secretsmanager, aws/ssm) need no caller KMS permission.
NOT_NEEDED = ("cloudwatch:", "kms:", "secretsmanager:ForceDeleteWithoutRecovery")


def test_policy_covers_every_action_the_reconciler_asks_for_a_suite_like_manifest(write_manifest, run_cli) -> None:
    # GIVEN what `reconciler iam-policy` says a manifest like the suite's needs
    code, out, _ = run_cli("iam-policy", str(write_manifest(SUITE_LIKE_MANIFEST)))
    text = out if isinstance(out, str) else json.dumps(out)
    assert code == 0, text
    wanted = {a for a in re.findall(r'"((?:secretsmanager|ssm|sts|cloudwatch|kms):[A-Z][A-Za-z]+)"', text)
              if not a.startswith(NOT_NEEDED)}
    assert "secretsmanager:PutSecretValue" in wanted and "ssm:PutParameter" in wanted
    # THEN the conformance policy allows each of them inside the prefix (ForceDeleteWithoutRecovery is
    # a condition key there, not an action)
    policy = conformance_policy()
    for action in sorted(wanted):
        arn = INSIDE if action.startswith("secretsmanager:") else \
            f"arn:aws:ssm:us-west-2:{ACCOUNT}:parameter/reconciler-conformance/r/dst/s"
        if action in LIST_ACTIONS:
            arn = "*"
        assert evaluate([policy], action, arn) == "Allow", action


def test_cleanup_command_deletes_a_crashed_runs_leftovers(target: Target, case: Case, monkeypatch, capsys) -> None:
    # GIVEN a secret and a parameter left by a run that crashed before its finally-block
    if target.real:
        pytest.skip("moto only: on a real account the session's own finally-block is the test")
    crashed = "20200101T000000-cccccc"
    name = f"reconciler-conformance/{crashed}/left"
    case.sm().create_secret(Name=name, SecretString="x", Tags=[{"Key": "reconciler:test-run", "Value": crashed}])
    case.ssm().put_parameter(Name=f"/{name}", Value="x", Type="String",
                             Tags=[{"Key": "reconciler:test-run", "Value": crashed}])
    # WHEN the cleanup command runs for that run id (its boto3 session pointed at moto)
    from aws import cleanup

    monkeypatch.setattr(cleanup, "Target", lambda **kw: Target(**{**kw, "profile": None, "endpoint": target.endpoint}))
    assert cleanup.main(["--profile", "sandbox", "--region", case.src_region, "--run-id", crashed]) == 0
    # THEN both are gone, and it said so
    out = capsys.readouterr().out
    assert f"secret:{name}" in out and f"parameter:/{name}" in out
    with pytest.raises(ClientError):
        case.sm().describe_secret(SecretId=name)
