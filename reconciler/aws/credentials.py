"""Sessions per identity: the default chain, a named profile, or a role assumed with STS.

A role is assumed with aiobotocore's own refreshable machinery (``AioAssumeRoleCredentialFetcher``
behind ``AioDeferredRefreshableCredentials``), plugged into a fresh session as its credential
provider (``register_component``): credentials refresh themselves before expiry, and nothing
sets botocore's private attributes.

Invariants:
- One session per identity, made once (``_once``): one AssumeRole per identity, and no lock shared
  between identities, so a fan-out to fifty accounts assumes fifty roles at once.
- The first AssumeRole happens here, through the ``Caller`` (retried when transient, counted), so
  a role that cannot be assumed fails where the engine asks for the endpoint, with its own error
  (AccessDenied on sts:AssumeRole, naming the role) for every item of that identity, logged once.
- A named profile that does not exist fails the same way, with ProfileNotFound: its items fail,
  the run goes on (SPEC: Manifest safety).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import Any

from .._exceptions import BackendError, PermanentError
from ._once import Once
from .breaker import Breaker
from .call import Caller, CallSpec
from .errors import map_exceptions
from .identity import Identity

log = logging.getLogger("reconciler")

ROLE_SESSION_NAME = "secrets-reconciler"
ASSUME_ROLE_SECONDS = 3600
STS_FALLBACK_REGION = "us-east-1"  # STS is global; any region answers when none is configured
UNKNOWN_ACCOUNT = "-"  # pacing key for STS calls, which are not paced


def default_region() -> str | None:
    """The region of the default credential chain's configuration, if any."""
    from botocore.exceptions import ConfigParseError, ProfileNotFound

    from ._sdk import new_session

    try:
        region = new_session().get_config_variable("region")
    except (ProfileNotFound, ConfigParseError):  # the default identity's items say so, by name
        return None
    return str(region) if region else None


class Sessions:
    def __init__(self, caller: Caller, config: Any) -> None:
        self._caller = caller
        self._config = config  # AioConfig for the STS clients
        self._sessions: Once[str, Any] = Once()
        self._accounts: Once[str, str] = Once()
        self._breakers: dict[str, Breaker] = {}

    def breaker(self, identity: Identity) -> Breaker:
        """Opened by the first failure to get credentials; repeats that failure, not CircuitOpen."""
        b = self._breakers.get(identity.key)
        if b is None:
            b = self._breakers[identity.key] = Breaker(f"identity {identity}", threshold=1, repeat_cause=True)
        return b

    async def session(self, identity: Identity) -> Any:
        """The identity's AioSession, with working credentials; BackendError if there are none."""
        breaker = self.breaker(identity)
        breaker.check()
        try:
            return await self._sessions.get(identity.key, lambda: self._make(identity))
        except BackendError as exc:
            if breaker.failure(exc, immediate=True):
                log.error("identity unusable; its items fail", extra={
                    "identity": str(identity), "operation": exc.operation, "error_type": exc.type})
            raise

    async def account_id(self, identity: Identity) -> str:
        """The identity's account: from its role ARN, else one GetCallerIdentity per identity."""
        await self.session(identity)  # an unusable identity fails here, with its own error
        hint = identity.account_hint
        if hint:
            return hint
        return await self._accounts.get(identity.key, lambda: self._caller_account(identity))

    async def _caller_account(self, identity: Identity) -> str:
        session = await self.session(identity)
        region = session.get_config_variable("region") or STS_FALLBACK_REGION
        async with AsyncExitStack() as stack:
            with map_exceptions("CreateClient", subject=f"sts {region} as {identity}"):  # e.g. a bad endpoint URL
                sts = await stack.enter_async_context(
                    session.create_client("sts", region_name=region, config=self._config))
            spec = CallSpec(service="sts", operation="GetCallerIdentity", account=UNKNOWN_ACCOUNT, region=region,
                            subject=str(identity))
            resp = await self._caller.call(spec, sts.get_caller_identity)
        return str(resp["Account"])

    async def _make(self, identity: Identity) -> Any:
        from ._sdk import check_ca_bundle, new_session

        with map_exceptions("Session", subject=str(identity)):
            base = new_session(identity.profile)
            region = base.get_config_variable("region")  # an unknown profile raises ProfileNotFound here
            source = await base.get_credentials()
        check_ca_bundle(base)  # before any call: a bad bundle fails the identity once, by name
        if not identity.role_arn:
            return base
        if source is None:
            raise PermanentError(f"AssumeRole {identity.role_arn}: NoCredentials: no credentials to assume it with",
                                 code="NoCredentials", operation="AssumeRole")
        return await self._assume(identity, identity.role_arn, base, region, source)

    async def _assume(self, identity: Identity, role_arn: str, base: Any, region: str | None, source: Any) -> Any:
        from aiobotocore.credentials import (
            AioAssumeRoleCredentialFetcher,
            AioCredentialResolver,
            AioDeferredRefreshableCredentials,
        )

        from ._sdk import new_session

        sts_region = region or STS_FALLBACK_REGION

        def sts_client(service: str, **kwargs: Any) -> Any:
            return base.create_client(service, region_name=sts_region, config=self._config, **kwargs)

        extra: dict[str, Any] = {"RoleSessionName": ROLE_SESSION_NAME, "DurationSeconds": ASSUME_ROLE_SECONDS}
        if identity.external_id:
            extra["ExternalId"] = identity.external_id
        fetcher = AioAssumeRoleCredentialFetcher(sts_client, source, role_arn, extra_args=extra)
        creds = AioDeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")
        spec = CallSpec(service="sts", operation="AssumeRole", account=identity.account_hint or UNKNOWN_ACCOUNT,
                        region=sts_region, subject=role_arn)
        await self._caller.call(spec, creds.get_frozen_credentials)
        session = new_session()
        session.register_component("credential_provider", AioCredentialResolver(providers=[_Fixed(creds)]))
        if region:
            session.set_config_variable("region", region)
        return session


class _Fixed:
    """A credential provider that hands out one (self-refreshing) credentials object."""

    METHOD = "assume-role"
    CANONICAL_NAME = "custom-secrets-reconciler"

    def __init__(self, creds: Any) -> None:
        self._creds = creds

    async def load(self) -> Any:
        return self._creds
