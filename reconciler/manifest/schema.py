"""The YAML schema of ``defaults`` and ``mappings`` (pydantic models): shapes, types and local rules.

What needs more than one field's view (defaults merged in, variables, names after expansion,
collisions) is checked in ``expand`` and ``collisions``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .._constants import MAX_TAGS_PER_SECRET
from .kinds import OnExisting, OnSourceDeleted, ParameterTier, ParameterType, Service
from .rules import (
    ACCOUNT_ID_PATTERN,
    ACCOUNT_ID_REF,
    ORG_PARENT_PATTERN,
    PLACEHOLDERS,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    SSM_MAX_NAME_LENGTH,
    TAG_KEY_PATTERN,
    TAG_VALUE_PATTERN,
)
from .settings import Settings, Strict


class EndpointBase(Strict):
    region: str | None = Field(None, pattern=REGION_PATTERN)
    # may hold ${ACCOUNT_ID} (a destination with `accounts`): checked with a placeholder account here,
    # and in expand_mappings against the destination's accounts
    role_arn: str | None = None
    external_id: str | None = Field(None, min_length=2, max_length=1224)
    profile: str | None = None
    service: Service | None = None  # default secretsmanager (SPEC "Parameter Store")

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(ROLE_ARN_PATTERN, v.replace(ACCOUNT_ID_REF, PLACEHOLDERS["ACCOUNT_ID"])):
            raise ValueError("a role ARN is arn:<partition>:iam::<12-digit account>:role/<name>")
        return v

    @model_validator(mode="after")
    def _external_id_needs_role(self) -> Any:
        if self.external_id and not self.role_arn:
            raise ValueError("external_id needs role_arn")
        return self


class AccountsModel(Strict):
    """A destination written into every ACTIVE account under these OUs (SPEC "Organizations")."""

    organizational_units: list[str] = Field(min_length=1)
    exclude: list[str] = Field(default_factory=list)

    @field_validator("organizational_units")
    @classmethod
    def _ou_ids(cls, v: list[str]) -> list[str]:
        for ou in v:
            if not re.fullmatch(ORG_PARENT_PATTERN, ou):
                raise ValueError(f"{ou!r} is not an OU id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)")
        return v

    @field_validator("exclude")
    @classmethod
    def _account_ids(cls, v: list[str]) -> list[str]:
        for account in v:
            if not re.fullmatch(ACCOUNT_ID_PATTERN, account):
                raise ValueError(f"{account!r} is not a 12-digit account id (quote it in YAML)")
        return v


class _DestExtras(Strict):
    kms_key_id: str | None = None
    # Parameter Store destinations only (an error on a secretsmanager destination, see expand_mappings)
    type: ParameterType | None = None
    tier: ParameterTier | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        # Secrets Manager's tag rules, checked here rather than failing every CreateSecret
        for key, value in tags.items():
            if not re.fullmatch(TAG_KEY_PATTERN, key) or len(key) > 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: 1-128 letters, digits, spaces or _.:/=+-@, not starting with aws:")
            if key.startswith("reconciler:"):
                raise ValueError(f"tag key {key!r}: reconciler: tags are the reconciler's own")
            if not re.fullmatch(TAG_VALUE_PATTERN, value) or len(value) > 256:
                raise ValueError(f"tag {key!r}: the value may have up to 256 letters, digits, spaces or _.:/=+-@")
        if len(tags) > MAX_TAGS_PER_SECRET - 3:
            raise ValueError(f"at most {MAX_TAGS_PER_SECRET - 3} tags (the reconciler adds 3 of its own)")
        return tags
    description: str | None = Field(None, max_length=2048)
    variables: dict[str, str] = Field(default_factory=dict)


class SourceDefaults(EndpointBase):
    pass


class DestinationDefaults(EndpointBase, _DestExtras):
    pass


class SourceEndpoint(EndpointBase):
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH)


class DestinationEndpoint(EndpointBase, _DestExtras):
    # the per-service rules (512 for a secret, 2048 for a parameter) are checked after variables
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH)
    accounts: AccountsModel | None = None


def _name_only(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class TransformStepModel(Strict):
    sed: list[str] | None = None
    sed_file: str | None = None
    # "$.path": value, or "$.path": {find: ..., replace: ...} (SPEC "Transforms"); values are checked
    # to be JSON in ``steps.json_value_problem``
    json_: dict[str, Any] | None = Field(None, alias="json")
    json_file: str | None = None  # the original replicator's transformation file

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("sed", mode="before")
    @classmethod
    def _one_rule(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStepModel:
        given = [k for k in ("sed", "sed_file", "json_", "json_file") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transform step has exactly one of sed, sed_file, json, json_file")
        return self


class MappingModel(Strict):
    id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._/@:+=-]+$")
    source: SourceEndpoint
    destination: DestinationEndpoint | None = None
    destinations: list[DestinationEndpoint] | None = Field(None, min_length=1)
    transform: list[TransformStepModel] = Field(default_factory=list)
    on_existing: OnExisting | None = None
    on_source_deleted: OnSourceDeleted = "keep"
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _string_endpoint(cls, v: Any) -> Any:
        return _name_only(v)

    @field_validator("destinations", mode="before")
    @classmethod
    def _string_endpoints(cls, v: Any) -> Any:
        return [_name_only(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _one_destination_key(self) -> MappingModel:
        if (self.destination is None) == (self.destinations is None):
            raise ValueError("give exactly one of destination, destinations")
        return self


class DefaultsModel(Strict):
    source: SourceDefaults = SourceDefaults()
    destination: DestinationDefaults = DestinationDefaults()


class ManifestModel(Strict):
    version: Literal[1]
    settings: Settings = Settings()
    variables: dict[str, str] = Field(default_factory=dict)
    defaults: DefaultsModel = DefaultsModel()
    mappings: list[MappingModel] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _exactly_integer_1(cls, v: Any) -> Any:
        # pydantic's lax Literal takes true, 1.0 and "1" as 1; a manifest's version is the integer 1
        if type(v) is not int or v != 1:
            raise ValueError(f"must be the integer 1 (version: 1), not {v!r}")
        return v
