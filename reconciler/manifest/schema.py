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
    region: str | None = Field(None, pattern=REGION_PATTERN,
        description="AWS region (e.g. us-east-1); defaults to the defaults block, then the SDK's region.")
    # may hold ${ACCOUNT_ID} (a destination with `accounts`): checked with a placeholder account here,
    # and in expand_mappings against the destination's accounts
    role_arn: str | None = Field(None,
        description="IAM role to assume for this endpoint; may hold ${ACCOUNT_ID} on a destination with accounts.")
    external_id: str | None = Field(None, min_length=2, max_length=1224,
        description="sts:AssumeRole ExternalId for role_arn (2-1224 characters).")
    profile: str | None = Field(None, description="Named AWS profile whose credentials are used for this endpoint.")
    service: Service | None = Field(None,
        description="secretsmanager (default) or ssm (Parameter Store).")  # SPEC "Parameter Store"

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

    organizational_units: list[str] = Field(min_length=1,
        description="OU ids (ou-xxxx-xxxxxxxx) or a root id (r-xxxx); every ACTIVE account under them, recursively.")
    exclude: list[str] = Field(default_factory=list,
        description="12-digit account ids to leave out (quote them in YAML).")

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
    kms_key_id: str | None = Field(None, description="KMS key id, ARN or alias that encrypts the destination.")
    # Parameter Store destinations only (an error on a secretsmanager destination, see expand_mappings)
    type: ParameterType | None = Field(None, description="Parameter Store only: the parameter type.")
    tier: ParameterTier | None = Field(None,
        description="Parameter Store only: Standard, Advanced or Intelligent-Tiering.")
    tags: dict[str, str] = Field(default_factory=dict,
        description="Tags written on the destination (Secrets Manager tag rules; reconciler: keys are reserved).")

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
    description: str | None = Field(None, max_length=2048,
        description="Description written on the destination (up to 2048 characters).")
    variables: dict[str, str] = Field(default_factory=dict,
        description="Variables for ${NAME} substitution in names and transforms; inner scopes override outer.")


class SourceDefaults(EndpointBase):
    pass


class DestinationDefaults(EndpointBase, _DestExtras):
    pass


class SourceEndpoint(EndpointBase):
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH,
        description="Source secret or parameter name; a trailing * makes a prefix mapping.")


class DestinationEndpoint(EndpointBase, _DestExtras):
    # the per-service rules (512 for a secret, 2048 for a parameter) are checked after variables
    name: str = Field(min_length=1, max_length=SSM_MAX_NAME_LENGTH,
        description="Destination name; may use ${VAR} and, for a prefix mapping, the matched suffix.")
    accounts: AccountsModel | None = Field(None,
        description="Write this destination into every ACTIVE account under these OUs (SPEC Organizations).")


def _name_only(v: Any) -> Any:
    return {"name": v} if isinstance(v, str) else v


class TransformStepModel(Strict):
    sed: list[str] | None = Field(None, description="sed rules (one string or a list), applied to the value in order.")
    sed_file: str | None = Field(None, description="Path of a sed script, relative to the manifest.")
    # "$.path": value, or "$.path": {find: ..., replace: ...} (SPEC "Transforms"); values are checked
    # to be JSON in ``steps.json_value_problem``
    json_: dict[str, Any] | None = Field(None, alias="json",
        description="JSONPath assignments: \"$.path\": value, or {find, replace}.")
    json_file: str | None = Field(None,
        description="Path of the original replicator's transformation file, relative to the manifest.")

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
    id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._/@:+=-]+$",
        description="Stable mapping id (report, --select, ownership tags); derived when absent.")
    source: SourceEndpoint = Field(description="The secret or parameter read: a name, or an endpoint object.")
    destination: DestinationEndpoint | None = Field(None,
        description="The one destination: a name, or an endpoint object (exactly one of destination, destinations).")
    destinations: list[DestinationEndpoint] | None = Field(None, min_length=1,
        description="Several destinations for one source (exactly one of destination, destinations).")
    transform: list[TransformStepModel] = Field(default_factory=list,
        description="Transform steps applied in order to the source value before it is written.")
    on_existing: OnExisting | None = Field(None,
        description="What to do with a destination that exists but is not owned by this reconciler.")
    on_source_deleted: OnSourceDeleted = Field("keep",
        description="What to do with the destination when its source is deleted.")
    variables: dict[str, str] = Field(default_factory=dict,
        description="Variables for ${NAME} substitution in names and transforms; inner scopes override outer.")

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
    source: SourceDefaults = Field(SourceDefaults(), description="Defaults merged into every mapping's source.")
    destination: DestinationDefaults = Field(DestinationDefaults(),
        description="Defaults merged into every destination.")


class ManifestModel(Strict):
    version: Literal[1] = Field(description="Manifest format version: the integer 1.")
    settings: Settings = Field(Settings(), description="Run-wide settings.")
    variables: dict[str, str] = Field(default_factory=dict,
        description="Variables for ${NAME} substitution in names and transforms; inner scopes override outer.")
    defaults: DefaultsModel = Field(DefaultsModel(),
        description="Values merged into every mapping's source and destinations.")
    mappings: list[MappingModel] = Field(min_length=1, description="What to copy where: at least one mapping.")

    @field_validator("version", mode="before")
    @classmethod
    def _exactly_integer_1(cls, v: Any) -> Any:
        # pydantic's lax Literal takes true, 1.0 and "1" as 1; a manifest's version is the integer 1
        if type(v) is not int or v != 1:
            raise ValueError(f"must be the integer 1 (version: 1), not {v!r}")
        return v
