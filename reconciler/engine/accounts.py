"""Destinations with ``accounts``: one destination per account under the OUs, found once per run.

SPEC "Organizations". ``AccountDirectory.expand(d)`` turns a destination that names
``accounts: {organizational_units, exclude}`` into one concrete destination per account found by
``aws.organizations.OrgDirectory`` (ListChildren / ListAccountsForParent through the
``settings.organizations`` identity), with ``${ACCOUNT_ID}`` in its role filled in.

Invariants:
- Discovery happens once per run: the directory memoises each OU and each selector.
- A failed discovery is never "no accounts": ``expand`` returns the error, the engine fails the
  mapping's items for that destination (one item, destination null) and ``errors()`` adds one
  run-level error with service "organizations" (SPEC "Failures are never silent").
- Every account is returned, active or not: the engine fails the items of an account that is not
  ACTIVE (``AccountNotActive``), with one log line per account.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from .._exceptions import BackendError, DeadlineExceeded, ItemError
from ..aws.arn import Arn, partition_of
from ..aws.backend import Backend
from ..aws.organizations import DiscoveryError, OrgAccount, OrgDirectory
from ..manifest import AccountsSelector, DestinationSpec, Identity, OrganizationsSettings
from ..output.report import RunError

__all__ = ["AccountDirectory", "AccountNotActiveError", "NotDiscovered", "Target", "organizations_region"]

log = logging.getLogger("reconciler")

SERVICE = "organizations"
# Organizations has one endpoint per partition, in this region.
_ORG_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-northwest-1"}


NotDiscovered = BackendError | DeadlineExceeded  # why an ``accounts`` destination has no accounts this run


class AccountNotActiveError(ItemError):
    """The discovered account is not ACTIVE (suspended, pending activation or closure, closed, or a
    state this code does not know): nothing is written there; the item fails, never skipped."""

    type_name = "AccountNotActive"


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One destination to write: the manifest's (``template``) or one account's copy of it."""

    template: DestinationSpec  # as in the manifest (the transform cache's key)
    spec: DestinationSpec  # what the items use: the account's identity, no ``accounts``
    account: OrgAccount | None = None  # the discovered account, for an ``accounts`` destination


def organizations_region(settings: OrganizationsSettings | None, default_region: str) -> str:
    """Where Organizations is called: the settings' region, else its partition's endpoint region."""
    if settings is not None and settings.region:
        return settings.region
    arn = Arn.maybe(settings.role_arn if settings else None)
    partition = arn.partition if arn is not None else partition_of(default_region or None)
    return _ORG_REGION.get(partition, "us-east-1")


class AccountDirectory:
    """The run's view of the organization: which accounts each ``accounts`` destination writes."""

    def __init__(self, backend: Backend, settings: OrganizationsSettings | None, default_region: str) -> None:
        self._identity = Identity(settings.role_arn if settings else None)
        self._region = organizations_region(settings, default_region)
        self._backend = backend
        self._directory: OrgDirectory | None = None
        self._found: dict[AccountsSelector, list[OrgAccount] | NotDiscovered] = {}
        self._errors: dict[AccountsSelector, RunError] = {}
        self._logged: set[str] = set()

    def _org(self) -> OrgDirectory:
        if self._directory is None:
            api = self._backend.api(SERVICE, self._identity, self._region,
                                    account=self._identity.account_hint or "-")

            async def call(op: str, params: dict[str, Any]) -> dict[str, Any]:
                return await api(op, params)

            self._directory = OrgDirectory(call)
        return self._directory

    async def expand(self, d: DestinationSpec) -> list[Target] | NotDiscovered:
        """The destination itself, or one target per account under its OUs; the error if not observed."""
        if d.accounts is None:
            return [Target(d, d)]
        found = await self._accounts(d.accounts)
        if isinstance(found, NotDiscovered):
            return found
        return [Target(d, dataclasses.replace(d, identity=d.identity.for_account(a.id), accounts=None), a)
                for a in found]

    async def _accounts(self, selector: AccountsSelector) -> list[OrgAccount] | NotDiscovered:
        if selector not in self._found:
            try:
                self._found[selector] = await self._org().accounts(selector.organizational_units, selector.exclude)
            except DeadlineExceeded as exc:  # its items are deferred; a deadline is no run-level error
                self._found[selector] = exc
            except (BackendError, DiscoveryError) as exc:
                err = exc if isinstance(exc, BackendError) else BackendError(
                    f"Organizations: {exc}", code="OrganizationsDiscoveryError", operation="ListChildren")
                self._found[selector] = err
                self._errors[selector] = RunError(account=self._identity.account_hint or "-", region=self._region,
                                                  service=SERVICE, type=err.type, message=err.message)
                log.error("account discovery failed; the destinations under these units fail", extra={
                    "organizational_units": list(selector.organizational_units), "error_type": err.type})
        return self._found[selector]

    def not_active(self, account: OrgAccount) -> AccountNotActiveError:
        """The error for an account that is not ACTIVE; logged once per account, not once per item."""
        if account.id not in self._logged:
            self._logged.add(account.id)
            log.error("account is not active; its items fail", extra={"account": account.id,
                                                                      "state": account.state_name})
        return AccountNotActiveError(f"account {account.id} is {account.state_name}, not ACTIVE: nothing is "
                                     "written there")

    def errors(self) -> list[RunError]:
        """One run-level error per selector whose accounts could not be discovered."""
        return list(self._errors.values())
