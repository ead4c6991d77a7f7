"""The SDK's process-wide parts: parsed service models and the default TLS trust store, made once.

Every ``AioSession`` builds its own botocore ``Loader``, which re-reads and re-parses the JSON
models (``endpoints.json`` alone is ~1 MB), and every aiohttp connector loads certifi's CA bundle
into a new ``SSLContext``. Measured on this project's machines, one session plus one client cost
~113 ms of CPU, ~27 ms of it the CA bundle and ~80 ms the models; a run opens one client per
(service, identity, region) plus STS, and a warm Lambda pays it again on every invocation.

Invariants:
- One ``Loader`` per data path, shared by every session this package makes (``new_session``).
  The loader only caches what it has read from disk, and botocore already shares those objects
  between all the clients of one session, so sharing them between sessions adds no mutation.
  A session whose ``data_path`` differs (``AWS_DATA_PATH``) gets the loader of its own path.
- One verifying ``SSLContext`` per CA bundle file: the default bundle (``verify=True``) or the
  one ``AWS_CA_BUNDLE`` / a ``verify`` path names. It is the context aiobotocore would build for
  that file (``create_urllib3_context`` plus ``load_verify_locations``), made once, and it also
  checks host names (aiobotocore's does not): verification is never weakened. A client
  certificate, a proxy or ``verify=False`` takes aiobotocore's own path, unchanged
  (aiobotocore#1469 asks upstream for a way to pass a context; its aiohttp session has none).
  A bundle file changed while the process runs is read again only by a new process.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import aiohttp
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.httpsession import create_urllib3_context, get_cert_path
from botocore.loaders import Loader, create_loader

from .._exceptions import PermanentError

__all__ = ["SharedTLSHTTPSession", "check_ca_bundle", "new_session", "shared_loader", "tls_context"]

_lock = threading.Lock()  # sessions may be made from Lambda's or a test's other threads
_loaders: dict[str | None, Loader] = {}
_tls: dict[str, ssl.SSLContext] = {}


def shared_loader(data_path: str | None) -> Loader:
    """The process's botocore ``Loader`` for one data path (``None``: botocore's default)."""
    with _lock:
        loader = _loaders.get(data_path)
        if loader is None:
            loader = _loaders[data_path] = create_loader(data_path)
        return loader


def new_session(profile: str | None = None) -> AioSession:
    """A fresh ``AioSession`` (its own credentials and config) reading models from the shared loader.

    ``ProfileNotFound`` for an unknown profile surfaces when the session first reads its config,
    as it does for a plain ``AioSession``.
    """
    session = AioSession(profile=profile) if profile else AioSession()
    # Reading data_path reads the profile's config: an unknown profile raises here, as botocore would
    # on its first config read, and the callers map it (credentials.Sessions._make).
    session.register_component("data_loader", shared_loader(session.get_config_variable("data_path")))
    return session


def tls_context(verify: bool | str = True) -> ssl.SSLContext:
    """The verifying context for one CA bundle (``True``: the default bundle), loaded once per process."""
    cafile = get_cert_path(verify)  # True -> botocore's default bundle; a path -> that path
    with _lock:
        context = _tls.get(cafile)
        if context is None:
            context = create_urllib3_context()
            context.load_verify_locations(cafile, None, None)
            # urllib3 leaves host names to its own match step, which aiohttp never runs: with
            # urllib3's default (False) a valid certificate for any other host would be accepted.
            context.check_hostname = True
            _tls[cafile] = context
        return context


def check_ca_bundle(session: AioSession) -> None:
    """The CA bundle a session's config names (``AWS_CA_BUNDLE``, ``ca_bundle``) loads, or one clear error.

    Unchecked, a missing or unreadable bundle fails every call of the identity as a bare
    ``HTTPClientError``; checked here it fails them with the file and the reason, once.
    """
    path = session.get_config_variable("ca_bundle")
    if not path:
        return
    try:
        tls_context(str(path))
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise PermanentError(f"CA bundle {path} cannot be used: {reason}", code="InvalidCABundle",
                             operation="Session") from None


class SharedTLSHTTPSession(AIOHTTPSession):  # type: ignore[misc]  # aiobotocore is untyped
    """aiobotocore's aiohttp session whose verifying connectors share one ``SSLContext`` per bundle."""

    def _create_connector(self, proxy_url: str | None) -> Any:
        # Only the plain case is ours: verify=True or a bundle path, no client certificate, no
        # proxy. Anything else, or an aiobotocore whose private attributes moved, takes the
        # library's own path.
        verify: Any = getattr(self, "_verify", None)
        plain = ((verify is True or (isinstance(verify, str) and verify != ""))
                 and getattr(self, "_cert_file", "") is None and not proxy_url
                 and hasattr(self, "_max_pool_connections")
                 and isinstance(getattr(self, "_connector_args", None), dict))
        if not plain:
            return super()._create_connector(proxy_url)
        return aiohttp.TCPConnector(limit=self._max_pool_connections, ssl=tls_context(verify),
                                    **self._connector_args)
