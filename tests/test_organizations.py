"""Organizations discovery: every account under nested OUs, once per run, failures raised."""

from __future__ import annotations

from typing import Any

import aioboto3
import boto3
import pytest

from reconciler.aws.organizations import AccountState, OrgDirectory


def _org(url: str) -> tuple[Any, dict[str, str]]:
    """GIVEN an organization: root -> ou-top -> ou-nested, two accounts deep, one at the top, one elsewhere."""
    o = boto3.client("organizations", region_name="us-east-1", endpoint_url=url)
    o.create_organization(FeatureSet="ALL")
    root = o.list_roots()["Roots"][0]["Id"]
    top = o.create_organizational_unit(ParentId=root, Name="top")["OrganizationalUnit"]["Id"]
    nested = o.create_organizational_unit(ParentId=top, Name="nested")["OrganizationalUnit"]["Id"]
    other = o.create_organizational_unit(ParentId=root, Name="other")["OrganizationalUnit"]["Id"]
    ids: dict[str, str] = {"root": root, "top": top, "nested": nested, "other": other}
    for name, parent in (("a-top", top), ("b-nested", nested), ("c-nested", nested), ("d-other", other)):
        acct = o.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
        o.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=parent)
        ids[name] = acct
    return o, ids


@pytest.fixture
def org(moto_url: str, proxy: Any) -> dict[str, str]:
    return _org(moto_url)[1]


async def test_accounts_under_nested_ous_once_each_with_exclude(org: dict[str, str], proxy: Any) -> None:
    calls: list[str] = []
    async with aioboto3.Session().client("organizations", region_name="us-east-1", endpoint_url=proxy.url) as c:

        async def call(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
            calls.append(op)
            method = {"ListChildren": c.list_children, "ListAccountsForParent": c.list_accounts_for_parent}[op]
            return dict(await method(**kwargs))

        directory = OrgDirectory(call)
        # WHEN the top OU is named twice (and its child too), with one account excluded
        found = await directory.accounts([org["top"], org["nested"], org["top"]], exclude=[org["c-nested"]])
        again = await directory.accounts([org["top"]])
    # THEN every account below it, recursively, once; not the excluded one nor the other OU's
    assert [a.id for a in found] == sorted([org["a-top"], org["b-nested"]])
    assert all(a.state is AccountState.ACTIVE and a.active for a in found)
    assert {a.id for a in again} == {org["a-top"], org["b-nested"], org["c-nested"]}
    # AND each OU was walked once in the run (memoised): top + nested, two calls each
    assert len(calls) == proxy.count("organizations.")
    assert proxy.honest("organizations.ListChildren") + proxy.honest("organizations.ListAccountsForParent") == 4


async def test_a_failed_listing_is_raised_not_read_as_empty(org: dict[str, str], proxy: Any) -> None:
    async with aioboto3.Session().client("organizations", region_name="us-east-1", endpoint_url=proxy.url) as c:

        async def call(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
            return dict(await getattr(c, {"ListChildren": "list_children",
                                          "ListAccountsForParent": "list_accounts_for_parent"}[op])(**kwargs))

        # GIVEN an OU id that does not exist WHEN discovered THEN the error is raised
        with pytest.raises(Exception, match="ParentNotFound"):
            await OrgDirectory(call).accounts(["ou-zzzz-zzzzzzzz"])


async def test_pagination_and_account_states_without_a_server() -> None:
    # GIVEN a fake organization answering one account per page, one of them suspended
    pages = {
        ("ListAccountsForParent", "ou-a", None): {"Accounts": [{"Id": "111111111111", "Name": "x",
                                                                "State": "ACTIVE"}], "NextToken": "t"},
        ("ListAccountsForParent", "ou-a", "t"): {"Accounts": [{"Id": "222222222222", "Name": "y",
                                                               "Status": "SUSPENDED"}]},
        ("ListChildren", "ou-a", None): {"Children": []},
    }

    async def call(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        return pages[(op, kwargs["ParentId"], kwargs.get("NextToken"))]

    # WHEN discovered THEN both pages are read and states are kept for the engine to judge
    found = await OrgDirectory(call).accounts(["ou-a"])
    assert [(a.id, a.state) for a in found] == [("111111111111", AccountState.ACTIVE),
                                                 ("222222222222", AccountState.SUSPENDED)]
    assert not found[1].active


@pytest.mark.parametrize(("entry", "state", "named"), [
    ({"State": "ACTIVE", "Status": "SUSPENDED"}, AccountState.ACTIVE, "ACTIVE"),  # State wins
    ({"Status": "SUSPENDED"}, AccountState.SUSPENDED, "SUSPENDED"),  # Status only when State is absent
    ({"State": "PENDING_ACTIVATION"}, AccountState.PENDING_ACTIVATION, "PENDING_ACTIVATION"),
    ({"State": "PENDING_CLOSURE"}, AccountState.PENDING_CLOSURE, "PENDING_CLOSURE"),
    ({"State": "CLOSED"}, AccountState.CLOSED, "CLOSED"),
    ({"State": "HIBERNATING"}, AccountState.UNKNOWN, "HIBERNATING"),  # a future state, named as AWS named it
    ({"State": None, "Status": "ACTIVE"}, AccountState.UNKNOWN, "UNKNOWN"),  # a State present but empty
    ({}, AccountState.UNKNOWN, "UNKNOWN"),
])
async def test_only_an_active_account_is_active_and_every_other_state_is_named(
        entry: dict[str, Any], state: AccountState, named: str) -> None:
    # GIVEN one account answered with this entry
    async def call(op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        if op == "ListChildren":
            return {"Children": []}
        return {"Accounts": [{"Id": "111111111111", "Name": "x", **entry}]}

    # WHEN discovered THEN its state is read State-first, and only ACTIVE is active (fail closed)
    (account,) = await OrgDirectory(call).accounts(["ou-a"])
    assert account.state is state and account.state_name == named
    assert account.active is (state is AccountState.ACTIVE)
