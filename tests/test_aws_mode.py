"""The fault proxy's AWS mode (issue 16): its pure parts without a server, its answers over HTTP,
and the guarantees the reconciler keeps against it (docs/development/aws-mode.md).

The HTTP tests turn AWS mode on themselves, so they hold in the default run as in tox -e aws-like.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import boto3
import pytest
from awsmode import FakeClock, ListingLag, Pager, refusal
from botocore.exceptions import ClientError

OWNER = "reconciler:owner"
SETTINGS = "retry: {max_attempts: 2, base_delay: 0.01, max_delay: 0.02}"

# --- pure parts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("service", "op", "req", "reason"), [
    ("secretsmanager", "ListSecrets", {"MaxResults": 101}, "list-max-results"),
    ("secretsmanager", "ListSecrets", {"Filters": [{"Key": "name", "Values": ["a"]}] * 11}, "list-filters"),
    ("secretsmanager", "ListSecrets", {"Filters": [{"Key": "name", "Values": ["a"] * 11}]}, "list-filter-values"),
    ("secretsmanager", "ListSecrets", {"Filters": [{"Key": "name", "Values": ["a" * 513]}]}, "list-filter-value"),
    ("secretsmanager", "ListSecrets", {"Filters": [{"Key": "name", "Values": ["a*b"]}]}, "list-filter-value"),
    ("secretsmanager", "BatchGetSecretValue", {"SecretIdList": ["s"] * 21}, "batch-ids"),
    ("ssm", "DescribeParameters", {"MaxResults": 51}, "ssm-describe-max-results"),
    ("ssm", "GetParameters", {"Names": ["/p"] * 11}, "ssm-get-names"),
    ("ssm", "PutParameter", {"Name": "/p", "Value": "v", "Description": "d" * 1025}, "ssm-description"),
    ("ssm", "PutParameter", {"Name": "/p", "Value": "v" * 4097}, "ssm-value-size"),
    ("ssm", "PutParameter", {"Name": "/p", "Value": "v" * 8193, "Tier": "Advanced"}, "ssm-value-size"),
    ("organizations", "ListAccountsForParent", {"ParentId": "ou", "MaxResults": 21}, "org-max-results"),
])
def test_each_server_side_limit_is_refused(service: str, op: str, req: dict[str, Any], reason: str) -> None:
    got = refusal(service, op, req)
    assert got is not None and got[0] == reason
    assert "vvvv" not in got[1]  # a refusal never echoes a value


@pytest.mark.parametrize(("service", "op", "req"), [
    ("secretsmanager", "ListSecrets", {"MaxResults": 100,
                                       "Filters": [{"Key": "name", "Values": ["!a/b_c"] * 10}] * 10}),
    ("secretsmanager", "BatchGetSecretValue", {"SecretIdList": ["s"] * 20}),
    ("ssm", "PutParameter", {"Name": "/p", "Value": "v" * 8192, "Tier": "Advanced", "Description": "d" * 1024}),
    ("ssm", "DescribeParameters", {"MaxResults": 50}),
    ("organizations", "ListChildren", {"ParentId": "ou", "MaxResults": 20}),
])
def test_requests_at_the_limits_pass(service: str, op: str, req: dict[str, Any]) -> None:
    assert refusal(service, op, req) is None


def test_pages_are_empty_first_then_short_each_with_a_token_but_the_last() -> None:
    padding: Counter[str] = Counter()
    pager = Pager(padding)
    token: str | None = pager.start("svc.List", list(range(7)), 4)
    pages = []
    while token is not None:
        chunk, token = pager.page(token, 4)
        pages.append(chunk)
    assert pages == [[0, 1], [2, 3], [4, 5], [6]]  # after the empty first page
    assert padding["svc.List"] == 5 - 2  # five pages served where full pages take two


def test_the_listing_lag_hides_creations_and_shows_writes_as_before_until_the_clock_moves() -> None:
    clock = FakeClock()
    lag = ListingLag(clock)
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dr/a-AbCdEf"
    new = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dr/new-AbCdEf"
    old = {"ARN": arn, "Name": "dr/a", "SecretVersionsToStages": {"v1": ["AWSCURRENT"]}}
    lag.wrote(("123456789012", "us-east-1", "dr/a"), old, 300)
    lag.wrote(("123456789012", "us-east-1", "dr/new"), None, 300)
    now = [{"ARN": arn, "Name": "dr/a", "SecretVersionsToStages": {"v2": ["AWSCURRENT"]}},
           {"ARN": new, "Name": "dr/new"}]
    assert lag.apply(now, 300) == [old]
    clock.advance(299)
    assert lag.apply(now, 300) == [old]
    clock.advance(1)
    assert lag.apply(now, 300) == now


# --- the proxy's answers over HTTP ----------------------------------------------------------------


@pytest.fixture
def sm(proxy: Any) -> Any:
    proxy.faults.aws_mode = True
    return boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=proxy.url)


@pytest.mark.aws_refusals_expected
def test_a_request_beyond_a_limit_is_refused_as_aws_does_and_counted(proxy: Any, sm: Any) -> None:
    with pytest.raises(ClientError) as exc:
        sm.list_secrets(MaxResults=101)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError):
        sm.list_secrets(Filters=[{"Key": "name", "Values": ["a*"]}])
    assert proxy.refused == {"ListSecrets:list-max-results": 1, "ListSecrets:list-filter-value": 1}


def test_listing_lags_behind_writes_through_the_proxy_while_reads_are_current(aws: Any, proxy: Any, sm: Any) -> None:
    # GIVEN a secret seeded before (visible) and one created and one written through the proxy
    aws.create("lag/old", "v1")
    before = aws.describe("lag/old")["VersionIdsToStages"]
    sm.create_secret(Name="lag/new", SecretString="n")
    sm.put_secret_value(SecretId="lag/old", SecretString="v2")
    # THEN within the lag the listing misses the new one and shows the old one's versions as before
    listed = {s["Name"]: s for p in sm.get_paginator("list_secrets").paginate() for s in p["SecretList"]}
    assert set(listed) == {"lag/old"} and listed["lag/old"]["SecretVersionsToStages"] == before
    # AND DescribeSecret and GetSecretValue are current
    assert sm.describe_secret(SecretId="lag/new")["Name"] == "lag/new"
    assert sm.get_secret_value(SecretId="lag/old")["SecretString"] == "v2"
    # WHEN the clock passes the lag THEN the listing caught up
    proxy.clock.advance(proxy.faults.list_lag)
    listed = {s["Name"] for p in sm.get_paginator("list_secrets").paginate() for s in p["SecretList"]}
    assert listed == {"lag/old", "lag/new"}


def test_list_pages_start_empty_and_stay_short_with_a_token(aws: Any, proxy: Any, sm: Any) -> None:
    for i in range(5):
        aws.create(f"page/s{i}", "v")
    first = sm.list_secrets(MaxResults=4)
    assert first["SecretList"] == [] and first["NextToken"]
    sizes = [len(p["SecretList"]) for p in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 4})]
    assert sizes == [0, 2, 2, 1] and sum(sizes) == 5


def test_tag_key_and_tag_value_filters_match_independently(aws: Any, sm: Any) -> None:
    aws.create("tags/other", "v", Tags=[{"Key": OWNER, "Value": "other"}, {"Key": "x", "Value": "secrets-reconciler"}])
    aws.create("tags/Case", "v", Tags=[{"Key": "Reconciler:owner", "Value": "Secrets-reconciler"}])
    got = [s["Name"] for p in sm.get_paginator("list_secrets").paginate(Filters=[
        {"Key": "tag-key", "Values": ["reconciler:own"]}, {"Key": "tag-value", "Values": ["secrets-rec"]}])
        for s in p["SecretList"]]
    assert got == ["tags/other"]  # any key, any value, case-sensitive prefixes


def test_writes_to_a_secret_marked_for_deletion_and_its_name_are_refused(aws: Any, sm: Any) -> None:
    aws.create("del/s", "v")
    aws.sm().delete_secret(SecretId="del/s", RecoveryWindowInDays=7)
    for call in (lambda: sm.tag_resource(SecretId="del/s", Tags=[{"Key": "k", "Value": "v"}]),
                 lambda: sm.untag_resource(SecretId="del/s", TagKeys=["k"]),
                 lambda: sm.put_secret_value(SecretId="del/s", SecretString="w"),
                 lambda: sm.create_secret(Name="del/s", SecretString="w")):
        with pytest.raises(ClientError) as exc:
            call()
        assert exc.value.response["Error"]["Code"] == "InvalidRequestException"
        assert re.search("(marked|scheduled) for deletion", exc.value.response["Error"]["Message"])


def test_a_primary_names_its_own_region_and_a_replica_refuses_writes(aws: Any, proxy: Any, sm: Any) -> None:
    aws.create("rep/p", "v")
    aws.sm().replicate_secret_to_regions(SecretId="rep/p", AddReplicaRegions=[{"Region": "eu-west-1"}])
    primary = sm.describe_secret(SecretId="rep/p")
    assert primary["PrimaryRegion"] == "us-east-1" and primary["ReplicationStatus"][0]["Region"] == "eu-west-1"
    listed = sm.get_paginator("list_secrets").paginate().build_full_result()["SecretList"]
    assert [s.get("PrimaryRegion") for s in listed] == ["us-east-1"]
    replica = boto3.client("secretsmanager", region_name="eu-west-1", endpoint_url=proxy.url)
    with pytest.raises(ClientError) as exc:
        replica.put_secret_value(SecretId="rep/p", SecretString="w")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"


def test_organizations_answers_state_only_in_short_pages(moto_url: str, proxy: Any) -> None:
    proxy.faults.aws_mode = True
    seed = boto3.client("organizations", region_name="us-east-1", endpoint_url=moto_url)
    seed.create_organization(FeatureSet="ALL")
    root = seed.list_roots()["Roots"][0]["Id"]
    for i in range(3):
        seed.create_account(AccountName=f"a{i}", Email=f"a{i}@example.com")
    org = boto3.client("organizations", region_name="us-east-1", endpoint_url=proxy.url)
    pages = list(org.get_paginator("list_accounts_for_parent").paginate(ParentId=root,
                                                                        PaginationConfig={"PageSize": 2}))
    assert [len(p["Accounts"]) for p in pages] == [0, 1, 1, 1, 1]  # the management account and three
    assert all("Status" not in a and a["State"] for p in pages for a in p["Accounts"])


# --- what the reconciler keeps against it ---------------------------------------------------------


def _manifest(write_manifest: Any, ids: list[str], *, prune: bool) -> Any:
    settings = SETTINGS + (", prune: {enabled: true}" if prune else "")
    return write_manifest(f"version: 1\nsettings: {{{settings}}}\n"
                          "defaults:\n  source: {region: us-east-1}\n  destination: {region: us-west-2}\n"
                          "mappings:\n" + "".join(f"  - {{id: {i}, source: prod/{i}, destination: dr/{i}}}\n"
                                                  for i in ids))


def _versions(aws: Any, name: str) -> int:
    return len(aws.describe(name, "us-west-2")["VersionIdsToStages"])


def test_prune_inside_the_lag_window_finds_no_false_orphan_and_deletes_nothing(aws, proxy, write_manifest, run_cli):
    # GIVEN AWS mode, every run inside the lag window of the last, prune on, and 12 mappings
    proxy.faults.aws_mode = True
    proxy.faults.runs_in_lag_window = True
    ids = [f"s{i:02d}" for i in range(12)]
    for i in ids:
        aws.create(f"prod/{i}", f"value-{i}")
    path = _manifest(write_manifest, ids, prune=True)
    # WHEN it runs, the listings still missing its own creations, then runs again at once, twice
    reports = [run_cli("run", str(path)) for _ in range(3)]
    # THEN every run exits 0, no orphan is reported, nothing is deleted, each copy has one version
    for code, report, _ in reports:
        assert code == 0, report
        assert report["totals"]["orphan"] == 0 and report["totals"]["delete"] == 0, report["totals"]
    assert proxy.calls["secretsmanager.DeleteSecret"] == 0
    assert all(_versions(aws, f"dr/{i}") == 1 for i in ids)
    assert not proxy.refused


def test_a_run_inside_the_lag_window_writes_each_destination_at_most_once(aws, proxy, write_manifest, run_cli):
    # GIVEN AWS mode and a converged copy of three sources, which then rotate
    proxy.faults.aws_mode = True
    ids = ["a", "b", "c"]
    for i in ids:
        aws.create(f"prod/{i}", f"v1-{i}")
    path = _manifest(write_manifest, ids, prune=True)
    assert run_cli("run", str(path))[0] == 0
    for i in ids:
        aws.put(f"prod/{i}", f"v2-{i}")
    # WHEN it runs, and runs again inside the lag window (the listing still shows the old copies)
    proxy.faults.runs_in_lag_window = True
    first = run_cli("run", str(path))
    again = run_cli("run", str(path))
    # THEN both exit 0; each destination got exactly one new version; the second run wrote nothing
    assert first[0] == 0 and first[1]["totals"]["update"] == 3, first[1]
    assert again[0] == 0 and again[1]["totals"]["in_sync"] == 3, again[1]
    for i in ids:
        assert _versions(aws, f"dr/{i}") == 2 and aws.value(f"dr/{i}", "us-west-2") == f"v2-{i}"
    assert proxy.calls["secretsmanager.PutSecretValue"] == 3


def test_a_copy_made_inside_the_lag_window_and_edited_is_repaired_not_created(aws, proxy, write_manifest, run_cli):
    # Regression: a destination the lagging listing does not show yet was taken for absent. The
    # plan said "create", and the run's CreateSecret carried a token AWS already held: AWS ignores
    # such a repeat, so the out-of-band edit stayed while the report said "create".
    # GIVEN AWS mode, a copy created by a run, then edited by hand, all inside the lag window
    proxy.faults.aws_mode = True
    proxy.faults.runs_in_lag_window = True
    aws.create("prod/a", "v1-a")
    path = _manifest(write_manifest, ["a"], prune=False)
    assert run_cli("run", str(path))[1]["totals"]["create"] == 1
    aws.put("dr/a", "edited by hand", region="us-west-2")
    # WHEN it plans and runs again before the listing shows the copy
    plan = run_cli("plan", str(path))
    code, report, _ = run_cli("run", str(path))
    # THEN the plan says update, and the run repairs the copy
    assert plan[1]["totals"]["update"] == 1 and plan[1]["totals"]["create"] == 0, plan[1]
    assert code == 0 and report["totals"]["update"] == 1, report
    assert aws.value("dr/a", "us-west-2") == "v1-a"


async def test_a_parameter_behind_an_empty_first_page_is_found(aws: Any, proxy: Any) -> None:
    # Regression (found by AWS mode): describe() read only the first DescribeParameters page, so an
    # empty first page with a NextToken made every existing parameter look absent.
    from reconciler.aws.backend import Backend
    from reconciler.aws.identity import Identity

    aws.client("ssm").put_parameter(Name="/dr/p", Value="v", Type="SecureString")
    proxy.faults.aws_mode = True
    class Retry:
        max_attempts, base_delay, max_delay = 2, 0.01, 0.02

    async with Backend(concurrency=2, retry=Retry()) as backend:
        store: Any = await backend.endpoint(Identity(), "us-east-1", service="ssm")
        meta = await store.describe("/dr/p")
    assert meta is not None and meta.name == "/dr/p"
    assert proxy.calls["ssm.DescribeParameters"] == 2  # the empty page, then the one holding it
