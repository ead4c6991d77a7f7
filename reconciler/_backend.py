"""The narrow seam between the engine and AWS: aioboto3 clients, retries, pacing, breakers.

One client per (identity, region), created on first use and reused for the whole run; roles are
assumed once per identity and refreshed before expiry. Every call goes through ``_call``, which
paces it (per account, region and API class), retries transient errors with exponential backoff
and full jitter (the SDK's own retries are off so attempts do not multiply), counts it, and
translates errors in ``_errors.translate``.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import backoff

from ._breaker import Breaker
from ._constants import (
    BATCH_GET_MAX_IDS,
    LIST_SECRETS_PAGE_SIZE,
    QUOTA_BATCH_GET_RPS,
    QUOTA_LIST_RPS,
    QUOTA_READ_RPS,
    QUOTA_WRITE_RPS,
    STAGE_CURRENT,
)
from ._errors import ENDPOINT_WIDE_CODES, translate
from ._exceptions import (
    AccessDeniedError,
    BackendError,
    CircuitOpenError,
    DeadlineExceeded,
    NotFoundError,
    PermanentError,
    ThrottlingError,
    TransientError,
)
from ._manifest import Identity, RateCeiling, RetrySettings, Timeouts
from ._ratelimit import AdaptiveRate
from ._types import SecretMeta, SecretValue

log = logging.getLogger("reconciler")

# API class of each operation, for pacing against the matching quota.
_API_CLASS = {
    "ListSecrets": "list", "BatchGetSecretValue": "batch",
    "DescribeSecret": "read", "GetSecretValue": "read",
}
_QUOTA = {"write": QUOTA_WRITE_RPS, "list": QUOTA_LIST_RPS, "batch": QUOTA_BATCH_GET_RPS, "read": QUOTA_READ_RPS}


@dataclass(slots=True)
class ItemStats:
    """Per-item counters, found through a context variable set by the engine."""

    attempts: int = 0
    retries: int = 0
    throttles: int = 0


current_item: contextvars.ContextVar[ItemStats | None] = contextvars.ContextVar("current_item", default=None)


@dataclass
class CallStats:
    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)  # by operation
    throttles: Counter[str] = field(default_factory=Counter)  # by operation


class Backend:
    """Owns sessions, clients, pacing and breakers for one run."""

    def __init__(
        self,
        *,
        concurrency: int,
        retry: RetrySettings,
        deadline: float | None = None,
        rate_limits: list[RateCeiling] | None = None,
        stats: CallStats | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.timeouts = timeouts or Timeouts()
        self.concurrency = concurrency
        self.retry = retry
        self.deadline = deadline  # time.monotonic() value; retries stop there
        self.rate_limits = rate_limits or []
        self.stats = stats or CallStats()
        self._stack = AsyncExitStack()
        self._sessions: dict[str, Any] = {}
        self._session_errors: dict[str, BackendError] = {}
        self._accounts: dict[str, str] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        self._rates: dict[tuple[str, str, str], AdaptiveRate] = {}
        self._identity_breakers: dict[str, Breaker] = {}
        self._endpoint_breakers: dict[tuple[str, str], Breaker] = {}
        self._lock = anyio.Lock()
        self._retrying = backoff.on_exception(
            backoff.expo,
            TransientError,
            max_tries=lambda: self.retry.max_attempts,
            max_time=self._retry_budget,
            jitter=backoff.full_jitter,
            factor=self.retry.base_delay,
            max_value=self.retry.max_delay,
            on_backoff=cast(Any, self._on_backoff),
            logger=None,
        )

    async def __aenter__(self) -> Backend:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self._stack.__aexit__(None, None, None)

    # --- sessions and identities ---------------------------------------------------------------

    def default_region(self) -> str | None:
        import aioboto3

        region = aioboto3.Session().region_name
        return str(region) if region else None

    def identity_breaker(self, identity: Identity) -> Breaker:
        b = self._identity_breakers.get(identity.key)
        if b is None:
            b = self._identity_breakers[identity.key] = Breaker(f"identity {identity}", threshold=1)
        return b

    async def session(self, identity: Identity) -> Any:
        self.identity_breaker(identity).check()
        async with self._lock:
            if identity.key in self._sessions:
                return self._sessions[identity.key]
            self.identity_breaker(identity).check()
            try:
                session = await self._make_session(identity)
            except BackendError as exc:
                if self.identity_breaker(identity).failure(exc, immediate=True):
                    log.error("identity unusable; its items fail", extra={"identity": str(identity),
                                                                         "error_type": exc.type})
                raise
            self._sessions[identity.key] = session
            return session

    async def _make_session(self, identity: Identity) -> Any:
        import aioboto3

        base = aioboto3.Session(profile_name=identity.profile) if identity.profile else aioboto3.Session()
        if not identity.role_arn:
            return base
        from aiobotocore.credentials import AioRefreshableCredentials
        from aiobotocore.session import get_session

        role_arn, external_id = identity.role_arn, identity.external_id
        region = base.region_name or "us-east-1"

        async def assume() -> dict[str, Any]:
            kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "secrets-reconciler",
                                      "DurationSeconds": 3600}
            if external_id:
                kwargs["ExternalId"] = external_id
            async with base.client("sts", region_name=region, config=self._config()) as sts:
                resp = await self._call_client(sts, "sts", "AssumeRole", "sts", "-", region, kwargs)
            c = resp["Credentials"]
            return {"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"],
                    "token": c["SessionToken"], "expiry_time": c["Expiration"].isoformat()}

        metadata = await assume()
        creds = AioRefreshableCredentials.create_from_metadata(
            metadata=metadata, refresh_using=assume, method="sts-assume-role"
        )
        botocore_session = get_session()
        botocore_session._credentials = creds  # the documented way aiobotocore takes custom creds
        if base.region_name:
            botocore_session.set_config_variable("region", base.region_name)
        self._accounts.setdefault(identity.key, role_arn.split(":")[4])
        return aioboto3.Session(botocore_session=botocore_session)

    async def account_id(self, identity: Identity) -> str:
        if identity.key in self._accounts:
            return self._accounts[identity.key]
        if identity.account_hint:
            self._accounts[identity.key] = identity.account_hint
            return identity.account_hint
        session = await self.session(identity)
        region = session.region_name or "us-east-1"
        async with session.client("sts", region_name=region, config=self._config()) as sts:
            resp = await self._call_client(sts, "sts", "GetCallerIdentity", "sts", "-", region, {})
        self._accounts[identity.key] = str(resp["Account"])
        return self._accounts[identity.key]

    def _config(self) -> Any:
        from aiobotocore.config import AioConfig

        return AioConfig(
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=self.timeouts.connect,
            read_timeout=self.timeouts.read,
            max_pool_connections=max(10, self.concurrency + 4),
        )

    async def client(self, service: str, identity: Identity, region: str) -> Any:
        key = (service, identity.key, region)
        if key not in self._clients:
            session = await self.session(identity)
            async with self._lock:
                if key not in self._clients:
                    self._clients[key] = await self._stack.enter_async_context(
                        session.client(service, region_name=region, config=self._config())
                    )
        return self._clients[key]

    async def endpoint(self, identity: Identity, region: str) -> Endpoint:
        key = (identity.key, region)
        ep = self._endpoints.get(key)
        if ep is None:
            account = await self.account_id(identity)
            ep = self._endpoints.setdefault(key, Endpoint(self, identity, region, account))
        return ep

    # --- calls ---------------------------------------------------------------------------------

    def rate(self, account: str, region: str, api_class: str) -> AdaptiveRate:
        key = (account, region, api_class)
        r = self._rates.get(key)
        if r is None:
            ceiling = _QUOTA[api_class]
            for c in self.rate_limits:
                if (c.region in (None, region)) and (c.account in (None, account)):
                    limit = c.writes_per_second if api_class == "write" else c.reads_per_second
                    if limit is not None and api_class != "read":
                        ceiling = min(ceiling, limit)
            r = self._rates[key] = AdaptiveRate(ceiling)
        return r

    def _retry_budget(self) -> float:
        if self.deadline is None:
            return 10**9
        return max(0.0, self.deadline - time.monotonic())

    def _on_backoff(self, details: dict[str, Any]) -> None:
        exc = details.get("exception")
        op = getattr(exc, "operation", "?")
        self.stats.retries[op] += 1
        item = current_item.get()
        if item is not None:
            item.retries += 1
        log.debug("retrying", extra={"operation": op, "error_type": getattr(exc, "type", "?"),
                                     "wait_s": round(details.get("wait", 0.0), 3)})

    async def _call_client(self, client: Any, service: str, op: str, api_class: str, account: str,
                           region: str, kwargs: dict[str, Any]) -> Any:
        method = getattr(client, _snake(op))
        rate = self.rate(account, region, api_class) if service == "secretsmanager" else None

        async def attempt() -> Any:
            if rate is not None:
                await rate.acquire()
            self.stats.calls[f"{service}.{op}"] += 1
            item = current_item.get()
            if item is not None:
                item.attempts += 1
            try:
                resp = await method(**kwargs)
            except Exception as exc:
                err = translate(exc, op)
                if isinstance(err, ThrottlingError):
                    self.stats.throttles[op] += 1
                    if item is not None:
                        item.throttles += 1
                    if rate is not None:
                        rate.on_throttle()
                raise err from None
            if rate is not None:
                rate.on_success()
            return resp

        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded(f"{op}: the run's deadline passed")
        wrapped: Callable[[], Awaitable[Any]] = self._retrying(attempt)
        return await wrapped()


class Endpoint:
    """Secrets Manager in one (identity, region): the operations the engine needs."""

    def __init__(self, backend: Backend, identity: Identity, region: str, account: str) -> None:
        self.backend = backend
        self.identity = identity
        self.region = region
        self.account = account
        self.breaker = Breaker(f"endpoint {identity} in {region}")
        backend._endpoint_breakers[(identity.key, region)] = self.breaker

    def __repr__(self) -> str:
        return f"Endpoint({self.identity}, {self.region})"

    async def call(self, op: str, **kwargs: Any) -> Any:
        self.backend.identity_breaker(self.identity).check()
        self.breaker.check()
        client = await self.backend.client("secretsmanager", self.identity, self.region)
        try:
            resp = await self.backend._call_client(
                client, "secretsmanager", op, _API_CLASS.get(op, "write"), self.account, self.region, kwargs
            )
        except BackendError as exc:
            if not isinstance(exc, CircuitOpenError) and (
                exc.code in ENDPOINT_WIDE_CODES or isinstance(exc, TransientError)
            ) and self.breaker.failure(exc):
                log.error("endpoint given up on; its remaining items fail",
                          extra={"endpoint": repr(self), "error_type": exc.type})
            raise
        self.breaker.success()
        return resp

    # --- reads ---------------------------------------------------------------------------------

    async def list_secrets(self, name_prefixes: list[str] | None) -> AsyncIterator[SecretMeta]:
        kwargs: dict[str, Any] = {"MaxResults": LIST_SECRETS_PAGE_SIZE, "IncludePlannedDeletion": True}
        if name_prefixes:
            kwargs["Filters"] = [{"Key": "name", "Values": name_prefixes}]
        while True:
            resp = await self.call("ListSecrets", **kwargs)
            for entry in resp.get("SecretList", []):
                yield _meta(entry, "SecretVersionsToStages")
            token = resp.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

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
        out: dict[str, SecretValue | BackendError] = {}
        if len(secret_ids) == 1:
            sid = secret_ids[0]
            try:
                out[sid] = await self.get_current(sid)
            except PermanentError as exc:
                out[sid] = exc
            return out
        resp = await self.call("BatchGetSecretValue", SecretIdList=secret_ids)
        by_key: dict[str, SecretValue] = {}
        for entry in resp.get("SecretValues", []):
            v = _value(entry)
            by_key[v.arn] = by_key[v.name] = v
        errors = {e.get("SecretId"): e for e in resp.get("Errors", [])}
        for sid in secret_ids:
            found = by_key.get(sid)
            if found is not None and STAGE_CURRENT in found.stages:
                out[sid] = found
                continue
            err = errors.get(sid)
            if err is not None and err.get("ErrorCode") == "ResourceNotFoundException":
                out[sid] = NotFoundError(f"BatchGetSecretValue: ResourceNotFoundException: {sid}",
                                         code="ResourceNotFoundException", operation="BatchGetSecretValue")
                continue
            if err is not None and "AccessDenied" in str(err.get("ErrorCode")):
                out[sid] = AccessDeniedError(f"BatchGetSecretValue: {err.get('ErrorCode')}: {sid}",
                                             code=str(err.get("ErrorCode")), operation="BatchGetSecretValue")
                continue
            try:
                out[sid] = await self.get_current(sid)
            except PermanentError as exc:
                out[sid] = exc
        return out

    # --- writes --------------------------------------------------------------------------------

    async def create(self, name: str, token: str, value: SecretValue, *, kms_key_id: str | None,
                     description: str | None, tags: dict[str, str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"Name": name, "ClientRequestToken": token,
                                  "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        _put_value(kwargs, value)
        if kms_key_id:
            kwargs["KmsKeyId"] = kms_key_id
        if description is not None:
            kwargs["Description"] = description
        result: dict[str, Any] = await self.call("CreateSecret", **kwargs)
        return result

    async def put_value(self, secret_id: str, token: str, value: SecretValue) -> list[str]:
        kwargs: dict[str, Any] = {"SecretId": secret_id, "ClientRequestToken": token}
        _put_value(kwargs, value)
        resp = await self.call("PutSecretValue", **kwargs)
        return list(resp.get("VersionStages", []))

    async def move_current(self, secret_id: str, to_version: str, from_version: str | None) -> None:
        kwargs: dict[str, Any] = {"SecretId": secret_id, "VersionStage": STAGE_CURRENT,
                                  "MoveToVersionId": to_version}
        if from_version and from_version != to_version:
            kwargs["RemoveFromVersionId"] = from_version
        await self.call("UpdateSecretVersionStage", **kwargs)

    async def restore(self, secret_id: str) -> None:
        await self.call("RestoreSecret", SecretId=secret_id)

    async def tag(self, secret_id: str, tags: dict[str, str]) -> None:
        await self.call("TagResource", SecretId=secret_id, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    async def set_description(self, secret_id: str, description: str) -> None:
        await self.call("UpdateSecret", SecretId=secret_id, Description=description)


def _put_value(kwargs: dict[str, Any], value: SecretValue) -> None:
    if value.binary is not None:
        kwargs["SecretBinary"] = value.binary
    else:
        kwargs["SecretString"] = value.string or ""


def _meta(entry: dict[str, Any], versions_key: str) -> SecretMeta:
    return SecretMeta(
        arn=entry["ARN"],
        name=entry["Name"],
        versions={k: list(v) for k, v in (entry.get(versions_key) or {}).items()},
        tags={t["Key"]: t["Value"] for t in entry.get("Tags") or []},
        deleted=entry.get("DeletedDate") is not None,
        description=entry.get("Description"),
        kms_key_id=entry.get("KmsKeyId"),
    )


def _value(entry: dict[str, Any]) -> SecretValue:
    return SecretValue(
        arn=entry["ARN"], name=entry["Name"], version_id=entry["VersionId"],
        stages=list(entry.get("VersionStages") or []),
        string=entry.get("SecretString"), binary=entry.get("SecretBinary"),
    )


def _snake(op: str) -> str:
    out = []
    for i, c in enumerate(op):
        if c.isupper() and i:
            out.append("_")
        out.append(c.lower())
    return "".join(out)
