"""The composition root of the AWS layer, one per run: what the engine holds.

``Backend`` wires the parts and owns their lifetime (clients close with it); each job lives in
its own module:

- ``credentials.Sessions``: sessions per identity, AssumeRole, account ids;
- ``clients.Clients``: one client per (service, identity, region), SDK retries off;
- ``call.Caller``: pacing, retries, breakers and counts for every call;
- ``secretsmanager.SecretsManager`` / ``ssm.ParameterStore``: the stores (``store.Store``).

The engine asks for ``await backend.endpoint(identity, region)`` and gets a ``Store``; a store
that cannot be had (a role that cannot be assumed, a profile that does not exist) raises its
BackendError there, so the engine fails that scope's items with that one error.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, cast

import anyio

from ._once import Once
from .arn import partition_of
from .call import ApiClass, Caller, CallSpec, CallStats, RateLimit, RetryConfig, method_name
from .clients import Clients, TimeoutConfig, client_config
from .credentials import Sessions, default_region
from .identity import Identity
from .ratelimit import Clock, Sleep
from .secretsmanager import SecretsManager
from .store import Store, StoreService

ApiCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""``await call("ListChildren", {...})`` -> the response: paced, retried, counted, translated."""


class Backend:
    """Owns sessions, clients, pacing and breakers for one run."""

    def __init__(
        self,
        *,
        concurrency: int,
        retry: RetryConfig,
        deadline: float | None = None,
        rate_limits: Sequence[RateLimit] | None = None,
        stats: CallStats | None = None,
        timeouts: TimeoutConfig | None = None,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        owner: str | None = None,
    ) -> None:
        self.owner = owner  # settings.owner: Parameter Store listings ask which names carry it
        self.concurrency = concurrency
        self.stats = stats or CallStats()
        self.caller = Caller(retry=retry, deadline=deadline, observer=self.stats, rate_limits=rate_limits or (),
                             clock=clock, sleep=sleep, rng=rng)
        self._stack = AsyncExitStack()
        config = client_config(timeouts, concurrency)
        self.sessions = Sessions(self.caller, config)
        self.clients = Clients(self._stack, self.sessions, config)
        self._stores: Once[tuple[str, str, str], Store] = Once()

    async def __aenter__(self) -> Backend:
        await self._stack.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        with anyio.CancelScope(shield=True):
            await self._stack.__aexit__(None, None, None)

    @property
    def deadline(self) -> float | None:
        return self.caller.deadline

    def default_region(self) -> str | None:
        return default_region()

    async def account_id(self, identity: Identity) -> str:
        return await self.sessions.account_id(identity)

    async def endpoint(self, identity: Identity, region: str, *, service: StoreService = "secretsmanager") -> Store:
        """The store for (identity, region); BackendError (the identity's own) if it cannot be had."""
        return await self._stores.get((service, identity.key, region),
                                      lambda: self._open_store(service, identity, region))

    async def _open_store(self, service: StoreService, identity: Identity, region: str) -> Store:
        account = await self.account_id(identity)
        if service == "secretsmanager":
            return SecretsManager(caller=self.caller, client=lambda: self.clients.get(service, identity, region),
                                  identity=identity, region=region, account=account)
        from .ssm import ParameterStore, SsmApi

        api = self.api("ssm", identity, region, account=account)

        async def ssm_call(op: str, params: dict[str, Any], api_class: SsmApi) -> dict[str, Any]:
            return await api(op, params, quota_class=cast(ApiClass, str(api_class.value)))

        # cast: no stage moves, restores or recovery windows (see ssm's docstring); the planner never asks
        return cast(Store, ParameterStore(ssm_call, region=region, account=account,
                                          partition=partition_of(region), identity=identity, owner=self.owner))

    def api(self, service: str, identity: Identity, region: str, *, account: str = "-") -> _BoundApi:
        """Any other service (Organizations, SSM) through the same caller: ``await api(op, params)``."""
        return _BoundApi(self, service, identity, region, account)


class _BoundApi:
    def __init__(self, backend: Backend, service: str, identity: Identity, region: str, account: str) -> None:
        self._backend = backend
        self._service = service
        self._identity = identity
        self._region = region
        self._account = account

    async def __call__(self, op: str, params: dict[str, Any], *, quota_class: ApiClass | None = None) -> dict[str, Any]:
        client = await self._backend.clients.get(self._service, self._identity, self._region)
        method = getattr(client, method_name(op))
        spec = CallSpec(service=self._service, operation=op, account=self._account, region=self._region,
                        quota_class=quota_class)
        result: dict[str, Any] = await self._backend.caller.call(spec, lambda: method(**params))
        return result
