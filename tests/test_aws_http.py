"""The AWS layer over HTTP (moto behind the fault proxy): identities that cannot be used fail only
their items with their own error, roles are assumed once per identity, and the Secrets Manager
store's lifecycle calls (untag, delete, list_owned) send what AWS expects.

Timing is never asserted here: only call counts, reports and what AWS holds afterwards.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import ACCOUNT_B, ROLE_B

from reconciler._constants import TAG_OWNER
from reconciler._types import SecretValue
from reconciler.aws.backend import Backend
from reconciler.aws.call import CallStats
from reconciler.aws.identity import Identity

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def aws_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A hermetic AWS config: one profile ``ops`` with moto-acceptable keys, nothing else."""
    config = tmp_path / "aws-config"
    config.write_text("[profile ops]\naws_access_key_id = ops\naws_secret_access_key = ops\nregion = us-east-1\n")
    creds = tmp_path / "aws-credentials"
    creds.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    return config


def _items(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["mapping"]: i for i in report["items"]}


# --- identities that cannot be used (issue 8, items 2 and 4) ------------------------------------


def test_an_unknown_profile_fails_only_its_items(aws, proxy, aws_config, write_manifest, run_cli):
    # GIVEN one healthy mapping, one whose destination and one whose source name a missing profile
    for n in ("a", "b", "c"):
        aws.create(f"app/{n}", f"v-{n}")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: good, source: app/a, destination: dr/a}
          - {id: lost-dest, source: app/b, destination: {name: dr/b, profile: no-such-profile}}
          - {id: lost-src, source: {name: app/c, profile: no-such-profile}, destination: dr/c}
          - {id: ops, source: app/c, destination: {name: dr/ops, profile: ops}}
    """)
    code, report, err = run_cli("run", str(path))
    # THEN the run reports, its items fail with ProfileNotFound, and the rest converge
    assert code == 1, report
    items = _items(report)
    for mid in ("lost-dest", "lost-src"):
        assert items[mid]["action"] == "failed", items[mid]
        assert items[mid]["error"]["type"] == "ProfileNotFound"
        assert "no-such-profile" in items[mid]["error"]["message"]
    assert items["good"]["action"] == "create" and items["ops"]["action"] == "create"
    assert aws.value("dr/a", "us-west-2") == "v-a" and aws.value("dr/ops", "us-west-2") == "v-c"
    assert not aws.exists("dr/b", "us-west-2")
    assert "Traceback" not in err
    assert err.count("identity unusable") == 1  # one log line for the identity, not one per item


def test_a_profile_whose_ca_bundle_cannot_be_read_fails_only_its_items(aws, proxy, aws_config, write_manifest,
                                                                     run_cli, monkeypatch):
    # GIVEN a profile whose ca_bundle names a missing file (AWS_CA_BUNDLE would override it)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    aws_config.write_text(aws_config.read_text() + "[profile corp]\naws_access_key_id = corp\n"
                          "aws_secret_access_key = corp\nregion = us-east-1\nca_bundle = /nonexistent/corp-ca.pem\n")
    aws.create("app/a", "v-a")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: good, source: app/a, destination: dr/a}
          - {id: corp, source: app/a, destination: {name: dr/corp, profile: corp}}
    """)
    code, report, err = run_cli("run", str(path))
    # THEN that identity's item fails, naming the file and the reason, logged once; the other converges
    assert code == 1, report
    items = _items(report)
    assert items["corp"]["action"] == "failed"
    assert items["corp"]["error"]["type"] == "InvalidCABundle"
    assert "/nonexistent/corp-ca.pem" in items["corp"]["error"]["message"]
    assert "No such file" in items["corp"]["error"]["message"]
    assert items["good"]["action"] == "create" and aws.value("dr/a", "us-west-2") == "v-a"
    assert not aws.exists("dr/corp", "us-west-2")
    assert "Traceback" not in err and err.count("identity unusable") == 1


