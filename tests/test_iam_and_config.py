"""iam-policy output and the shipped example manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler._iam import policies_for
from reconciler.manifest import load_manifest

CONFIG = Path(__file__).resolve().parent.parent / "config"


@pytest.mark.parametrize("name", ["dr-copy.yaml", "fanout.yaml"])
def test_example_manifests_validate(name, run_cli):
    code, out, _ = run_cli("validate", str(CONFIG / name))
    assert code == 0 and "valid" in out


def test_iam_policy_is_least_privilege(proxy, run_cli):
    # proxy: the default identity's account comes from STS (moto) rather than the network
    code, out, _ = run_cli("iam-policy", str(CONFIG / "fanout.yaml"))
    assert code == 0
    policies = out if isinstance(out, dict) else json.loads(out)
    role = "arn:aws:iam::222222222222:role/secrets-reconciler-writer"
    assert set(policies) == {"runner", role}
    for doc in policies.values():
        for st in doc["Statement"]:
            actions = st["Action"]
            assert all("*" not in a for a in actions), st  # no wildcard actions
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if resources == ["*"]:
                # only what AWS offers no resource-level permission for, or what a condition narrows
                assert set(actions) <= {"secretsmanager:ListSecrets", "secretsmanager:BatchGetSecretValue"} or \
                    "Condition" in st, st
            elif st["Effect"] == "Allow":
                for r in resources:
                    assert (r.startswith("arn:aws:secretsmanager:") and ":secret:shared/platform/" in r) or \
                        (r.startswith("arn:aws:secretsmanager:") and ":secret:platform/" in r) or r == role or \
                        (r.startswith("arn:aws:kms:") and "kms:ViaService" in json.dumps(st["Condition"])), r
    writes = [st for st in policies[role]["Statement"] if "secretsmanager:PutSecretValue" in st["Action"]]
    assert writes and all("secretsmanager:ResourceTag/reconciler:owner" in str(st["Condition"]) for st in writes)
    runner = policies["runner"]["Statement"]
    assert any(st["Action"] == ["sts:AssumeRole"] and st["Resource"] == [role] for st in runner)
    assert all(":secret:platform/" not in json.dumps(st) for st in runner)  # the runner never writes there


def test_iam_policy_narrows_explicit_names():
    m = load_manifest(str(CONFIG / "dr-copy.yaml"))
    doc = policies_for(m, default_account="111111111111")["runner"]
    reads = next(st for st in doc["Statement"] if st["Sid"] == "ReadSources")["Resource"]
    assert "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db/password-??????" in reads
    assert "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/services/*" in reads
    metrics = next(st for st in doc["Statement"] if st["Sid"] == "PublishMetrics")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "SecretsReplicator"}}


def test_template_passes_the_environment_the_handler_reads():
    import yaml
    from cfn_policies import _Loader

    import reconciler.lambda_handler as lh

    template = yaml.load((CONFIG / "deploy" / "template.yaml").read_text(), Loader=_Loader)
    env = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert set(env) == {lh.ENV_MANIFEST_URI, lh.ENV_LOG_LEVEL, lh.ENV_ALLOW_EVENT_MANIFEST,
                        lh.ENV_METRICS_NAMESPACE, lh.ENV_METRICS_SINK, lh.ENV_ROLE_ARN}
    assert template["Parameters"]["AllowEventManifest"]["Default"] == "false"


def test_lambda_lock_is_hash_pinned_and_leaves_rich_out():
    lock = (CONFIG / "deploy" / "requirements-lambda.txt").read_text()
    pins = [line.split()[0] for line in lock.splitlines() if line and not line[0].isspace() and line[0] != "#"]
    assert pins and all("==" in p for p in pins)
    assert lock.count("--hash=sha256:") >= len(pins)
    assert not any(p.lower().startswith("rich==") for p in pins)


# A run through the handler with rich made unimportable: the Lambda bundle leaves rich out.
_NO_RICH = """
import importlib.abc, json, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "rich" or name.startswith("rich."):
            raise ImportError("rich is not in the Lambda bundle")
