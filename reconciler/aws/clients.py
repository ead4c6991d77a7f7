"""One aiobotocore client per (service, identity, region), opened on first use, kept for the run.

Clients are created with the SDK's retries off (one attempt each: ``call.Caller`` retries, so
attempts do not multiply) and the manifest's timeouts. They are closed with the backend's exit
stack. Creation is memoised per key (``_once``): two callers of one key share one client, and
callers of different keys never wait for each other.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any, Protocol

from .._constants import CONNECT_TIMEOUT, READ_TIMEOUT
from ._once import Once
from .credentials import Sessions
from .errors import map_exceptions
from .identity import Identity

# A pool a little larger than the concurrency: listings and value reads run beside the writes.
POOL_HEADROOM = 4
MIN_POOL = 10


class TimeoutConfig(Protocol):
    @property
    def connect(self) -> float: ...
    @property
    def read(self) -> float: ...


def client_config(timeouts: TimeoutConfig | None, concurrency: int) -> Any:
    """The AioConfig every client of this run uses: no SDK retries, our timeouts, the shared TLS store."""
    from aiobotocore.config import AioConfig

    from ._sdk import SharedTLSHTTPSession

    return AioConfig(
        http_session_cls=SharedTLSHTTPSession,  # one CA bundle load per process, not per client
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=timeouts.connect if timeouts else CONNECT_TIMEOUT,
        read_timeout=timeouts.read if timeouts else READ_TIMEOUT,
        max_pool_connections=max(MIN_POOL, concurrency + POOL_HEADROOM),
    )


class Clients:
    def __init__(self, stack: AsyncExitStack, sessions: Sessions, config: Any) -> None:
        self._stack = stack
        self._sessions = sessions
        self._config = config
        self._clients: Once[tuple[str, str, str], Any] = Once()

    async def get(self, service: str, identity: Identity, region: str) -> Any:
        return await self._clients.get((service, identity.key, region), lambda: self._open(service, identity, region))

    async def _open(self, service: str, identity: Identity, region: str) -> Any:
        session = await self._sessions.session(identity)
        with map_exceptions("CreateClient", subject=f"{service} {region} as {identity}"):
            client = await self._stack.enter_async_context(
                session.create_client(service, region_name=region, config=self._config))
        if service in RAW_TIMESTAMP_SERVICES:
            _keep_raw_timestamps(client)
        return client


# Stores whose responses' timestamps the reconciler never reads (a DeletedDate is only tested for
# presence): the SDK turns each into a local-time datetime through dateutil, about half the CPU of
# parsing a ListSecrets page (20,000 timestamps in a 5,000-mapping run).
RAW_TIMESTAMP_SERVICES = frozenset({"secretsmanager", "ssm"})


def _keep_raw_timestamps(client: Any) -> None:
    """Leave this client's response timestamps as sent (epoch seconds).

    The endpoint makes a parser per response from its factory, which it shares with every client
    of the session (STS included, whose credentials' expiry must stay a datetime): this client's
    endpoint gets a factory of its own. Private SDK attributes: where they are not (another SDK
    version) the client simply keeps parsing timestamps.
    """
    from aiobotocore.parsers import AioResponseParserFactory

    endpoint = getattr(client, "_endpoint", None)
    if endpoint is not None and hasattr(endpoint, "_response_parser_factory"):
        factory = AioResponseParserFactory()
        factory.set_parser_defaults(timestamp_parser=_raw)
        endpoint._response_parser_factory = factory


def _raw(value: Any) -> Any:
    return value