@pytest.mark.parametrize(("env", "error_type", "says"), [
    ({"AWS_CONFIG_FILE": "/etc/passwd", "AWS_PROFILE": "x"}, "ConfigParseError", "/etc/passwd"),
    ({"AWS_ENDPOINT_URL": "not-a-url"}, "InvalidEndpoint", "not-a-url"),
    ({"AWS_ENDPOINT_URL": "user:hunter2@host"}, "InvalidEndpoint", "***@host"),
])
def test_an_unusable_sdk_configuration_fails_the_items_by_name_not_as_a_crash(
        aws, proxy, write_manifest, run_cli, monkeypatch, env, error_type, says):
    # GIVEN an AWS config file that is not one, or an endpoint URL that is not a URL
    aws.create("app/a", "v-a")
    path = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: a, source: app/a, destination: dr/a}
    """)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    # WHEN it runs THEN the item fails with the configuration's own error: no "unexpected error"
    code, report, err = run_cli("run", str(path))
    assert code == 1, report
    errors = {e["type"] for e in report["errors"]}
    assert error_type in errors and "unexpected error" not in json.dumps(report), report
    assert says in json.dumps(report) and "hunter2" not in json.dumps(report) + err
    assert "Traceback" not in err


def test_a_denied_assume_role_says_so_on_every_item_of_that_identity(aws, proxy, write_manifest, run_cli):
    # GIVEN a role that cannot be assumed, used by four destinations in two regions, beside a healthy one
    for i in range(5):
        aws.create(f"app/s{i}", f"v{i}")
    lines = [f"  - {{id: r{i}, source: app/s{i}, destination: {{name: dr/s{i}, region: "
             f"{'eu-west-1' if i % 2 else 'us-west-2'}, role_arn: \"{ROLE_B}\"}}}}" for i in range(4)]
    path = write_manifest("version: 1\ndefaults: {source: {region: us-east-1}}\nmappings:\n" + "\n".join(lines)
                          + "\n  - {id: ok, source: app/s4, destination: {name: dr/s4, region: us-west-2}}\n")
    proxy.faults.deny["AssumeRole"] = (403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole")
    for mode in ("plan", "run"):
        code, report, err = run_cli(mode, str(path))
        assert code == 1
        items = _items(report)
        # THEN each of its items carries AssumeRole's own error, naming the role; never CircuitOpen
        for i in range(4):
            error = items[f"r{i}"]["error"]
            assert items[f"r{i}"]["action"] == "failed"
            assert error["type"] == "AccessDenied", error
            assert "AssumeRole" in error["message"] and ROLE_B in error["message"]
            assert "write failed" not in error["message"]
        assert items["ok"]["action"] == "create"
        assert err.count("identity unusable") == 1
    # one AssumeRole attempt per run for the identity (a permanent error is not retried)
    assert proxy.calls["sts.AssumeRole"] == 2
    assert aws.exists("dr/s4", "us-west-2")


def test_a_transient_assume_role_failure_is_retried(aws, proxy, write_manifest, run_cli):
    aws.create("app/x", "vx")
    path = write_manifest(f"""
        version: 1
        settings: {{retry: {{max_attempts: 4, base_delay: 0.01, max_delay: 0.02}}}}
        mappings:
          - {{id: x, source: {{name: app/x, region: us-east-1}},
              destination: {{name: dr/x, region: us-west-2, role_arn: "{ROLE_B}"}}}}
    """)
    proxy.faults.fail_next["AssumeRole"] = [(500, "InternalFailure", "boom"), (400, "Throttling", "Rate exceeded")]
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    assert proxy.calls["sts.AssumeRole"] == 3
    assert aws.value("dr/x", "us-west-2", account=ACCOUNT_B) == "vx"


def test_one_role_is_assumed_once_for_all_its_regions(aws, proxy, write_manifest, run_cli):
    aws.create("app/x", "vx")
    dests = ", ".join(f"{{name: dr/x, region: {r}, role_arn: \"{ROLE_B}\"}}"
                      for r in ("us-west-2", "eu-west-1", "ap-south-1"))
    path = write_manifest(f"""
        version: 1
        mappings:
          - {{id: x, source: {{name: app/x, region: us-east-1}}, destinations: [{dests}]}}
    """)
    code, report, _ = run_cli("run", str(path))
    assert code == 0, report
    assert proxy.calls["sts.AssumeRole"] == 1
    # the role's account comes from its ARN; only the source's default credentials ask STS
    assert proxy.calls["sts.GetCallerIdentity"] == 1
    for r in ("us-west-2", "eu-west-1", "ap-south-1"):
        assert aws.value("dr/x", r, account=ACCOUNT_B) == "vx"


# --- the Secrets Manager store's lifecycle calls -----------------------------------------------


class _Retry:
    max_attempts, base_delay, max_delay = 3, 0.01, 0.02


@pytest.fixture
async def backend(proxy: Any) -> AsyncIterator[Backend]:
    async with Backend(concurrency=4, retry=_Retry(), stats=CallStats()) as b:
        yield b


async def test_delete_schedules_with_a_recovery_window_never_forced(aws, proxy, backend):
    aws.create("dr/old", "v")
    store = await backend.endpoint(Identity(), "us-east-1")
    proxy.record_bodies = True
    await store.delete("dr/old", 7)
    sent = [json.loads(b) for name, b in proxy.bodies if name == "secretsmanager.DeleteSecret"]
    assert sent == [{"SecretId": "dr/old", "RecoveryWindowInDays": 7}]
    meta = await store.describe("dr/old")
    assert meta is not None and meta.deleted
    await store.restore("dr/old")
    meta = await store.describe("dr/old")
    assert meta is not None and not meta.deleted


async def test_untag_removes_only_the_named_keys(aws, proxy, backend):
    aws.create("dr/t", "v", Tags=[{"Key": "team", "Value": "a"}, {"Key": "cost", "Value": "b"},
                                  {"Key": TAG_OWNER, "Value": "me"}])
    store = await backend.endpoint(Identity(), "us-east-1")
    await store.untag("dr/t", ["cost"])
    assert aws.tags("dr/t") == {"team": "a", TAG_OWNER: "me"}


async def test_list_owned_lists_ours_only_including_scheduled_deletions(aws, proxy, backend):
    aws.create("o/mine", "v", Tags=[{"Key": TAG_OWNER, "Value": "me"}])
    aws.create("o/gone", "v", Tags=[{"Key": TAG_OWNER, "Value": "me"}])
    aws.sm().delete_secret(SecretId="o/gone", RecoveryWindowInDays=7)
    aws.create("o/theirs", "v", Tags=[{"Key": TAG_OWNER, "Value": "other"}, {"Key": "note", "Value": "me"}])
    aws.create("o/untagged", "v")
    store = await backend.endpoint(Identity(), "us-east-1")
    found = {m.name: m for m in [m async for m in store.list_owned("me")]}
    assert set(found) == {"o/mine", "o/gone"}
    assert found["o/gone"].deleted and not found["o/mine"].deleted
    assert proxy.honest("secretsmanager.ListSecrets") == 1


async def test_replica_and_rotation_are_read_from_the_listing(aws, proxy, backend):
    aws.create("rep/a", "v", AddReplicaRegions=[{"Region": "eu-west-1"}])
    store = await backend.endpoint(Identity(), "eu-west-1")
    replica = await store.describe("rep/a")
    assert replica is not None and replica.primary_region == "us-east-1"
    listed = [m async for m in store.list_secrets(["rep/"])]
    assert [m.primary_region for m in listed] == ["us-east-1"]
    home = await (await backend.endpoint(Identity(), "us-east-1")).describe("rep/a")
    assert home is not None and home.primary_region in (None, "us-east-1") and home.rotation_enabled is False


async def test_every_call_is_counted_by_service_and_operation(aws, proxy, backend):
    store = await backend.endpoint(Identity(), "us-east-1")
    value = SecretValue(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:src-AbCdEf", name="src",
                        version_id="v1", stages=["AWSCURRENT"], string="s3cr3t")
    await store.create("c/new", "11111111-2222-4333-8444-555555555555", value, kms_key_id=None, description=None,
                       tags={TAG_OWNER: "me"})
    assert await store.describe("c/missing") is None
    calls = backend.stats.calls
    assert calls["secretsmanager.CreateSecret"] == 1 and calls["secretsmanager.DescribeSecret"] == 1
    assert calls["sts.GetCallerIdentity"] == 1  # the default identity's account, once
    assert sum(calls.values()) == proxy.count("secretsmanager.") + proxy.count("sts.")


# --- other services through the same caller ----------------------------------------------------


async def test_parameter_store_plugs_in_behind_the_same_seam(aws, proxy, backend):
    store: Any = await backend.endpoint(Identity(), "us-east-1", service="ssm")
    assert store.service == "ssm" and store.identity == Identity() and store.account == "123456789012"
    value = SecretValue(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:src-AbCdEf", name="src",
                        version_id="v1", stages=["AWSCURRENT"], string="s3cr3t")
    await store.create("/app/one", "11111111-2222-4333-8444-555555555555", value, description=None,
                       tags={TAG_OWNER: "me"})
    listed = [m.name async for m in store.list_secrets(["/app/"])]
    assert listed == ["/app/one"]
    calls = backend.stats.calls
    assert calls["ssm.PutParameter"] == 1 and proxy.honest("ssm.DescribeParameters") == 1
    # paced in SSM's own buckets, at SSM's quotas
    rates = {cls: r.ceiling for (acct, region, svc, cls), r in backend.caller._rates.items() if svc == "ssm"}
    assert rates == {"ssm-put": 3.0, "ssm-describe": 10.0}


async def test_a_missing_parameter_is_not_found_in_the_stores_terms(aws, proxy, backend):
    store: Any = await backend.endpoint(Identity(), "us-east-1", service="ssm")
    assert await store.describe("/nope") is None
    got = await store.get_values(["/nope"])
    assert got["/nope"].type == "ParameterNotFound"


async def test_organizations_calls_go_through_the_caller(aws, moto_url, proxy, backend):
    import boto3

    from reconciler.aws.organizations import OrgDirectory

    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=moto_url)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="ou")["OrganizationalUnit"]["Id"]
    acct = org.create_account(AccountName="a", Email="a@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=ou)
    directory = OrgDirectory(backend.api("organizations", Identity(), "us-east-1"))
    found = await directory.accounts([ou])
    assert [a.id for a in found] == [acct]
    assert backend.stats.calls["organizations.ListAccountsForParent"] == proxy.calls[
        "organizations.ListAccountsForParent"]  # every call went through the caller
    assert proxy.honest("organizations.ListAccountsForParent") == 1
    assert proxy.honest("organizations.ListChildren") == 1


async def test_ssm_writes_are_paced_under_the_put_quota(aws, proxy, backend):
    # GIVEN Parameter Store's default PutParameter quota (3/s, burst 3) enforced by the proxy
    proxy.set_quotas(**{"ssm-put": 3})
    store: Any = await backend.endpoint(Identity(), "us-east-1", service="ssm")
    value = SecretValue(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:src-AbCdEf", name="src",
                        version_id="v1", stages=["AWSCURRENT"], string="v")
    async with anyio.create_task_group() as tg:
        for i in range(9):
            tg.start_soon(lambda i=i: store.create(f"/paced/p{i}", f"11111111-2222-4333-8444-55555555555{i}",
                                                   value, description=None, tags={}))
    # THEN every write lands and the caller's pacing kept (almost) every call inside the quota
    assert backend.stats.calls["ssm.PutParameter"] == 9 + proxy.injected["quota"]
    assert proxy.injected["quota"] <= 2, proxy.injected
    assert len([m async for m in store.list_secrets(["/paced/"])]) == 9


async def test_assume_role_sends_the_external_id_and_our_session_name(aws, proxy, backend):
    import urllib.parse

    aws.create("b/one", "v", region="us-west-2", account=ACCOUNT_B)
    proxy.record_bodies = True
    store = await backend.endpoint(Identity(ROLE_B, external_id="ext-1"), "us-west-2")
    assert store.account == ACCOUNT_B
    assert [m.name async for m in store.list_secrets(["b/"])] == ["b/one"]  # the assumed role's account
    sent = [urllib.parse.parse_qs(b.decode()) for name, b in proxy.bodies if name == "sts.AssumeRole"]
    assert len(sent) == 1
    assert sent[0]["RoleArn"] == [ROLE_B] and sent[0]["ExternalId"] == ["ext-1"]
    assert sent[0]["RoleSessionName"] == ["secrets-reconciler"] and sent[0]["DurationSeconds"] == ["3600"]


# --- the owned listing split by name (engine.listing.owned_plan run by engine.inventory) ----------

# 800 expected destinations: enough for a split (root "big/x0", split into one value per character)
SPLIT_EXPECTED = [f"big/x{i:04d}" for i in range(800)]


def _seed_owned_everywhere(aws: Any) -> set[str]:
    """Owned secrets where a split can leave them; returns their names. Others' secrets beside."""
    ours = [{"Key": TAG_OWNER, "Value": "me"}]
    owned = {"big/x0",  # the split node itself: no name value covers it (DescribeSecret does)
             "big/x00x",  # under a value that holds expected names
             "big/x0Z",  # under a value that holds none (a spare slot)
             "elsewhere/1",  # outside the root: the one negated value
             "big/x0-gone"}  # scheduled for deletion
    for name in owned:
        aws.create(name, "v", Tags=ours)
    aws.sm().delete_secret(SecretId="big/x0-gone", RecoveryWindowInDays=7)
    aws.create("big/x01", "v", Tags=[{"Key": TAG_OWNER, "Value": "other"}])
    aws.create("big/x02", "v")
    return owned