sys.meta_path.insert(0, _Block())
from reconciler.lambda_handler import handler
print(json.dumps(handler({"mode": "run"})))
assert not any(m == "rich" or m.startswith("rich.") for m in sys.modules)
"""


def test_handler_runs_without_rich(aws, write_manifest, moto_url, proxy):
    import os
    import subprocess
    import sys

    aws.create("prod/norich", "v1")
    path = write_manifest("""\
        version: 1
        settings: {metrics: {sink: none}}
        mappings: [{source: {name: prod/norich, region: us-east-1}, destination: {name: dr/norich, region: us-east-1}}]
        """)
    env = {**os.environ, "MANIFEST_URI": str(path), "AWS_ENDPOINT_URL": proxy.url, "METRICS_SINK": "emf"}
    done = subprocess.run([sys.executable, "-c", _NO_RICH], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert aws.value("dr/norich") == "v1"


# --- the change-event rule: a small EventBridge pattern matcher for the operators the rule uses ---

def _matches(pattern, event):
    """EventBridge semantics for: exact values, prefix, anything-but {prefix}, exists, $or."""
    for key, want in pattern.items():
        if key == "$or":
            if not any(_matches(alt, event) for alt in want):
                return False
            continue
        if isinstance(want, dict):
            if not isinstance(event.get(key), dict) and not _only_absent(want):
                return False
            if not _matches(want, event.get(key) or {}):
                return False
            continue
        present, value = key in event, event.get(key)
        if not any(_value_matches(w, present, value) for w in want):
            return False
    return True


def _only_absent(pattern):
    return all(isinstance(w, list) and all(isinstance(x, dict) and x.get("exists") is False for x in w)
               for w in pattern.values())


def _value_matches(want, present, value):
    if not isinstance(want, dict):
        return present and value == want
    if "exists" in want:
        return present is want["exists"]
    if not present:
        return False  # every other operator needs the field
    if "prefix" in want:
        return isinstance(value, str) and value.startswith(want["prefix"])
    if "anything-but" in want:
        return not (isinstance(value, str) and value.startswith(want["anything-but"]["prefix"]))
    raise ValueError(f"operator not modelled: {want}")


def _change_rule(prefix):
    from cfn_policies import Renderer, load

    t = load("template.yaml")
    params = {"CodeBucket": "b", "CodeObjectVersion": "v1", "SourceSecretArns": "x", "DestinationSecretArns": "y",
              "ManifestDeployPrincipalArn": "arn:aws:iam::111111111111:role/deploy", "EnableChangeEvents": "true",
              "ChangeEventSourcePrefix": prefix}
    r = Renderer(t, params)
    return r, r.render(t["Resources"]["ChangeEventsRule"]["Properties"]["EventPattern"])


def _event(detail_type, detail):
    return {"source": "aws.secretsmanager", "detail-type": detail_type, "detail": detail}


_API = "AWS API Call via CloudTrail"
_SERVICE = "AWS Service Event via CloudTrail"


@pytest.mark.parametrize(("prefix", "case", "event", "fires"), [
    ("", "another principal's write", _event(_API, {
        "eventName": "PutSecretValue", "userIdentity": {"arn": "arn:aws:sts::111111111111:assumed-role/admin/me"},
        "requestParameters": {"secretId": "prod/db"}}), True),
    ("", "the function's own write", _event(_API, {
        "eventName": "PutSecretValue", "userIdentity": {"arn": "OWN/secrets-reconciler-fn"},
        "requestParameters": {"secretId": "dr/db"}}), False),
    ("", "rotation (a service event, no arn)", _event(_SERVICE, {
        "eventName": "RotationSucceeded", "userIdentity": {"invokedBy": "secretsmanager.amazonaws.com"},
        "additionalEventData": {"SecretId": "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf"}}),
     True),
    ("", "an event the reconciler does not handle", _event(_API, {
        "eventName": "GetSecretValue", "userIdentity": {"arn": "arn:aws:iam::111111111111:user/u"}}), False),
    ("prod/", "a write under the prefix, by name", _event(_API, {
        "eventName": "UpdateSecret", "userIdentity": {"arn": "arn:aws:iam::111111111111:user/u"},
        "requestParameters": {"secretId": "prod/db"}}), True),
    ("prod/", "a write under the prefix, by ARN", _event(_API, {
        "eventName": "UpdateSecret", "userIdentity": {"arn": "arn:aws:iam::111111111111:user/u"},
        "requestParameters": {"secretId": "arn:aws:secretsmanager:us-east-1:111111111111:secret:prod/db-AbCdEf"}}),
     True),
    ("prod/", "a write outside the prefix", _event(_API, {
        "eventName": "UpdateSecret", "userIdentity": {"arn": "arn:aws:iam::111111111111:user/u"},
        "requestParameters": {"secretId": "dev/db"}}), False),
    ("prod/", "the function's own write under the prefix", _event(_API, {
        "eventName": "RestoreSecret", "userIdentity": {"arn": "OWN/secrets-reconciler-fn"},
        "requestParameters": {"secretId": "prod/db"}}), False),
    ("prod/", "rotation outside the prefix", _event(_SERVICE, {
        "eventName": "RotationSucceeded", "userIdentity": {"invokedBy": "secretsmanager.amazonaws.com"},
        "additionalEventData": {"SecretId": "arn:aws:secretsmanager:us-east-1:111111111111:secret:dev/db-AbCdEf"}}),
     False),
])
def test_change_event_rule_ignores_own_writes_and_other_prefixes(prefix, case, event, fires):
    r, pattern = _change_rule(prefix)
    own = f"arn:aws:sts::111111111111:assumed-role/{r.ref('FunctionRole')}/"
    identity = event["detail"]["userIdentity"]
    if identity.get("arn", "").startswith("OWN/"):
        identity["arn"] = own + identity["arn"].removeprefix("OWN/")
    assert _matches(pattern, event) is fires, case
