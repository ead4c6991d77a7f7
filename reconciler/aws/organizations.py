"""AWS Organizations: the accounts under a set of organizational units, found once per run.

The engine expands a destination with ``accounts: {organizational_units, exclude}`` into one
destination per account this module finds. It needs two read-only calls, ListChildren (for
nested OUs) and ListAccountsForParent, both paginated; every call goes through the ``call``
function the caller passes in, so pacing, retries and call counts are the backend's, not ours.

Invariants:
- Discovery is memoised per OU for the life of one ``OrgDirectory`` (one run): a manifest that
  names the same OU in fifty mappings costs one walk.
- A failure to list is raised, never read as "no accounts": an empty OU and an OU that could not
  be observed must not look alike (SPEC: failures are never silent).
- Every account is returned whatever its state; the engine fails the items of accounts that are
  not ACTIVE, one log line per account, so a suspended account is visible rather than skipped.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

__all__ = ["MAX_OU_DEPTH", "AccountState", "DiscoveryError", "OrgAccount", "OrgCall", "OrgDirectory",
           "reported_state"]

# AWS allows five levels of OUs under the root; a walk deeper than this means a bad answer.
MAX_OU_DEPTH = 5
# Bounds one run's discovery whatever the organization looks like (AWS's default quota is
# 10,000 accounts per organization and 2,000 OUs).
MAX_OUS_WALKED = 5_000

OrgCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""``await call("ListChildren", {"ParentId": ...})`` -> the response dict."""


class AccountState(str, enum.Enum):
    """An account's lifecycle state; only ACTIVE is written to. Every other state, and one this
    code does not know yet (UNKNOWN), fails the account's items: closed, never skipped silently."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    PENDING_ACTIVATION = "PENDING_ACTIVATION"
    PENDING_CLOSURE = "PENDING_CLOSURE"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, entry: dict[str, Any]) -> AccountState:
        return cls.of(reported_state(entry))

    @classmethod
    def of(cls, raw: str) -> AccountState:
        try:
            return cls(raw)
        except ValueError:
            return cls.UNKNOWN


# How much of a state AWS names is quoted back in a report (it is AWS's word, never a secret).
_STATE_QUOTED_CHARS = 40


def reported_state(entry: dict[str, Any]) -> str:
    """The state an account entry names: ``State``; ``Status`` (retired on 2026-09-09) only when
    ``State`` is absent, so an older answer still works and a present State always wins."""
    raw = entry["State"] if "State" in entry else entry.get("Status")
    return str(raw or "")[:_STATE_QUOTED_CHARS] or "UNKNOWN"


@dataclass(frozen=True, slots=True)
class OrgAccount:
    id: str
    name: str
    state: AccountState
    parent: str  # the OU (or root) the account sits directly under
    reported: str = ""  # the state as AWS named it (differs from ``state`` only when UNKNOWN)

    @property
    def active(self) -> bool:
        return self.state is AccountState.ACTIVE

    @property
    def state_name(self) -> str:
        """For reports and logs: the known state, or the unknown one as AWS named it."""
        return self.reported if self.state is AccountState.UNKNOWN and self.reported else self.state.value


class DiscoveryError(Exception):
    """The organization's answer is unusable (too deep, too large); never holds a secret."""


class OrgDirectory:
    """Accounts under OUs, walked recursively; each OU is listed at most once per run."""

    def __init__(self, call: OrgCall) -> None:
        self._call = call
        # parent id -> (accounts directly under it, child OU ids); memoised per OU, not per
        # subtree, so naming an OU and its parent in two mappings lists the child once.
        self._nodes: dict[str, tuple[tuple[OrgAccount, ...], tuple[str, ...]]] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def accounts(self, units: Sequence[str], exclude: Collection[str] = ()) -> list[OrgAccount]:
        """Every account under ``units`` (recursively), minus ``exclude``, in id order, each once."""
        found: dict[str, OrgAccount] = {}
        for unit in units:
            level = [unit]
            for _depth in range(MAX_OU_DEPTH + 2):  # the OU itself plus up to five levels below
                if not level:
                    break
                nxt: list[str] = []
                for parent in level:
                    accounts, children = await self._node(parent)
                    for account in accounts:
                        found.setdefault(account.id, account)
                    nxt.extend(children)
                level = nxt
            else:
                raise DiscoveryError(f"{unit}: organizational units nest deeper than {MAX_OU_DEPTH} levels")
        return sorted((a for a in found.values() if a.id not in exclude), key=lambda a: a.id)

    async def _node(self, parent: str) -> tuple[tuple[OrgAccount, ...], tuple[str, ...]]:
        lock = self._locks.setdefault(parent, anyio.Lock())
        async with lock:  # two tasks naming one OU at once list it once
            if parent not in self._nodes:
                if len(self._nodes) >= MAX_OUS_WALKED:
                    raise DiscoveryError(f"more than {MAX_OUS_WALKED} organizational units")
                accounts = [OrgAccount(str(e["Id"]), str(e.get("Name", "")), AccountState.parse(e), parent,
                                       reported_state(e))
                            async for e in self._pages("ListAccountsForParent", {"ParentId": parent}, "Accounts")]
                children = [str(e["Id"]) async for e in self._pages(
                    "ListChildren", {"ParentId": parent, "ChildType": "ORGANIZATIONAL_UNIT"}, "Children")]
                self._nodes[parent] = (tuple(accounts), tuple(children))
            return self._nodes[parent]

    async def _pages(self, op: str, kwargs: dict[str, Any], key: str) -> Any:
        params = dict(kwargs)
        while True:
            resp = await self._call(op, params)
            for entry in resp.get(key) or []:
                yield entry
            token = resp.get("NextToken")
            if not token:
                return
            params["NextToken"] = token
