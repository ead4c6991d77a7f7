"""Parameter Store end to end: the CLI over HTTP against moto, behind the fault proxy.

The drift rule under test (SPEC "Parameter Store", see reconciler/aws/ssm.py): a destination
parameter is in sync exactly when its Description carries ``[reconciler:<token>@<Version>]`` and
that Version is its current one. Any out-of-band PutParameter adds a Version and is caught.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import ACCOUNT_A, ACCOUNT_B, ROLE_B

Run = Callable[..., tuple[int, Any, str]]

OWNER_TAGS = {"reconciler:owner", "reconciler:source", "reconciler:mapping"}


@pytest.fixture
def db_to_ssm(aws: Any, write_manifest: Any) -> Callable[[str], Path]:
    """Factory: source prod/db holding ``value``, and a manifest copying it to the parameter /dr/db."""
    def make(value: str) -> Path:
        aws.create("prod/db", value)
        path: Path = write_manifest("""
            version: 1
            defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
            mappings:
              - {id: db, source: prod/db, destination: {name: /dr/db, service: ssm}}
        """)
        return path
    return make


def ssm(aws: Any, region: str = "us-east-1", account: str = ACCOUNT_A) -> Any:
    return aws.client("ssm", region, account)


def param(aws: Any, name: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> dict[str, Any]:
    """The parameter as Parameter Store has it: value (decrypted), type, version, description, tags."""
    client = ssm(aws, region, account)
    p = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
    meta = client.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    tags = client.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {"value": p["Value"], "type": p["Type"], "version": p["Version"], "tier": meta.get("Tier"),
            "description": meta.get("Description", ""), "tags": {t["Key"]: t["Value"] for t in tags}}


def actions(report: dict[str, Any]) -> dict[str, str]:
    return {f'{i["destination"]["account"]}:{i["destination"]["region"]}:{i["destination"]["name"]}'
            if i["destination"] else i["mapping"]: i["action"] for i in report["items"]}


def ssm_calls(proxy: Any) -> dict[str, int]:
    """SSM calls by operation, listings counted with full pages (AWS mode pads them)."""
    return {k: proxy.honest(k) for k in proxy.calls if k.startswith("ssm.")}


# --- Secrets Manager -> Parameter Store ---------------------------------------------------------


def test_a_secret_becomes_a_secure_string_with_ownership_tags_and_then_stays_in_sync(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    # GIVEN a secret and a manifest copying it to Parameter Store with a description and a tag
    src = aws.create("prod/db", "hunter2")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - id: db
            source: prod/db
            destination: {name: /dr/db, service: ssm, description: "DR copy", tags: {team: data}}
    """)
    # WHEN it runs
    code, report, _ = run_cli("run", str(m))
    # THEN the parameter is created as a SecureString, tagged as ours in the same call
    assert code == 0 and actions(report) == {f"{ACCOUNT_A}:us-east-1:/dr/db": "create"}
    got = param(aws, "/dr/db")
    assert got["value"] == "hunter2" and got["type"] == "SecureString" and got["version"] == 1
    assert got["tags"].items() >= {"team": "data", "reconciler:owner": "secrets-reconciler",
                                   "reconciler:source": src["ARN"], "reconciler:mapping": "db"}.items()
    assert got["description"].startswith("DR copy [reconciler:") and got["description"].endswith("@1]")
    assert "ssm.AddTagsToResource" not in proxy.calls  # tags went with PutParameter (no Overwrite)
    # WHEN it runs again THEN it is in sync from metadata alone: no value read, nothing written
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["totals"]["in_sync"] == 1
    assert ssm_calls(proxy) == {"ssm.DescribeParameters": 1}
    assert "secretsmanager.BatchGetSecretValue" not in proxy.calls
    assert "secretsmanager.GetSecretValue" not in proxy.calls


def test_an_out_of_band_edit_is_caught_even_with_the_description_copied(
        aws: Any, proxy: Any, db_to_ssm: Callable[[str], Path], run_cli: Run) -> None:
    m = db_to_ssm("hunter2")
    assert run_cli("run", str(m))[0] == 0
    # WHEN someone overwrites the value and even copies our description (marker included)
    before = param(aws, "/dr/db")
    ssm(aws).put_parameter(Name="/dr/db", Value="edited", Type="SecureString", Overwrite=True,
                           Description=before["description"])
    # THEN plan sees it from metadata (the marker names version 1, the parameter is at 2): exit 3
    proxy.calls.clear()
    code, report, _ = run_cli("plan", str(m))
    assert code == 3 and report["items"][0]["action"] == "update"
    assert "destination changed outside the reconciler" in report["items"][0]["reason"]
    assert "ssm.GetParameters" not in proxy.calls and "ssm.PutParameter" not in proxy.calls
    # AND run puts the source's value back, once; the next run is in sync
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["items"][0]["action"] == "update"
    assert param(aws, "/dr/db")["value"] == "hunter2"
    assert run_cli("run", str(m))[1]["totals"]["in_sync"] == 1


