"""Parameter Store facade over HTTP (moto): the token marker catches every out-of-band edit."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
import boto3
import pytest

from reconciler._types import SecretValue
from reconciler.aws.ssm import (
    ParameterStore,
    ParamTier,
    ParamType,
    SsmApi,
    TooLargeForTier,
    WriteOptions,
    parameter_arn,
    parameter_name,
    split_marker,
    with_marker,
)

TOKEN = "0b7c5a3e-1111-5222-8333-944455556666"
TOKEN2 = "0b7c5a3e-1111-5222-8333-944455557777"


def _value(text: str) -> SecretValue:
    return SecretValue(arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:src-AbCdEf", name="src",
                       version_id="v1", stages=["AWSCURRENT"], string=text)


@pytest.fixture
async def store(proxy: Any) -> AsyncIterator[tuple[ParameterStore, Counter[str]]]:
    calls: Counter[str] = Counter()
    async with aioboto3.Session().client("ssm", region_name="us-east-1", endpoint_url=proxy.url) as client:

        async def call(op: str, kwargs: dict[str, Any], api: SsmApi) -> dict[str, Any]:
            calls[op] += 1
            method = getattr(client, "".join("_" + c.lower() if c.isupper() else c for c in op).lstrip("_"))
            return dict(await method(**kwargs))

        yield ParameterStore(call, region="us-east-1", account="123456789012"), calls


def _ssm(moto_url: str) -> Any:
    return boto3.client("ssm", region_name="us-east-1", endpoint_url=moto_url)


async def test_written_parameter_is_in_sync_until_edited_out_of_band(store: Any, moto_url: str) -> None:
    ps, _calls = store
    # GIVEN a destination the facade created with a token
    await ps.create("/dr/db", TOKEN, _value("hunter2"), description="copied",
                    tags={"reconciler:owner": "me"}, options=WriteOptions(type=ParamType.SECURE_STRING))
    # WHEN it is listed THEN it carries the token, without tags (the listing has none)
    listed = [m async for m in ps.list_secrets(["/dr/"])]
    assert [(m.name, m.synced_token, m.tags_known, m.description) for m in listed] == \
        [("/dr/db", TOKEN, False, "copied")]
    described = await ps.describe("/dr/db")
    assert described is not None and described.tags == {"reconciler:owner": "me"} and described.tags_known
    # WHEN someone overwrites it without touching the description
    _ssm(moto_url).put_parameter(Name="/dr/db", Value="edited", Type="SecureString", Overwrite=True)
    # THEN the marker no longer matches: the edit is caught
    again = await ps.describe("/dr/db")
    assert again is not None and again.synced_token is None and again.description == "copied"
    # WHEN the facade writes again THEN the marker names the new current version
    assert await ps.put_value("/dr/db", TOKEN2, _value("hunter2"), description="copied") == ["AWSCURRENT"]
    final = await ps.describe("/dr/db")
    assert final is not None and final.synced_token == TOKEN2 and final.current_version == "3"
    got = await ps.get_values(["/dr/db"])
    assert isinstance(got["/dr/db"], SecretValue) and got["/dr/db"].string == "hunter2"


async def test_values_are_read_ten_names_a_call_and_missing_ones_are_not_found(store: Any, moto_url: str) -> None:
    ps, calls = store
    ssm = _ssm(moto_url)
    for i in range(9):
        ssm.put_parameter(Name=f"/src/p{i}", Value=f"v{i}", Type="StringList" if i % 2 else "String")
    names = [f"/src/p{i}" for i in range(9)] + ["/src/missing"]
    got = await ps.get_values(names)
    assert calls["GetParameters"] == 1
    assert [v.string for k, v in got.items() if isinstance(v, SecretValue)] == [f"v{i}" for i in range(9)]
    assert type(got["/src/missing"]).__name__ == "NotFoundError"
    # a source's version id is its Version, in listings and reads alike
    listed = {m.name: m for m in [m async for m in ps.list_secrets(["/src/"])]}
    assert listed["/src/p0"].current_version == got["/src/p0"].version_id == "1"  # type: ignore[union-attr]


async def test_owned_parameters_are_listed_by_tag(store: Any, moto_url: str) -> None:
    ps, _ = store
    await ps.create("/dr/a", TOKEN, _value("x"), description=None, tags={"reconciler:owner": "me"})
    await ps.create("/dr/b", TOKEN, _value("x"), description=None, tags={"reconciler:owner": "other"})
    _ssm(moto_url).put_parameter(Name="/dr/c", Value="x", Type="String")
    owned = [m.name async for m in ps.list_owned("me")]
    assert owned == ["/dr/a"]


async def test_a_value_over_the_tier_limit_is_refused_before_any_call(store: Any) -> None:
    ps, calls = store
    with pytest.raises(TooLargeForTier, match="4096"):
        await ps.create("/dr/big", TOKEN, _value("x" * 5000), description=None, tags={})
    assert not calls
    await ps.create("/dr/big", TOKEN, _value("x" * 5000), description=None, tags={},
                    options=WriteOptions(tier=ParamTier.ADVANCED))
    assert calls["PutParameter"] == 1


def test_names_arns_and_markers() -> None:
    assert parameter_arn("aws", "us-east-1", "1" * 12, "/a/b") == "arn:aws:ssm:us-east-1:111111111111:parameter/a/b"
    assert parameter_name("arn:aws:ssm:us-east-1:111111111111:parameter/a/b") == "/a/b"
    assert parameter_name("arn:aws:ssm:us-east-1:111111111111:parameter/plain") == "plain"
    assert split_marker(with_marker("desc", TOKEN, 7)) == ("desc", TOKEN, 7)
    assert split_marker(with_marker(None, TOKEN, 1)) == (None, TOKEN, 1)
    assert split_marker("someone's [reconciler:nope@1]") == ("someone's [reconciler:nope@1]", None, None)
    with pytest.raises(ValueError, match="description"):
        with_marker("d" * 1000, TOKEN, 1)
