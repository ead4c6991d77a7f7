"""An embedded local AWS (moto's server over HTTP) for the demo, the tests and the benchmarks.

One place starts it, so all three see the same AWS: a real HTTP endpoint that aioboto3 talks to
exactly as it talks to AWS. moto is imported lazily: it is the ``[local]`` extra, never needed in
production or in the Lambda bundle.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LOCAL_HOST = "127.0.0.1"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"  # moto's default account
# Fake credentials: moto accepts anything, and real ones must never reach a local endpoint.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Variables that would point the SDK at real credentials; dropped by ``use_local_environment``.
_REAL_CREDENTIAL_VARIABLES = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class LocalAwsUnavailable(RuntimeError):
    """moto's server is not installed: ``pip install 'secrets-reconciler[local]'``."""


def local_environment(region: str = LOCAL_REGION, credentials: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for talking to a local AWS (without the endpoint)."""
    return {**(credentials or FAKE_CREDENTIALS), "AWS_DEFAULT_REGION": region, "AWS_REGION": region}


def use_local_environment(region: str = LOCAL_REGION, credentials: Mapping[str, str] | None = None,
                          endpoint: str | None = None) -> None:
    """Point this process's AWS SDKs at fake credentials (and the endpoint, when given)."""
    os.environ.update(local_environment(region, credentials))
    if endpoint is not None:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    for var in _REAL_CREDENTIAL_VARIABLES:
        os.environ.pop(var, None)


@dataclass
class LocalAws:
    """A running moto server. ``url`` is its endpoint; ``stop()`` ends it."""

    server: Any
    url: str

    def reset(self) -> None:
        """Forget every resource (moto's reset API), as a fresh AWS."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request) as response:  # a local URL we just started
            response.read()

    def stop(self) -> None:
        self.server.stop()


def start_local_aws(host: str = LOCAL_HOST) -> LocalAws:
    """Start moto's threaded server on a free port. Raises ``LocalAwsUnavailable`` without moto."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise LocalAwsUnavailable("the local AWS emulator needs: pip install 'secrets-reconciler[local]'") from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's access log
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    return LocalAws(server, f"http://{bound_host}:{port}")


@contextmanager
def local_aws(host: str = LOCAL_HOST) -> Iterator[LocalAws]:
    aws = start_local_aws(host)
    try:
        yield aws
    finally:
        aws.stop()