def test_a_parameter_re_created_out_of_band_with_our_marker_is_caught(
        aws: Any, proxy: Any, db_to_ssm: Callable[[str], Path], run_cli: Run) -> None:
    m = db_to_ssm("hunter2")
    assert run_cli("run", str(m))[0] == 0
    # WHEN someone deletes the copy and re-creates it (version 1 again) with our marker copied, no tags
    before = param(aws, "/dr/db")
    ssm(aws).delete_parameter(Name="/dr/db")
    ssm(aws).put_parameter(Name="/dr/db", Value="EVIL", Type="SecureString", Description=before["description"])
    # THEN it is not taken as in sync: confirmed with its tags, it is not ours: a conflict, untouched
    code, report, _ = run_cli("plan", str(m))
    assert code == 1 and report["items"][0]["action"] == "conflict", report["items"][0]
    assert run_cli("run", str(m))[1]["items"][0]["action"] == "conflict"
    assert param(aws, "/dr/db")["value"] == "EVIL"


def test_a_description_change_is_written_with_the_value_once_and_then_settles(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/db", "hunter2")
    text = """
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: db, source: prod/db, destination: {name: /dr/db, service: ssm, description: "%s"}}
    """
    assert run_cli("run", str(write_manifest(text % "first")))[0] == 0
    # WHEN only the manifest's description changes
    m = write_manifest(text % "second")
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    # THEN one PutParameter carries it (Parameter Store keeps the token there); no loop after
    assert code == 0 and report["items"][0]["action"] == "update"
    assert proxy.calls["ssm.PutParameter"] == 1
    got = param(aws, "/dr/db")
    assert got["description"].startswith("second [reconciler:") and got["value"] == "hunter2"
    proxy.calls.clear()
    assert run_cli("run", str(m))[1]["totals"]["in_sync"] == 1
    assert "ssm.PutParameter" not in proxy.calls


def test_a_change_of_extra_tags_is_seen_from_the_listing_and_applied(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/db", "hunter2")
    text = """
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: db, source: prod/db, destination: {name: /dr/db, service: ssm, tags: %s}}
    """
    assert run_cli("run", str(write_manifest(text % "{team: data, tier: gold}")))[0] == 0
    # WHEN the manifest's tags change (the listing shows none: the token covers them)
    m = write_manifest(text % "{team: ops}")
    code, report, _ = run_cli("run", str(m))
    # THEN the destination is confirmed and its tags follow; a tag the manifest dropped is removed
    assert code == 0 and report["items"][0]["action"] == "update"
    tags = param(aws, "/dr/db")["tags"]
    assert tags["team"] == "ops" and "tier" not in tags and tags["reconciler:owner"] == "secrets-reconciler"
    proxy.calls.clear()
    assert run_cli("run", str(m))[1]["totals"]["in_sync"] == 1
    assert "ssm.PutParameter" not in proxy.calls and "ssm.ListTagsForResource" not in proxy.calls


def test_a_description_too_long_for_the_marker_fails_that_item_clearly(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/db", "hunter2")
    m = write_manifest(f"""
        version: 1
        defaults: {{source: {{region: us-east-1}}, destination: {{region: us-east-1}}}}
        mappings:
          - {{id: db, source: prod/db, destination: {{name: /dr/db, service: ssm, description: "{'d' * 1000}"}}}}
    """)
    code, report, _ = run_cli("run", str(m))
    assert code == 1 and report["items"][0]["error"]["type"] == "DescriptionTooLong"
    assert "ssm.PutParameter" not in proxy.calls


def test_a_value_over_4_kb_for_a_standard_destination_fails_before_any_put(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/big", "x" * 5000)
    aws.create("prod/big2", "y" * 5000)
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: big, source: prod/big, destination: {name: /dr/big, service: ssm, tier: Standard}}
          - {id: big2, source: prod/big2, destination: {name: /dr/big2, service: ssm, tier: Advanced}}
    """)
    # WHEN plan runs (it reads the values of what it would write to Parameter Store), with --diff
    # or without, THEN the Standard one fails with sizes, never content
    for extra in ((), ("--diff",)):
        code, report, _ = run_cli("plan", str(m), *extra)
        by_id = {i["mapping"]: i for i in report["items"]}
        assert code == 1 and by_id["big"]["action"] == "failed" and by_id["big2"]["action"] == "create"
        err = by_id["big"]["error"]
        assert err["type"] == "ValueTooLargeForTier" and "5000 bytes" in err["message"] and "4096" in err["message"]
        assert "xxxx" not in json.dumps(report)
    assert "ssm.PutParameter" not in proxy.calls
    # WHEN it runs THEN the same failure, and PutParameter is called for the Advanced one only
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    by_id = {i["mapping"]: i for i in report["items"]}
    assert code == 1 and by_id["big"]["error"]["type"] == "ValueTooLargeForTier"
    assert proxy.calls["ssm.PutParameter"] == 1
    assert param(aws, "/dr/big2")["tier"] == "Advanced"


def test_a_binary_secret_to_a_parameter_fails_that_item_only(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/bin", b"\x00\x01binary")
    aws.create("prod/text", "plain")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: bin, source: prod/bin, destination: {name: /dr/bin, service: ssm}}
          - {id: text, source: prod/text, destination: {name: /dr/text, service: ssm, type: String}}
    """)
    code, report, _ = run_cli("run", str(m))
    by_id = {i["mapping"]: i for i in report["items"]}
    assert code == 1 and by_id["bin"]["error"]["type"] == "BinaryNotSupported"
    assert by_id["text"]["action"] == "create" and param(aws, "/dr/text")["type"] == "String"
    assert proxy.calls["ssm.PutParameter"] == 1


def test_a_secret_and_a_parameter_of_one_name_are_two_destinations(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    aws.create("prod/db", "hunter2")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: db, source: prod/db, destinations: [dr-db, {name: dr-db, service: ssm}]}
    """)
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and [i["action"] for i in report["items"]] == ["create", "create"]
    assert aws.value("dr-db") == "hunter2" and param(aws, "dr-db")["value"] == "hunter2"


# --- ownership ---------------------------------------------------------------------------------


def test_an_existing_parameter_is_confirmed_before_anything_is_written(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    # GIVEN parameters that exist and are not ours (the listing shows no tags)
    aws.create("prod/a", "A")
    aws.create("prod/b", "B")
    ssm(aws).put_parameter(Name="/dr/a", Value="theirs", Type="String")
    ssm(aws).put_parameter(Name="/dr/b", Value="theirs too", Type="String")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: a, source: prod/a, destination: {name: /dr/a, service: ssm}}
          - {id: b, source: prod/b, destination: {name: /dr/b, service: ssm}, on_existing: adopt}
    """)
    code, report, _ = run_cli("run", str(m))
    by_id = {i["mapping"]: i for i in report["items"]}
    # THEN the one without adopt is a conflict, untouched, decided after ListTagsForResource
    assert code == 1 and by_id["a"]["action"] == "conflict"
    assert param(aws, "/dr/a")["value"] == "theirs"
    assert proxy.calls["ssm.ListTagsForResource"] == 2
    # AND the adopted one is tagged first (AddTagsToResource: Tags cannot go with Overwrite), then written
    assert by_id["b"]["action"] == "update" and by_id["b"]["reason"] == "adopting an existing destination"
    got = param(aws, "/dr/b")
    assert got["value"] == "B" and set(got["tags"]) >= OWNER_TAGS
    assert proxy.calls["ssm.AddTagsToResource"] == 1 and proxy.calls["ssm.PutParameter"] == 1
    # AND a parameter owned by someone else is a conflict
    ssm(aws).add_tags_to_resource(ResourceType="Parameter", ResourceId="/dr/a",
                                  Tags=[{"Key": "reconciler:owner", "Value": "someone-else"}])
    code, report, _ = run_cli("run", str(m))
    assert {i["mapping"]: i["action"] for i in report["items"]} == {"a": "conflict", "b": "in_sync"}
    assert "another owner" in next(i["reason"] for i in report["items"] if i["mapping"] == "a")


# --- Parameter Store -> Secrets Manager, types, prefixes, batches --------------------------------


def test_string_stringlist_and_securestring_sources_are_copied_to_secrets_with_a_transform(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    client = ssm(aws)
    kinds = ("String", "StringList", "SecureString")
    for i in range(12):
        client.put_parameter(Name=f"/app/prod/p{i:02d}", Value=f"host=us-east-1.example,{i}", Type=kinds[i % 3])
    client.put_parameter(Name="/app/prodx", Value="not under the prefix", Type="String")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - id: app
            source: {name: "/app/prod/*", service: ssm}
            destination: "dr/app/*"
            transform:
              - sed: ["s/us-east-1/${REGION}/g"]
    """)
    proxy.record_bodies = True
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["totals"]["create"] == 12
    # THEN every type is copied as text, the SecureString decrypted, the prefix matched by name
    for i in range(12):
        assert aws.value(f"dr/app/p{i:02d}", region="us-west-2") == f"host=us-west-2.example,{i}"
    assert aws.names(region="us-west-2") == [f"dr/app/p{i:02d}" for i in range(12)]
    # AND values were read in batches (up to ten names a GetParameters call, as many as were queued), each once
    batches = [json.loads(b)["Names"] for op, b in proxy.bodies if op == "ssm.GetParameters"]
    assert all(1 <= len(names) <= 10 for names in batches)
    assert sorted(n for names in batches for n in names) == [f"/app/prod/p{i:02d}" for i in range(12)]
    tags = aws.tags("dr/app/p00", region="us-west-2")
    assert tags["reconciler:source"] == f"arn:aws:ssm:us-east-1:{ACCOUNT_A}:parameter/app/prod/p00"
    # WHEN it runs again THEN in sync: the source's Version is its version id in listings and reads alike
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["totals"]["in_sync"] == 12
    assert "ssm.GetParameters" not in proxy.calls


def test_a_source_rewritten_with_an_old_value_is_synced_again(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    client = ssm(aws)
    client.put_parameter(Name="/app/key", Value="v1", Type="SecureString")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: key, source: {name: /app/key, service: ssm}, destination: {name: /dr/key, service: ssm}}
    """)
    assert run_cli("run", str(m))[0] == 0
    client.put_parameter(Name="/app/key", Value="v2", Type="SecureString", Overwrite=True)
    assert run_cli("run", str(m))[1]["items"][0]["action"] == "update"
    assert param(aws, "/dr/key")["value"] == "v2"
    # WHEN the source is rolled back (an old value written again: Parameter Store adds Version 3)
    client.put_parameter(Name="/app/key", Value="v1", Type="SecureString", Overwrite=True)
    code, report, _ = run_cli("run", str(m))
    # THEN the destination follows
    assert code == 0 and report["items"][0]["action"] == "update"
    assert param(aws, "/dr/key")["value"] == "v1"
    assert run_cli("run", str(m))[1]["totals"]["in_sync"] == 1


def test_steady_state_costs_at_most_0_15_ssm_calls_per_parameter(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    client = ssm(aws)
    for i in range(30):
        client.put_parameter(Name=f"/cfg/prod/p{i:02d}", Value=f"value {i}", Type="String")
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: cfg, source: {name: "/cfg/prod/*", service: ssm}, destination: {name: "/cfg/dr/*", service: ssm}}
    """)
    # the first run only seeds: it is not what is measured, so it need not crawl at 3 puts/s
    from reconciler.aws import call

    with monkeypatch.context() as seeding:
        seeding.setattr(call, "QUOTAS", {**call.QUOTAS, ("ssm", "ssm-put"): 1000.0, ("ssm", "ssm-write"): 1000.0})
        assert run_cli("run", str(m))[1]["totals"]["create"] == 30
    # WHEN nothing changed
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    # THEN 30 in sync for at most 0.15 SSM calls each (listings only: no values, no tags)
    assert code == 0 and report["totals"]["in_sync"] == 30
    calls = ssm_calls(proxy)
    assert sum(calls.values()) / 30 <= 0.15, calls
    assert set(calls) == {"ssm.DescribeParameters"}


def test_a_put_whose_answer_was_lost_is_retried_and_ends_in_sync(
        aws: Any, proxy: Any, db_to_ssm: Callable[[str], Path], run_cli: Run) -> None:
    m = db_to_ssm("v1")
    # GIVEN the create lands but its answer is lost (the process never hears of it)
    proxy.faults.lose_answer = {"PutParameter": 1}
    code, report, _ = run_cli("run", str(m))
    # THEN the retry meets ParameterAlreadyExists, describes, finds its own write: created, in sync
    assert code == 0 and report["items"][0]["action"] == "create", report["items"]
    assert proxy.injected["lost_answer"] == 1
    # GIVEN an update whose answer is lost (the retry adds one more Version than the marker names)
    aws.put("prod/db", "v2")
    proxy.faults.lose_answer = {"PutParameter": 1}
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["items"][0]["action"] == "update"
    assert param(aws, "/dr/db")["value"] == "v2"
    # THEN the next run is in sync: no write
    proxy.calls.clear()
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["totals"]["in_sync"] == 1 and "ssm.PutParameter" not in proxy.calls


def test_throttled_puts_are_paced_and_retried(aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    for i in range(8):
        aws.create(f"prod/t{i}", f"v{i}")
    m = write_manifest("""
        version: 1
        settings: {retry: {max_attempts: 8, base_delay: 0.05, max_delay: 0.5}}
        defaults: {source: {region: us-east-1}, destination: {region: us-east-1}}
        mappings:
          - {id: t, source: "prod/t*", destination: {name: "/dr/t*", service: ssm}}
    """)
    # GIVEN an account whose PutParameter quota is below the default 3/s the pacer starts at
    # (the proxy answers AWS's 400 ThrottlingException "Rate exceeded" beyond it)
    proxy.set_quotas(**{"ssm-put": 1.5})
    code, report, _ = run_cli("run", str(m))
    # THEN every parameter is created: throttled puts are retried, and the pace comes down
    assert code == 0 and report["totals"]["create"] == 8
    assert proxy.calls["ssm.PutParameter"] - proxy.injected["quota:ssm-put"] == 8
    assert report["api_calls"]["ssm.PutParameter"] == proxy.calls["ssm.PutParameter"]  # throttled ones included
    # slowed for the whole fan-out, not one task at a time (a bound, not a race: timing decides the count)
    assert proxy.injected["quota:ssm-put"] <= 2 * 8


def test_planner_never_decides_a_write_from_a_listing_without_tags() -> None:
    """Pure: a destination listed without tags is in sync by its token, or must be confirmed."""
    from reconciler._types import SecretMeta
    from reconciler.engine.actions import Action, Op
    from reconciler.engine.planner import Desired, carry_description, decide

    source = SecretMeta(arn="arn:aws:secretsmanager:us-east-1:111111111111:secret:s-AbCdEf", name="s",
                        versions={"v1": ["AWSCURRENT"]}, tags={})
    token = "0b7c5a3e-1111-5222-8333-944455556666"
    desired = Desired(owner="me", mapping_id="m", on_existing="adopt", description="d")

    def listed(synced: str | None, description: str | None = "d", owned: bool = True) -> SecretMeta:
        # owned: the store's tag-filtered listing proved reconciler:owner (and nothing else)
        return SecretMeta(arn="arn:aws:ssm:us-east-1:111111111111:parameter/p", name="/p",
                          versions={"3": ["AWSCURRENT"]}, tags={"reconciler:owner": "me"} if owned else {},
                          description=description, synced_token=synced, tags_known=False)

    in_sync = decide(source=source, source_version="v1", token=token, dest=listed(token), desired=desired)
    assert in_sync.action == Action.IN_SYNC
    # the marker alone (copied onto a parameter re-created out of band) is not in sync
    for dest in (listed(None), listed("another-token"), listed(token, "old"), listed(token, owned=False)):
        d = decide(source=source, source_version="v1", token=token, dest=dest, desired=desired)
        # not "adopt", not "conflict": nothing is known of its tags until it is described
        assert (d.action, d.adopt, d.tags) == (Action.UPDATE, False, {}) and "confirmed" in d.reason
    # once described (tags known, ours), a description change alone is a value write for such a store
    described = SecretMeta(arn="arn:aws:ssm:us-east-1:111111111111:parameter/p", name="/p",
                           versions={"3": ["AWSCURRENT"]}, description="old", synced_token=token,
                           tags={"reconciler:owner": "me", "reconciler:source": source.arn, "reconciler:mapping": "m"})
    d = decide(source=source, source_version="v1", token=token, dest=described, desired=desired)
    assert d.op == Op.NONE and d.description == "d"
    assert carry_description(d).op == Op.PUT


# --- both directions, cross-account and cross-region ---------------------------------------------


def test_both_directions_cross_account_and_cross_region_with_transforms(
        aws: Any, proxy: Any, write_manifest: Any, run_cli: Run) -> None:
    # GIVEN a secret in account A (us-east-1), and a parameter in account B (eu-west-1)
    src = aws.create("prod/api", '{"host": "api.us-east-1.internal", "key": "k1"}')
    ssm(aws, "eu-west-1", ACCOUNT_B).put_parameter(Name="/b/config", Value="region=eu-west-1\ndebug=true",
                                                   Type="SecureString")
    m = write_manifest(f"""
        version: 1
        mappings:
          - id: to-ssm
            source: {{name: prod/api, region: us-east-1}}
            destination: {{name: /replica/api, service: ssm, region: eu-west-1, role_arn: "{ROLE_B}"}}
            transform:
              - json: {{"$.host": "api.${{REGION}}.internal"}}
          - id: to-sm
            source: {{name: /b/config, service: ssm, region: eu-west-1, role_arn: "{ROLE_B}"}}
            destination: {{name: from-b/config, region: us-west-2}}
            transform:
              - sed: ["/^debug=/d", "s/eu-west-1/${{REGION}}/"]
    """)
    code, report, _ = run_cli("run", str(m))
    assert code == 0, report
    assert actions(report) == {f"{ACCOUNT_B}:eu-west-1:/replica/api": "create",
                               f"{ACCOUNT_A}:us-west-2:from-b/config": "create"}
    # THEN Secrets Manager -> Parameter Store, in account B, transformed
    got = param(aws, "/replica/api", "eu-west-1", ACCOUNT_B)
    assert json.loads(got["value"]) == {"host": "api.eu-west-1.internal", "key": "k1"}
    assert got["tags"]["reconciler:source"] == src["ARN"]
    # AND Parameter Store -> Secrets Manager, in account A, transformed
    assert aws.value("from-b/config", region="us-west-2") == "region=us-west-2\n"  # as sed -E prints it
    assert aws.tags("from-b/config", region="us-west-2")["reconciler:source"] == \
        f"arn:aws:ssm:eu-west-1:{ACCOUNT_B}:parameter/b/config"
    # AND the next run is in sync on both sides
    code, report, _ = run_cli("run", str(m))
    assert code == 0 and report["totals"]["in_sync"] == 2


# --- errors and policies -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "kind", "exc_type"), [
    ("ParameterNotFound", "permanent", "NotFoundError"),
    ("ThrottlingException", "throttling", "ThrottlingError"),
    ("TooManyUpdates", "throttling", "ThrottlingError"),
    ("AccessDeniedException", "permanent", "AccessDeniedError"),
    ("ParameterLimitExceeded", "permanent", "PermanentError"),
    ("ParameterMaxVersionLimitExceeded", "permanent", "PermanentError"),
    ("HierarchyLevelLimitExceeded", "permanent", "PermanentError"),
    ("InvalidKeyId", "permanent", "PermanentError"),
    ("ParameterAlreadyExists", "permanent", "AlreadyExistsError"),
    ("InternalServerError", "transient", "TransientError"),
])
def test_parameter_store_error_codes_are_translated(code: str, kind: str, exc_type: str) -> None:
    from reconciler.aws.errors import classify, translate

    err = ClientError({"Error": {"Code": code, "Message": "about /dr/x"},
                       "ResponseMetadata": {"HTTPStatusCode": 500 if code.startswith("Internal") else 400}},
                      "PutParameter")
    out = translate(err, "PutParameter")
    assert classify(code).value == kind
    assert type(out).__name__ == exc_type and out.type == code and "PutParameter" in out.message


def test_iam_policy_grants_the_parameter_store_calls(aws: Any, proxy: Any, write_manifest: Any,
                                                     run_cli: Run) -> None:
    m = write_manifest("""
        version: 1
        defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}
        mappings:
          - {id: a, source: {name: "/app/prod/*", service: ssm}, destination: "dr/app/*"}
          - {id: b, source: prod/b, destination: {name: /dr/b, service: ssm, kms_key_id: alias/dr}}
    """)
    code, out, _ = run_cli("iam-policy", str(m))
    assert code == 0
    text = out if isinstance(out, str) else json.dumps(out)
    for action in ("ssm:DescribeParameters", "ssm:GetParameters", "ssm:PutParameter", "ssm:AddTagsToResource",
                   "ssm:ListTagsForResource", "kms:Decrypt", "kms:GenerateDataKey"):
        assert action in text, action
    assert "parameter/app/prod/*" in text and "parameter/dr/b" in text
    assert "ssm:resourceTag/reconciler:owner" in text or "aws:ResourceTag/reconciler:owner" in text


def test_example_manifests_validate(run_cli: Run) -> None:
    root = Path(__file__).resolve().parents[1] / "config"
    for path in sorted(root.glob("ssm-*.yaml")):
        code, out, err = run_cli("validate", str(path))
        assert code == 0, (path, out, err)
