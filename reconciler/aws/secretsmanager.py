"""Secrets Manager in one (identity, region): the ``Store`` the engine uses for secrets.

Only the request shapes and answers of Secrets Manager live here. Pacing, retries, counting and
error translation are the ``Caller``'s; clients and credentials are the backend's.
"""

from __future__ import annotations

import string
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from .._constants import BATCH_GET_MAX_IDS, LIST_SECRETS_PAGE_SIZE, STAGE_CURRENT, TAG_OWNER
from .._exceptions import AccessDeniedError, BackendError, NotFoundError, PermanentError
from .._types import SecretMeta, SecretValue
from .breaker import Breaker
from .call import Caller, CallSpec, method_name
from .errors import ACCESS_CODES
from .identity import Identity
from .store import WriteSpec

SERVICE = "secretsmanager"

ClientGetter = Callable[[], Awaitable[Any]]

# What a secret's name may hold: CreateSecret allows ASCII letters, numbers and /_+=.@-, and secrets
# that AWS services manage add "!" (rds!db-...). Name filters are case-sensitive prefixes, so one
# value per character covers every name below a node (owned_plan never starts a value with "!").
NAME_ALPHABET = string.ascii_letters + string.digits + "/_+=.@-!"


class SecretsManager:
    """The operations the engine needs, in Secrets Manager's terms."""

    service = SERVICE
    batch_size = BATCH_GET_MAX_IDS
    writes_description_with_value = False  # UpdateSecret sets it alone
    listings_carry_tags = True  # ListSecrets answers with each secret's tags
    plan_reads_values = False  # any value a transform lets through fits
    listing_lags = True  # ListSecrets lags by up to five minutes; DescribeSecret does not
    owned_name_alphabet: str | None = NAME_ALPHABET

    def __init__(self, *, caller: Caller, client: ClientGetter, identity: Identity, region: str,
                 account: str) -> None:
        self._caller = caller
        self._client = client
        self.identity = identity
        self.region = region
        self.account = account
        self.breaker = Breaker(f"endpoint {identity} in {region}")

    def __repr__(self) -> str:
        return f"Endpoint({self.identity}, {self.region})"

    async def call(self, op: str, **params: Any) -> Any:
        client = await self._client()
        method = getattr(client, method_name(op))
        spec = CallSpec(service=SERVICE, operation=op, account=self.account, region=self.region)
        return await self._caller.call(spec, lambda: method(**params), breaker=self.breaker)

    # --- reads ---------------------------------------------------------------------------------

    async def list_secrets(self, name_prefixes: list[str] | None) -> AsyncIterator[SecretMeta]:
        filters = [{"Key": "name", "Values": name_prefixes}] if name_prefixes else []
        async for meta in self._list(filters):
            yield meta

    async def list_owned(self, owner: str, name_filter: list[str] | None = None) -> AsyncIterator[SecretMeta]:
        """Secrets tagged ``reconciler:owner = owner``, scheduled deletions included.

        ListSecrets' tag-key and tag-value filters match independently (some tag has the key,
        some tag has the value), so each answer is checked for the pair itself. Filters of
        different keys must all match: ``name_filter`` narrows the same listing.
        """
        filters = [{"Key": "tag-key", "Values": [TAG_OWNER]}, {"Key": "tag-value", "Values": [owner]}]
        if name_filter:  # first: the narrowest (AWS applies all alike; moto stops at the first miss)
            filters.insert(0, {"Key": "name", "Values": name_filter})
        async for meta in self._list(filters):
            if meta.tags.get(TAG_OWNER) == owner:
                yield meta

    async def _list(self, filters: list[dict[str, Any]]) -> AsyncIterator[SecretMeta]:
        params: dict[str, Any] = {"MaxResults": LIST_SECRETS_PAGE_SIZE, "IncludePlannedDeletion": True}
        if filters:
            params["Filters"] = filters
        while True:
            resp = await self.call("ListSecrets", **params)
            for entry in resp.get("SecretList", []):
                yield _meta(entry, "SecretVersionsToStages")
            token = resp.get("NextToken")
            if not token:
                return
            params["NextToken"] = token

    async def describe(self, secret_id: str) -> SecretMeta | None:
        try:
            resp = await self.call("DescribeSecret", SecretId=secret_id)
        except NotFoundError:
            return None
        return _meta(resp, "VersionIdsToStages")

    async def get_current(self, secret_id: str) -> SecretValue:
        resp = await self.call("GetSecretValue", SecretId=secret_id, VersionStage=STAGE_CURRENT)
        return _value(resp)

    async def get_values(self, secret_ids: list[str]) -> dict[str, SecretValue | BackendError]:
        """Current values of up to 20 secrets, keyed by the id asked for.

        A value whose stages lack AWSCURRENT (the source moved, or moto's stale batch read) is read
        again with VersionStage=AWSCURRENT: only a current value is ever written.
        """
        assert len(secret_ids) <= BATCH_GET_MAX_IDS
        if len(secret_ids) == 1:
            return {secret_ids[0]: await self._current_or_error(secret_ids[0])}
        resp = await self.call("BatchGetSecretValue", SecretIdList=secret_ids)
        by_key: dict[str, SecretValue] = {}
        for entry in resp.get("SecretValues", []):
            v = _value(entry)
            by_key[v.arn] = by_key[v.name] = v
        errors = {e.get("SecretId"): e for e in resp.get("Errors", [])}
        out: dict[str, SecretValue | BackendError] = {}
        for sid in secret_ids:
            found = by_key.get(sid)
            if found is not None and STAGE_CURRENT in found.stages:
                out[sid] = found
                continue
            failed = _batch_error(errors.get(sid), sid)
            out[sid] = failed if failed is not None else await self._current_or_error(sid)
        return out

    async def _current_or_error(self, secret_id: str) -> SecretValue | BackendError:
        try:
            return await self.get_current(secret_id)
        except PermanentError as exc:
            return exc

    # --- writes --------------------------------------------------------------------------------

    def check_value(self, value: SecretValue, options: WriteSpec) -> None:
        """Any string or binary fits (the transform already bounds its output to a secret's size)."""
        del value, options

    async def create(self, name: str, token: str, value: SecretValue, *, kms_key_id: str | None,
                     description: str | None, tags: dict[str, str],
                     options: WriteSpec | None = None) -> dict[str, Any]:
        del options  # the key is ``kms_key_id``; type and tier are Parameter Store's
        params: dict[str, Any] = {"Name": name, "ClientRequestToken": token, "Tags": _tag_list(tags)}
        _put_value(params, value)
        if kms_key_id:
            params["KmsKeyId"] = kms_key_id
        if description is not None:
            params["Description"] = description
        result: dict[str, Any] = await self.call("CreateSecret", **params)
        return result

    async def put_value(self, secret_id: str, token: str, value: SecretValue, *,
                        description: str | None = None, options: WriteSpec | None = None) -> list[str]:
        del description, options  # Secrets Manager keeps the description apart: set_description
        params: dict[str, Any] = {"SecretId": secret_id, "ClientRequestToken": token}
        _put_value(params, value)
        resp = await self.call("PutSecretValue", **params)
        return list(resp.get("VersionStages", []))

    async def move_current(self, secret_id: str, to_version: str, from_version: str | None) -> None:
        params: dict[str, Any] = {"SecretId": secret_id, "VersionStage": STAGE_CURRENT, "MoveToVersionId": to_version}
        if from_version and from_version != to_version:
            params["RemoveFromVersionId"] = from_version
        await self.call("UpdateSecretVersionStage", **params)

    async def restore(self, secret_id: str) -> None:
        await self.call("RestoreSecret", SecretId=secret_id)

    async def tag(self, secret_id: str, tags: dict[str, str]) -> None:
        await self.call("TagResource", SecretId=secret_id, Tags=_tag_list(tags))

    async def untag(self, secret_id: str, keys: list[str]) -> None:
        await self.call("UntagResource", SecretId=secret_id, TagKeys=list(keys))

    async def set_description(self, secret_id: str, description: str) -> None:
        await self.call("UpdateSecret", SecretId=secret_id, Description=description)

    async def delete(self, secret_id: str, recovery_window_days: int) -> None:
        # Never ForceDeleteWithoutRecovery: a wrong manifest must stay recoverable (SPEC: Lifecycle).
        await self.call("DeleteSecret", SecretId=secret_id, RecoveryWindowInDays=recovery_window_days)


