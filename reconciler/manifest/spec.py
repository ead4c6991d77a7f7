"""The run-ready manifest: frozen dataclasses the engine, the IAM generator and the AWS layer read.

Everything here is already validated (see ``load``); nothing imports pydantic, so a module that only
needs the specs (the AWS layer's ``Identity``) stays light. The closed sets (Literals) are in
``kinds``, below this module and the ``rules`` and ``settings`` it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..aws.identity import Identity as _AwsIdentity
from .kinds import (
    DEFAULT_SERVICE,
    OnExisting,
    OnSourceDeleted,
    ParameterTier,
    ParameterType,
    Service,
)
from .rules import ACCOUNT_ID_REF, ARN_PREFIX

if TYPE_CHECKING:
    from .._transform import StepSpec
    from .settings import Settings



@dataclass(frozen=True, slots=True)
class Identity(_AwsIdentity):
    """The AWS layer's identity, plus what a manifest adds: a role per discovered account.

    A destination with ``accounts`` has ``${ACCOUNT_ID}`` in its role_arn (and maybe its external_id);
    the engine turns it into one concrete identity per account with :meth:`for_account`.
    """

    @property
    def account_hint(self) -> str | None:
        """The account a role is in; None for default credentials, a profile or a ${ACCOUNT_ID} role."""
        # not super(): a slots dataclass is a new class object, which zero-argument super() misses
        return None if self.per_account else _AwsIdentity.account_hint.__get__(self)

    @property
    def per_account(self) -> bool:
        """The role_arn names ${ACCOUNT_ID}: one identity per discovered account (SPEC "Organizations")."""
        return bool(self.role_arn and ACCOUNT_ID_REF in self.role_arn)

    def for_account(self, account: str) -> Identity:
        """This identity in ``account`` (``${ACCOUNT_ID}`` in the role and external id filled in)."""
        role = self.role_arn.replace(ACCOUNT_ID_REF, account) if self.role_arn else None
        ext = self.external_id.replace(ACCOUNT_ID_REF, account) if self.external_id else None
        return Identity(role, ext, self.profile)


@dataclass(frozen=True, slots=True)
class SourceRef:
    name: str  # exact name or ARN; for a prefix mapping, the prefix without '*'
    region: str | None
    identity: Identity
    prefix: bool = False
    service: Service = DEFAULT_SERVICE

    @property
    def is_arn(self) -> bool:
        return self.name.startswith(ARN_PREFIX)


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    name: str  # template: may end in '*' (prefix mappings) and hold ${VARS}
    region: str | None
    identity: Identity
    kms_key_id: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    description: str | None = None
    # manifest < defaults.destination < mapping < destination, merged; each value resolved at load
    # (custom variables expanded), still holding ${BUILTIN} references for run time
    variables: tuple[tuple[str, str], ...] = ()
    service: Service = DEFAULT_SERVICE
    parameter_type: ParameterType | None = None  # ssm: the type to write (default SecureString); else None
    tier: ParameterTier | None = None  # ssm only; None = leave it to Parameter Store (Standard)
    accounts: AccountsSelector | None = None  # one destination per ACTIVE account under these OUs


@dataclass(frozen=True, slots=True)
class AccountsSelector:
    """Every ACTIVE account under ``organizational_units`` (recursively) except ``exclude``."""

    organizational_units: tuple[str, ...]
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MappingSpec:
    id: str
    index: int
    source: SourceRef
    destinations: tuple[DestinationSpec, ...]
    steps: tuple[StepSpec, ...]
    on_existing: OnExisting
    on_source_deleted: OnSourceDeleted = "keep"


@dataclass(frozen=True)
class Manifest:
    origin: str
    settings: Settings
    mappings: tuple[MappingSpec, ...]

    def mapping(self, mapping_id: str) -> MappingSpec:
        return next(m for m in self.mappings if m.id == mapping_id)
