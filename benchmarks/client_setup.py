"""Client setup cost: one session plus one client, as a run makes per (service, identity, region).

A run against fifty accounts in two regions opens a hundred clients, and a warm Lambda opens them
again on every invocation. This times the SDK's own way (a new ``AioSession``, default
``AioConfig``) against the package's (``reconciler.aws._sdk``: one model loader and one TLS
context per process), after one warm-up each, in a single process with no server (the HTTP
connector is built, nothing is sent). Prints CPU ms per session+client and model files read.

    python benchmarks/client_setup.py [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.loaders import JSONFileLoader

from reconciler.aws._sdk import new_session
from reconciler.aws.clients import client_config

_reads = [0]
_real_load = JSONFileLoader.load_file


def _counting(self: JSONFileLoader, file_path: str) -> Any:
    _reads[0] += 1
    return _real_load(self, file_path)


JSONFileLoader.load_file = _counting  # type: ignore[method-assign]


async def _open(session: AioSession, config: AioConfig, region: str) -> None:
    async with session.create_client("secretsmanager", region_name=region, aws_access_key_id="bench",
                                     aws_secret_access_key="bench", config=config) as client:
        await client._endpoint.http_session._get_session(None)  # builds the TLS connector


async def sdk_default(region: str) -> None:
    await _open(AioSession(), AioConfig(retries={"total_max_attempts": 1, "mode": "standard"}), region)


async def package(region: str) -> None:
    await _open(new_session(), client_config(None, 16), region)


async def measure(name: str, make: Callable[[str], Awaitable[None]], n: int) -> None:
    await make("us-east-1")  # warm-up: imports and first reads are not the per-client cost
    _reads[0] = 0
    cpu = time.process_time()
    for i in range(n):
        await make("us-east-1" if i % 2 else "eu-west-1")
    per = (time.process_time() - cpu) / n * 1000
    print(f"  {name:<30} {per:7.1f} ms CPU per session+client   {_reads[0] / n:5.2f} model files read per client")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    n = ap.parse_args().clients
    print(f"{n} sessions + clients each, after one warm-up:")
    await measure("SDK default (AioSession)", sdk_default, n)
    await measure("reconciler (_sdk.new_session)", package, n)


if __name__ == "__main__":
    asyncio.run(main())