async def _observe_owned(backend: Backend) -> Any:
    from reconciler.engine.deadline import Deadline
    from reconciler.engine.inventory import Inventory

    inventory = Inventory(backend, "us-east-1", 4, Deadline(None))
    scope = await inventory.scope("secretsmanager", Identity(), "us-east-1")
    await inventory.observe_owned([scope], "me", {id(scope): SPLIT_EXPECTED})
    return scope


async def test_a_split_owned_listing_finds_every_owned_secret_once(aws, proxy, backend):
    # GIVEN owned secrets in every kind of place a split leaves, and a scope expecting 800 names
    from reconciler.aws.secretsmanager import NAME_ALPHABET
    from reconciler.engine.listing import owned_plan

    owned = _seed_owned_everywhere(aws)
    plan = owned_plan(SPLIT_EXPECTED, NAME_ALPHABET)
    assert plan is not None and plan.describe == ["big/x0"]
    # WHEN the scope's owned secrets are observed
    scope = await _observe_owned(backend)
    # THEN each is found exactly once, through parallel calls and one DescribeSecret of the gap
    assert sorted(m.name for m in scope.owned) == sorted(owned)
    assert scope.error is None and scope.found["big/x0-gone"].deleted
    assert proxy.honest("secretsmanager.ListSecrets") == len(plan.calls)
    assert proxy.calls["secretsmanager.DescribeSecret"] == 1


async def test_a_split_owned_listing_that_cannot_read_a_gap_lists_the_scope_whole(aws, proxy, backend, caplog):
    # GIVEN the same secrets, and a policy that denies DescribeSecret on the split node's name
    owned = _seed_owned_everywhere(aws)
    proxy.faults.deny_when = [("DescribeSecret", lambda body: b'"big/x0"' in body,
                               (400, "AccessDeniedException", "not authorized: secretsmanager:DescribeSecret"))]
    # WHEN observed
    scope = await _observe_owned(backend)
    # THEN nothing is taken as absent: one listing by owner tag alone finds them all
    assert sorted(m.name for m in scope.owned) == sorted(owned)
    assert scope.error is None
    assert proxy.honest("secretsmanager.ListSecrets") == 1
    assert any(r.getMessage() == "owned listing not split" for r in caplog.records)
