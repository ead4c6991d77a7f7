"""The shipped and printed IAM policies allow exactly what they should (SPEC "IAM", issue 9).

Table-driven: each case is one request (action, resource, resource tags, request tags, tag keys)
evaluated against every policy source the project has: ``iam-policy`` output, the stack's
function role and the writer role, rendered with matching parameters. The evaluator is
tests/policy_eval.py (its own tests are at the top of this file).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cfn_policies import role_policies
from policy_eval import evaluate, tag_context

from reconciler._iam import ACCOUNT_PLACEHOLDER, partition_of, policies_for
from reconciler.manifest import load_manifest

HERE = Path(__file__).resolve().parent
OWNER = "team-a"
ACCOUNT = "111111111111"
DEST = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/app/db-AbCdEf"
ADOPT = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/legacy/db-AbCdEf"
ORPHAN = f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/removed/db-AbCdEf"  # no mapping writes it any more
SOURCE = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/app/db-AbCdEf"
KEY = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OURS = {"reconciler:owner": OWNER, "reconciler:source": SOURCE, "reconciler:mapping": "app"}
SM = "secretsmanager:"

MANIFEST = textwrap.dedent(f"""\
    version: 1
    settings: {{owner: {OWNER}, prune: {{enabled: true}}}}
    defaults: {{source: {{region: us-east-1}}, destination: {{region: us-west-2}}}}
    mappings:
      - id: app
        source: "prod/app/*"
        destination: {{name: "dr/app/*", kms_key_id: "{KEY}", tags: {{CostCenter: "42"}}}}
      - id: legacy
        source: "prod/legacy/*"
        destination: {{name: "dr/legacy/*", tags: {{CostCenter: "42"}}}}
        on_existing: adopt
    """)


# --- the evaluator's own tests -----------------------------------------------------------------

def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(cond: dict[str, Any] | None = None, effect: str = "Allow") -> dict[str, Any]:
    st: dict[str, Any] = {"Effect": effect, "Action": "svc:Do*", "Resource": "arn:x:*"}
    if cond:
        st["Condition"] = cond
    return st


@pytest.mark.parametrize(("cond", "ctx", "want"), [
    ({"StringEquals": {"k": "a"}}, {"k": "a"}, "Allow"),
    ({"StringEquals": {"k": "a"}}, {"K": "a"}, "Allow"),  # keys are case-insensitive
    ({"StringEquals": {"k": "a"}}, {"k": "A"}, "ImplicitDeny"),  # values are not
    ({"StringEquals": {"k": "a"}}, {}, "ImplicitDeny"),
    ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, "Allow"),  # values OR
    ({"StringNotEquals": {"k": "a"}}, {}, "Allow"),  # negated: a missing key matches
    ({"StringNotEquals": {"k": "a"}}, {"k": "a"}, "ImplicitDeny"),
    ({"StringLike": {"k": "re*:?"}}, {"k": "reconciler:xy"}, "ImplicitDeny"),  # ? is one character
    ({"StringLike": {"k": "re*:?"}}, {"k": "rec:x"}, "Allow"),
    ({"ArnLike": {"k": "arn:aws:s3:::b/*"}}, {"k": "arn:aws:s3:::b/o"}, "Allow"),
    ({"Null": {"k": "true"}}, {}, "Allow"),
    ({"Null": {"k": "true"}}, {"k": "x"}, "ImplicitDeny"),
    ({"Null": {"k": "false"}}, {"k": "x"}, "Allow"),
    ({"Bool": {"k": "true"}}, {"k": "True"}, "Allow"),
    ({"Bool": {"k": "true"}}, {}, "ImplicitDeny"),
    ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "b"]}, "Allow"),
    ({"ForAllValues:StringEquals": {"k": ["a", "b"]}}, {"k": ["a", "c"]}, "ImplicitDeny"),
    ({"ForAllValues:StringEquals": {"k": ["a"]}}, {}, "Allow"),  # vacuously true: pair it with a Null/request tag
    ({"ForAllValues:StringLike": {"k": ["r:*"]}}, {"k": ["r:a", "r:b"]}, "Allow"),
    ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {"k": ["b", "a"]}, "Allow"),
    ({"ForAnyValue:StringEquals": {"k": ["a"]}}, {}, "ImplicitDeny"),
    ({"StringEquals": {"k": "a"}, "Null": {"j": "true"}}, {"k": "a", "j": "x"}, "ImplicitDeny"),  # operators AND
])
def test_evaluator_operators(cond: dict[str, Any], ctx: dict[str, Any], want: str) -> None:
    assert evaluate([_doc(_allow(cond))], "svc:DoThing", "arn:x:y", ctx) == want


def test_evaluator_deny_wins_and_wildcards() -> None:
    policies = [_doc(_allow()), _doc(_allow({"StringEquals": {"k": "a"}}, effect="Deny"))]
    assert evaluate(policies, "SVC:dothing", "arn:x:y", {"k": "b"}) == "Allow"  # actions are case-insensitive
    assert evaluate(policies, "svc:DoThing", "arn:x:y", {"k": "a"}) == "Deny"
    assert evaluate(policies, "svc:Other", "arn:x:y") == "ImplicitDeny"
    assert evaluate(policies, "svc:DoThing", "arn:X:y") == "ImplicitDeny"  # resources are not


def test_evaluator_refuses_what_it_does_not_model() -> None:
    with pytest.raises(ValueError, match="not modelled"):
        evaluate([_doc(_allow({"NumericLessThan": {"k": "1"}}))], "svc:DoThing", "arn:x:y", {"k": "0"})


# --- the project's policies ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("iam") / "m.yaml"
    path.write_text(MANIFEST)
    printed = policies_for(load_manifest(str(path)), default_account=ACCOUNT)
    template = role_policies("template.yaml", {
        "CodeBucket": "b", "CodeObjectVersion": "v1", "Owner": OWNER,
        "ManifestDeployPrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/deploy",
        "SourceSecretArns": f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/*",
        "DestinationSecretArns": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/*",
        "AdoptSecretArns": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:dr/legacy/*",
        "ManagedTagKeys": "CostCenter", "EnableDeletion": "true", "DestinationKmsKeyArns": KEY,
    }, "FunctionRole")
    writer = role_policies("writer-role.yaml", {
        "ReconcilerRoleArn": f"arn:aws:iam::{ACCOUNT}:role/fn", "ExternalId": "xid", "Owner": OWNER,
        "SecretNamePrefix": "dr/", "AdoptNamePrefix": "dr/legacy/", "ManagedTagKeys": "CostCenter",
        "KmsKeyArn": KEY, "EnableDeletion": "true",
    }, "WriterRole")
    return {"iam-policy": [printed["runner"]], "template": template, "writer-role": writer}


FOREIGN = {"reconciler:owner": "someone-else"}
OWNER_TAGS = {"reconciler:owner": OWNER, "reconciler:source": SOURCE, "reconciler:mapping": "legacy"}
VIA = {"kms:ViaService": "secretsmanager.us-west-2.amazonaws.com", "kms:EncryptionContext:SecretARN": DEST}

# (case, action, resource, resource tags, request tags, tag keys (None: the request tags' keys),
#  extra context, allowed?)
CASES: list[tuple[str, str, str, dict[str, str], dict[str, str], list[str] | None, dict[str, Any], bool]] = [
    ("claim a foreign secret", "TagResource", ADOPT, FOREIGN, OWNER_TAGS, None, {}, False),
    ("claim a foreign secret outside adopt", "TagResource", DEST, FOREIGN, OWNER_TAGS, None, {}, False),
    ("claim an untagged one outside an adopt prefix", "TagResource", DEST, {}, OWNER_TAGS, None, {}, False),
    ("claim an untagged one inside an adopt prefix", "TagResource", ADOPT, {}, OWNER_TAGS, None, {}, True),
    ("adopt without our owner in the request", "TagResource", ADOPT, {}, {"CostCenter": "42"}, None, {}, False),
    ("adopt with a non-manifest key", "TagResource", ADOPT, {}, {**OWNER_TAGS, "Evil": "1"}, None, {}, False),
    ("write our own", "PutSecretValue", DEST, OURS, {}, None, {}, True),
    ("move stages on our own", "UpdateSecretVersionStage", DEST, OURS, {}, None, {}, True),
    ("write an untagged one", "PutSecretValue", DEST, {}, {}, None, {}, False),
    ("write a foreign one", "PutSecretValue", DEST, FOREIGN, {}, None, {}, False),
    ("read a destination's value", "GetSecretValue", DEST, OURS, {}, None, {}, False),
    ("read a source's value", "GetSecretValue", SOURCE, {}, {}, None, {}, True),
    ("tag our own with a manifest key", "TagResource", DEST, OURS, {"CostCenter": "43"}, None, {}, True),
    ("tag our own with a non-manifest key", "TagResource", DEST, OURS, {"Evil": "1"}, None, {}, False),
    ("give our own away", "TagResource", DEST, OURS, {"reconciler:owner": "someone-else"}, None, {}, False),
    ("untag a manifest key from our own", "UntagResource", DEST, OURS, {}, ["CostCenter"], {}, True),
    ("untag our owner tag", "UntagResource", DEST, OURS, {}, ["reconciler:owner"], {}, False),
    ("untag a key the manifest dropped", "UntagResource", DEST, OURS, {}, ["Team"], {}, True),
    ("untag the tag ledger", "UntagResource", DEST, OURS, {}, ["reconciler:tags"], {}, True),
    ("untag our source tag with another", "UntagResource", DEST, OURS, {}, ["Team", "reconciler:source"], {}, False),
    ("untag a key from a foreign one", "UntagResource", DEST, FOREIGN, {}, ["CostCenter"], {}, False),
    ("create with our owner tag", "CreateSecret", DEST, {}, OWNER_TAGS, None, {}, True),
    ("create without an owner tag", "CreateSecret", DEST, {}, {"CostCenter": "1"}, None, {}, False),
    ("create for another owner", "CreateSecret", DEST, {}, {**OWNER_TAGS, **FOREIGN}, None, {}, False),
    ("create outside the destinations", "CreateSecret", SOURCE, {}, OWNER_TAGS, None, {}, False),
    ("schedule deletion of our own", "DeleteSecret", DEST, OURS, {}, None, {}, True),
    ("prune an orphan of ours (a name the manifest dropped)", "DeleteSecret", ORPHAN, OURS, {}, None, {}, True),
    ("prune a foreign secret", "DeleteSecret", ORPHAN, FOREIGN, {}, None, {}, False),
    ("describe an orphan of ours before pruning it", "DescribeSecret", ORPHAN, OURS, {}, None, {}, True),
    ("delete a foreign secret", "DeleteSecret", DEST, FOREIGN, {}, None, {}, False),
    ("delete an untagged secret", "DeleteSecret", DEST, {}, {}, None, {}, False),
    ("force-delete our own", "DeleteSecret", DEST, OURS, {}, None,
     {"secretsmanager:ForceDeleteWithoutRecovery": "true"}, False),
]


@pytest.mark.parametrize("source", ["iam-policy", "template", "writer-role"])
@pytest.mark.parametrize(("case", "action", "resource", "rtags", "qtags", "keys", "extra", "allowed"), CASES,
                         ids=[c[0] for c in CASES])
def test_policy_allows_exactly(sources: dict[str, list[dict[str, Any]]], source: str, case: str, action: str,
                               resource: str, rtags: dict[str, str], qtags: dict[str, str], keys: list[str] | None,
                               extra: dict[str, Any], allowed: bool) -> None:
    if source == "writer-role" and resource == SOURCE and action == "GetSecretValue":
        pytest.skip("the writer role reads no sources")
    ctx = tag_context(resource_tags=rtags, request_tags=qtags, tag_keys=keys, extra=extra)
    decision = evaluate(sources[source], SM + action, resource, ctx)
    assert (decision == "Allow") is allowed, (case, decision)
    if rtags.get("reconciler:owner") == "someone-else":
        assert decision == "Deny", "another owner's secret is refused by an explicit Deny"


@pytest.mark.parametrize("source", ["iam-policy", "template", "writer-role"])
@pytest.mark.parametrize(("case", "action", "context", "allowed"), [
    ("encrypt a destination via Secrets Manager", "kms:GenerateDataKey", VIA, True),
    ("decrypt a destination via Secrets Manager", "kms:Decrypt", VIA, True),
    ("decrypt directly", "kms:Decrypt", {}, False),
    ("decrypt via another service", "kms:Decrypt", {**VIA, "kms:ViaService": "s3.us-west-2.amazonaws.com"}, False),
    ("decrypt another secret's data", "kms:Decrypt",
     {**VIA, "kms:EncryptionContext:SecretARN": f"arn:aws:secretsmanager:us-west-2:{ACCOUNT}:secret:x-AbCdEf"}, False),
])
def test_destination_key_only_through_secrets_manager(sources: dict[str, list[dict[str, Any]]], source: str,
                                                      case: str, action: str, context: dict[str, Any],
                                                      allowed: bool) -> None:
    assert (evaluate(sources[source], action, KEY, context) == "Allow") is allowed, case


def test_source_key_decrypt_needs_the_source_context(sources: dict[str, list[dict[str, Any]]]) -> None:
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/0000abcd-12ab-34cd-56ef-1234567890ab"
    via = {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com", "kms:EncryptionContext:SecretARN": SOURCE}
    for source in ("iam-policy", "template"):
        assert evaluate(sources[source], "kms:Decrypt", key, via) == "Allow", source
        other = {**via, "kms:EncryptionContext:SecretARN": DEST.replace("us-west-2", "us-east-1")}
        assert evaluate(sources[source], "kms:Decrypt", key, other) == "ImplicitDeny", source


# --- iam-policy specifics --------------------------------------------------------------------------

def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "m.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next(st for st in doc["Statement"] if st["Sid"] == sid)


@pytest.mark.parametrize(("region", "partition"), [
    ("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), (None, "aws")])
def test_partition_from_region(region: str | None, partition: str) -> None:
    assert partition_of(region) == partition


def test_china_regions_get_the_china_partition(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, """\
        version: 1
        mappings:
          - {source: {name: prod/a, region: cn-north-1}, destination: {name: dr/a, region: cn-northwest-1}}
        """))
    doc = policies_for(m, default_account=ACCOUNT)["runner"]
    text = json.dumps(doc)
    assert "arn:aws-cn:secretsmanager:cn-north-1:111111111111:secret:prod/a-??????" in text
    assert "arn:aws-cn:secretsmanager:cn-northwest-1:111111111111:secret:dr/a-??????" in text
    assert "arn:aws:" not in text


def test_known_variables_stay_exact_mid_name(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, """\
        version: 1
        variables: {TIER: gold}
        mappings:
          - source: {name: prod/db, region: us-east-1}
            destinations:
              - {name: "dr/${REGION}/${TIER}/db", region: us-west-2}
              - {name: "dr/${REGION}/${TIER}/db", region: eu-west-1}
        """))
    dest = _statement(policies_for(m, default_account=ACCOUNT)["runner"], "DescribeDestinations")["Resource"]
    assert dest == ["arn:aws:secretsmanager:eu-west-1:111111111111:secret:dr/eu-west-1/gold/db-??????",
                    "arn:aws:secretsmanager:us-west-2:111111111111:secret:dr/us-west-2/gold/db-??????"]


def _many(tmp_path: Path, names: list[str], extra: str = "") -> list[str]:
    rows = "\n".join(f"  - {{source: prod/s{i:04d}, destination: {n}}}" for i, n in enumerate(names))
    m = load_manifest(_write(tmp_path, "version: 1\ndefaults: {source: {region: us-east-1}, "
                                       "destination: {region: us-west-2}}\nmappings:\n" + rows + "\n" + extra))
    return list(_statement(policies_for(m, default_account=ACCOUNT)["runner"], "DescribeDestinations")["Resource"])


SM_WEST = "arn:aws:secretsmanager:us-west-2:111111111111:secret:"


def test_destinations_the_engine_splits_may_describe_their_common_prefix(tmp_path: Path) -> None:
    # GIVEN exact destinations in one region, few and many (the engine splits from about 630)
    few = _many(tmp_path, [f"dr/app/s{i:04d}" for i in range(600)])
    many = _many(tmp_path, [f"dr/app/s{i:04d}" for i in range(700)])
    # THEN only where the engine would split does DescribeSecret (metadata, which ListSecrets shows
    # anyway) also cover the common prefix, where the split reads the names it branches at
    assert not any(r.endswith("*") for r in few)
    assert f"{SM_WEST}dr/app/s0*" in many and len(many) == 701


def test_a_prefix_mapping_beside_exact_ones_describes_what_they_share(tmp_path: Path) -> None:
    # GIVEN exact destinations dr/app/... and a prefix mapping into dr/api/ (members unknown here)
    rows = [f"dr/app/s{i:04d}" for i in range(300)]
    dest = _many(tmp_path, rows, "  - {source: 'prod/api/*', destination: 'dr/api/*'}\n")
    # THEN the common prefix of both is describable (the engine's branch point lies there)
    assert f"{SM_WEST}dr/ap*" in dest and f"{SM_WEST}dr/api/*" in dest


def test_names_without_a_common_prefix_get_no_wildcard(tmp_path: Path) -> None:
    # GIVEN many exact destinations that share no prefix
    dest = _many(tmp_path, [f"{'abcdefgh'[i % 8]}/s{i:04d}" for i in range(800)])
    # THEN no "secret:*" (every secret of the region): the split's reads are denied, the scope is
    # listed whole
    assert f"{SM_WEST}*" not in dest and not any(r.endswith("*") for r in dest)


def test_placeholder_account_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import reconciler._iam as iam

    monkeypatch.setattr(iam, "lookup_account", lambda profile=None: None)
    m = load_manifest(_write(tmp_path, """\
        version: 1
        mappings: [{source: {name: prod/a, region: us-east-1}, destination: {name: dr/a, region: us-west-2}}]
        """))
    doc = policies_for(m)["runner"]
    assert f"arn:aws:secretsmanager:us-east-1:{ACCOUNT_PLACEHOLDER}:secret:prod/a-??????" in json.dumps(doc)
    assert ACCOUNT_PLACEHOLDER in capsys.readouterr().err


def test_account_from_sts_when_credentials_exist(proxy: Any, run_cli: Any) -> None:
    code, out, _ = run_cli("iam-policy", str(HERE.parent / "config" / "dr-copy.yaml"))
    assert code == 0
    reads = _statement(out["runner"], "ReadSources")["Resource"]
    assert "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db/password-??????" in reads  # moto's account


def test_a_profile_is_not_assumed_to_be_the_default_account(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, """\
        version: 1
        mappings:
          - source: {name: prod/a, region: us-east-1}
            destination: {name: dr/a, region: us-west-2, profile: other-account}
        """))
    doc = policies_for(m, default_account=ACCOUNT)
    assert set(doc) == {"runner", "profile:other-account"}
    dest = _statement(doc["profile:other-account"], "DescribeDestinations")["Resource"]
    assert dest == [f"arn:aws:secretsmanager:us-west-2:{ACCOUNT_PLACEHOLDER}:secret:dr/a-??????"]


def test_an_arn_source_decrypts_with_keys_of_its_own_account_and_region(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:444444444444:secret:prod/x-AbCdEf"
    m = load_manifest(_write(tmp_path, f"""\
        version: 1
        mappings: [{{source: "{arn}", destination: {{name: dr/x, region: us-west-2}}}}]
        """))
    decrypt = _statement(policies_for(m, default_account=ACCOUNT)["runner"], "DecryptSourcesSecretsManager")
    assert decrypt["Resource"] == ["arn:aws:kms:eu-west-1:444444444444:key/*"]
    assert decrypt["Condition"] == {
        "StringEquals": {"kms:ViaService": ["secretsmanager.eu-west-1.amazonaws.com"]},
        "StringLike": {"kms:EncryptionContext:SecretARN": [arn]}}


def test_no_delete_without_prune_or_delete_policy(tmp_path: Path) -> None:
    m = load_manifest(_write(tmp_path, """\
        version: 1
        mappings: [{source: {name: prod/a, region: us-east-1}, destination: {name: dr/a, region: us-west-2}}]
        """))
    doc = policies_for(m, default_account=ACCOUNT)["runner"]
    allows = [a for st in doc["Statement"] if st["Effect"] == "Allow" for a in st["Action"]]
    assert "secretsmanager:DeleteSecret" not in allows
    assert "secretsmanager:GetSecretValue" in allows  # the source only
    assert all("dr/a" not in json.dumps(st) for st in doc["Statement"]
               if "secretsmanager:GetSecretValue" in st["Action"])
    assert "secretsmanager:TagResource" not in json.dumps(
        [st for st in doc["Statement"] if st["Sid"].startswith("Adopt")])  # no adopt statement at all


def test_everything_manifest_statements() -> None:
    doc = policies_for(load_manifest(str(HERE / "data" / "iam-everything.yaml")), default_account=ACCOUNT)
    runner, org = doc["runner"], doc["arn:aws:iam::999999999999:role/org-reader"]
    assert _statement(org, "ReadOrganizationTree")["Action"] == [
        "organizations:ListAccountsForParent", "organizations:ListChildren"]
    assume = _statement(runner, "AssumeManifestRoles")["Resource"]
    assert "arn:aws:iam::999999999999:role/org-reader" in assume
    assert "arn:aws:iam::*:role/replica-writer" in assume  # ${ACCOUNT_ID}: any discovered account
    ssm_create = _statement(runner, "CreateOwnedParameters")
    assert ssm_create["Condition"]["StringEquals"] == {"aws:RequestTag/reconciler:owner": "team-a"}
    assert _statement(runner, "WriteOwnedParameters")["Condition"] == {
        "StringEquals": {"aws:ResourceTag/reconciler:owner": "team-a"}}
    assert _statement(runner, "DeleteOwnedParameters")["Resource"] == [
        "arn:aws:ssm:eu-west-1:111111111111:parameter/dr/app/*",
        "arn:aws:ssm:us-west-2:111111111111:parameter/dr/api/key"]
    assert _statement(runner, "ReadSourceParameters")["Resource"] == [
        "arn:aws:ssm:us-east-1:111111111111:parameter/prod/app/*"]
    alias = _statement(runner, "EncryptDestinationsByAliasSecretsManager")
    assert alias["Condition"]["ForAnyValue:StringEquals"] == {"kms:ResourceAliases": ["alias/dr-secrets"]}
    assert alias["Resource"] == ["arn:aws:kms:us-west-2:111111111111:key/*"]
    writer = doc["arn:aws:iam::222222222222:role/secrets-reconciler-writer"]
    assert _statement(writer, "EncryptDestinationsSecretsManager")["Resource"] == [
        "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"]
    for label, policy in doc.items():  # the evaluator models every operator every document uses
        evaluate([policy], "secretsmanager:PutSecretValue", DEST), label


def test_parliament_finds_nothing_unjustified() -> None:
    pytest.importorskip("parliament", reason="parliament runs in tox -e lint")
    done = subprocess.run([sys.executable, str(HERE / "lint_policies.py")], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
