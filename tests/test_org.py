"""Every account of an OU, end to end: moto's Organizations over HTTP, behind the fault proxy.

The organization: root -> top -> nested, and another OU beside top. Under top (recursively): one
account that is written, one excluded, one suspended (closed), one whose role cannot be assumed
(moto's STS assumes any role, so the proxy denies AssumeRole for that role ARN).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import ACCOUNT_A

Run = Callable[..., tuple[int, Any, str]]

READER = f"arn:aws:iam::{ACCOUNT_A}:role/org-reader"


@pytest.fixture
def org(moto_url: str, proxy: Any) -> dict[str, str]:
    o = boto3.client("organizations", region_name="us-east-1", endpoint_url=moto_url)
    o.create_organization(FeatureSet="ALL")
    root = o.list_roots()["Roots"][0]["Id"]
    top = o.create_organizational_unit(ParentId=root, Name="top")["OrganizationalUnit"]["Id"]
    nested = o.create_organizational_unit(ParentId=top, Name="nested")["OrganizationalUnit"]["Id"]
    other = o.create_organizational_unit(ParentId=root, Name="other")["OrganizationalUnit"]["Id"]
    ids = {"root": root, "top": top, "nested": nested, "other": other}
    for name, parent in (("written-top", top), ("written-nested", nested), ("excluded", nested),
                         ("suspended", nested), ("no-role", top), ("elsewhere", other)):
        acct = o.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
        o.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=parent)
        ids[name] = acct
    o.close_account(AccountId=ids["suspended"])  # moto: SUSPENDED at once
    return ids


def _deny_role_of(proxy: Any, account: str) -> None:
    role = f"arn:aws:iam::{account}:role/replica-writer"
    proxy.faults.deny_when = [("AssumeRole", lambda body: role.encode() in body.replace(b"%3A", b":")
                               .replace(b"%2F", b"/"),
                               (403, "AccessDenied", f"not authorized to perform: sts:AssumeRole on resource: {role}"))]


def _manifest(write_manifest: Any, org: dict[str, str], *, reader: bool = True) -> Path:
    settings = f"settings: {{organizations: {{role_arn: \"{READER}\"}}}}" if reader else ""
    return write_manifest(f"""
        version: 1
        {settings}
        defaults: {{source: {{region: us-east-1}}, destination: {{region: us-east-1}}}}
        mappings:
          - id: ca
            source: prod/shared/ca-bundle
            destinations:
              - name: shared/ca-bundle
                accounts: {{organizational_units: ["{org['top']}"], exclude: ["{org['excluded']}"]}}
                role_arn: "arn:aws:iam::${{ACCOUNT_ID}}:role/replica-writer"
              - name: /shared/ca-bundle
                service: ssm
                accounts: {{organizational_units: ["{org['top']}"], exclude: ["{org['excluded']}"]}}
                role_arn: "arn:aws:iam::${{ACCOUNT_ID}}:role/replica-writer"
            transform:
              - sed: ["s/ACCOUNT/${{ACCOUNT_ID}}/"]
    """)


def _by_account(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(i["destination"]["account"], i["destination"]["name"]): i for i in report["items"] if i["destination"]}


def _log_lines(err: str, message: str) -> list[dict[str, Any]]:
    return [d for d in (json.loads(line) for line in err.splitlines() if line.startswith("{"))
            if d.get("message") == message]


def test_each_active_account_under_the_ous_gets_its_copy_and_the_others_fail_alone(
        aws: Any, proxy: Any, org: dict[str, str], write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/shared/ca-bundle", "-----CA for ACCOUNT-----")
    m = _manifest(write_manifest, org)
    _deny_role_of(proxy, org["no-role"])
    # WHEN plan runs THEN every discovered account is its own item, per destination
    code, report, _ = run_cli("plan", str(m))
    got = _by_account(report)
    expected = {org["written-top"], org["written-nested"], org["suspended"], org["no-role"]}
    assert {a for a, _ in got} == expected  # not the excluded account, nor the other OU's
    assert code == 1
    for account in (org["written-top"], org["written-nested"]):
        assert got[(account, "shared/ca-bundle")]["action"] == "create"
        assert got[(account, "/shared/ca-bundle")]["action"] == "create"
    # WHEN it runs
    proxy.calls.clear()
    code, report, err = run_cli("run", str(m))
    got = _by_account(report)
    assert code == 1
    # THEN the active accounts have the secret and the parameter, with ${ACCOUNT_ID} their own
    for account in (org["written-top"], org["written-nested"]):
        assert got[(account, "shared/ca-bundle")]["action"] == "create"
        assert aws.value("shared/ca-bundle", account=account) == f"-----CA for {account}-----"
        p = aws.client("ssm", "us-east-1", account).get_parameter(Name="/shared/ca-bundle", WithDecryption=True)
        assert p["Parameter"]["Value"] == f"-----CA for {account}-----"
    # AND the suspended account fails its items with a clear type, one log line for the account
    for name in ("shared/ca-bundle", "/shared/ca-bundle"):
        item = got[(org["suspended"], name)]
        assert item["action"] == "failed" and item["error"]["type"] == "AccountNotActive"
        assert "SUSPENDED" in item["error"]["message"]
        # AND the account whose role cannot be assumed fails its items only
        item = got[(org["no-role"], name)]
        assert item["action"] == "failed" and item["error"]["type"] == "AccessDenied"
    assert [d["account"] for d in _log_lines(err, "account is not active; its items fail")] == [org["suspended"]]
    unusable = _log_lines(err, "identity unusable; its items fail")
    assert len(unusable) == 1 and org["no-role"] in json.dumps(unusable)
    # AND the organization was walked once for the run: two OUs, two listings each
    assert proxy.honest("organizations.ListChildren") == 2
    assert proxy.honest("organizations.ListAccountsForParent") == 2
    assert proxy.calls["sts.AssumeRole"] >= 1
    # WHEN it runs again THEN the active accounts are in sync
    code, report, _ = run_cli("run", str(m))
    assert report["totals"]["in_sync"] == 4 and report["totals"]["failed"] == 4


def test_a_failed_discovery_fails_the_destination_never_reads_as_no_accounts(
        aws: Any, proxy: Any, org: dict[str, str], write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/shared/ca-bundle", "ca")
    m = _manifest(write_manifest, org, reader=False)  # the default identity lists the organization
    proxy.faults.deny = {"ListChildren": (400, "AccessDeniedException",
                                          "You don't have permissions to access this resource.")}
    code, report, _ = run_cli("run", str(m))
    # THEN one failed item per destination of the mapping, destination null, and a run-level error
    assert code == 1
    assert [(i["mapping"], i["action"], i["destination"], i["error"]["type"]) for i in report["items"]] == \
        [("ca", "failed", None, "AccessDeniedException")] * 2
    assert [(e["scope"]["service"], e["type"]) for e in report["errors"]] == \
        [("organizations", "AccessDeniedException")]
    assert report["errors"][0]["scope"]["region"] == "us-east-1"
    # AND nothing was written anywhere
    assert "sts.AssumeRole" not in proxy.calls and "ssm.PutParameter" not in proxy.calls


def test_iam_policy_prints_the_org_reader_statements(org: dict[str, str], write_manifest: Any, run_cli: Run) -> None:
    m = _manifest(write_manifest, org)
    code, out, _ = run_cli("iam-policy", str(m))
    text = out if isinstance(out, str) else json.dumps(out)
    assert code == 0
    assert "organizations:ListChildren" in text and "organizations:ListAccountsForParent" in text
    assert re.search(r"org-reader", text)


def test_iam_policy_grants_discovery_to_the_runner_without_an_org_reader(org: dict[str, str], write_manifest: Any,
                                                                       run_cli: Run) -> None:
    # GIVEN accounts: on a destination and no settings.organizations (discovery runs as the runner)
    m = _manifest(write_manifest, org, reader=False)
    # WHEN the policies are printed THEN the runner itself may read the organization's tree
    code, out, _ = run_cli("iam-policy", str(m))
    assert code == 0
    policies = out if isinstance(out, dict) else json.loads(out)
    runner = next(v for k, v in policies.items() if "runner" in k.lower() or k == "runner")
    actions = {a for st in runner["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str)
                                                        else st["Action"])}
    assert {"organizations:ListChildren", "organizations:ListAccountsForParent"} <= actions


def test_example_manifests_validate(run_cli: Run) -> None:
    root = Path(__file__).resolve().parents[1] / "config"
    paths = sorted(root.glob("org-*.yaml"))
    assert paths
    for path in paths:
        code, out, err = run_cli("validate", str(path))
        assert code == 0, (path, out, err)


def test_organizations_is_called_in_its_partition_endpoint_region() -> None:
    from reconciler.engine.accounts import organizations_region
    from reconciler.manifest import OrganizationsSettings

    assert organizations_region(None, "eu-west-1") == "us-east-1"
    assert organizations_region(OrganizationsSettings(role_arn="arn:aws-us-gov:iam::123456789012:role/r"),
                                "us-east-1") == "us-gov-west-1"
    assert organizations_region(None, "cn-north-1") == "cn-northwest-1"
    assert organizations_region(OrganizationsSettings(region="us-west-2"), "eu-west-1") == "us-west-2"


@pytest.mark.parametrize("state", ["CLOSED", "PENDING_CLOSURE", "PENDING_ACTIVATION", "HIBERNATING"])
def test_an_account_closed_closing_pending_or_unknown_fails_its_items_by_name(
        aws: Any, proxy: Any, org: dict[str, str], write_manifest: Any, run_cli: Run, state: str) -> None:
    # GIVEN Organizations as AWS answers it (State only, no Status; empty and short pages), and an
    # account in a state that is not ACTIVE (HIBERNATING: one this code does not know yet)
    proxy.faults.aws_mode = True
    proxy.faults.account_states = {org["written-nested"]: state}
    aws.create("prod/shared/ca-bundle", "-----CA for ACCOUNT-----")
    m = _manifest(write_manifest, org)
    _deny_role_of(proxy, org["no-role"])
    # WHEN it runs
    code, report, err = run_cli("run", str(m))
    got = _by_account(report)
    # THEN that account's items fail, naming the state; nothing is written there; the run is not silent
    assert code == 1
    for name in ("shared/ca-bundle", "/shared/ca-bundle"):
        item = got[(org["written-nested"], name)]
        assert item["action"] == "failed" and item["error"]["type"] == "AccountNotActive"
        assert state in item["error"]["message"]
    assert not aws.exists("shared/ca-bundle", account=org["written-nested"])
    logged = _log_lines(err, "account is not active; its items fail")
    assert {(d["account"], d["state"]) for d in logged} == {(org["written-nested"], state),
                                                            (org["suspended"], "SUSPENDED")}
    # AND the active account is written as before
    assert got[(org["written-top"], "shared/ca-bundle")]["action"] == "create"
    assert aws.value("shared/ca-bundle", account=org["written-top"]) == f"-----CA for {org['written-top']}-----"