def _batch_error(err: dict[str, Any] | None, sid: str) -> BackendError | None:
    """A per-secret error of BatchGetSecretValue that a single read would only repeat."""
    if err is None:
        return None
    code = str(err.get("ErrorCode"))
    message = f"BatchGetSecretValue: {code}: {sid}"
    if code == "ResourceNotFoundException":
        return NotFoundError(message, code=code, operation="BatchGetSecretValue")
    if "AccessDenied" in code or code in ACCESS_CODES:
        return AccessDeniedError(message, code=code, operation="BatchGetSecretValue")
    return None  # anything else: read it alone, which retries and translates as usual


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _put_value(params: dict[str, Any], value: SecretValue) -> None:
    if value.binary is not None:
        params["SecretBinary"] = value.binary
    else:
        params["SecretString"] = value.string or ""


def _meta(entry: dict[str, Any], versions_key: str) -> SecretMeta:
    return SecretMeta(
        arn=entry["ARN"],
        name=entry["Name"],
        versions={k: list(v) for k, v in (entry.get(versions_key) or {}).items()},
        tags={t["Key"]: t["Value"] for t in entry.get("Tags") or []},
        deleted=entry.get("DeletedDate") is not None,
        description=entry.get("Description"),
        kms_key_id=entry.get("KmsKeyId"),
        primary_region=_replica_of(entry),
        rotation_enabled=bool(entry.get("RotationEnabled")),
    )


def _replica_of(entry: dict[str, Any]) -> str | None:
    """The primary's region when ``entry`` is a native replica, else None.

    AWS also answers ``PrimaryRegion`` for a primary that has replicas, naming its own region (beside
    ``ReplicationStatus``): only a PrimaryRegion other than the secret's own makes it a replica, and
    such a primary is written like any other destination."""
    primary = entry.get("PrimaryRegion") or None
    own = entry["ARN"].split(":")[3]
    return primary if primary is not None and primary != own else None


def _value(entry: dict[str, Any]) -> SecretValue:
    return SecretValue(
        arn=entry["ARN"], name=entry["Name"], version_id=entry["VersionId"],
        stages=list(entry.get("VersionStages") or []),
        string=entry.get("SecretString"), binary=entry.get("SecretBinary"),
    )

