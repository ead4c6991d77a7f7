"""Shared benchmark plumbing: a moto server, the tests' fault proxy in front, a subprocess run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from faultproxy import FaultProxy  # noqa: E402
from support import start_local_stack  # noqa: E402

from reconciler._local import local_environment  # noqa: E402

ENV = local_environment(credentials={"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})


def start_aws() -> tuple[Any, str, FaultProxy]:
    """(a handle whose stop() ends both, moto's URL, the fault proxy): tests/support, as the tests use."""
    stack = start_local_stack(credentials=ENV)
    return stack, stack.url, stack.proxy


def run_reconciler(args: list[str], endpoint: str) -> tuple[dict[str, Any], float, float]:
    """Run the CLI in a child process: (report, wall seconds, the child's own peak RSS in MB).

    The peak is the child's VmHWM after exec, polled: ``getrusage(RUSAGE_CHILDREN)`` would count
    the pages a forked child shares with this process (moto lives here) before it execs.
    """
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", *args, "--format", "json", "--metrics-sink",
                                 "none", "--log-level", "ERROR"], stdout=out, stderr=err, env=env, cwd=ROOT)
        peak_kb = 0
        while proc.poll() is None:
            peak_kb = max(peak_kb, _peak_kb(proc.pid))
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1, 3):
            sys.stderr.write(err.read()[-3000:])
            raise SystemExit(f"reconciler exited {proc.returncode}")
        return json.loads(out.read()), wall, peak_kb / 1024.0


def _peak_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("VmHWM")))
    except (OSError, StopIteration, ValueError):
        return 0


def write_manifest(path: Path, n: int, *, src: str = "bench/src", dst: str = "bench/dst",
                   concurrency: int = 16, extra: str = "") -> None:
    lines = ["version: 1", f"settings: {{concurrency: {concurrency}, metrics: {{sink: none}}}}",
             "defaults: {source: {region: us-east-1}, destination: {region: us-west-2}}", "mappings:"]
    lines += [f"  - {{source: {src}/s{i:05d}, destination: {dst}/s{i:05d}{extra}}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def seed_sources(url: str, names: list[str]) -> None:
    """Create one JSON secret per name in us-east-1, eight at a time."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    sm = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=url)

    def create(i: int) -> None:
        for attempt in range(20):  # moto's store is not thread-safe under concurrent creates
            try:
                sm.create_secret(Name=names[i], SecretString=f'{{"password": "value-{i}"}}')
                return
            except sm.exceptions.ResourceExistsException:
                return
            except Exception:
                time.sleep(0.05 * (attempt + 1))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(len(names))))


def seed_in_sync(url: str, n: int, *, src: str = "bench/src", dst: str = "bench/dst", threads: int = 8) -> None:
    """Create N sources and their destinations exactly as a reconciler run would have left them."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    from reconciler._constants import DEFAULT_OWNER, TAG_MAPPING, TAG_OWNER, TAG_SOURCE
    from reconciler._transform import COPY
    from reconciler.engine.planner import version_token

    east = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=url)
    west = boto3.client("secretsmanager", region_name="us-west-2", endpoint_url=url)

    def create(client: Any, **kw: Any) -> Any:
        # moto's secret store is not thread-safe under concurrent creates: retry its 500s
        for attempt in range(20):
            try:
                return client.create_secret(**kw)
            except client.exceptions.ResourceExistsException:
                return client.describe_secret(SecretId=kw["Name"]) | {"VersionId": kw.get("ClientRequestToken")}
            except Exception:
                if attempt == 19:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return None

    def one(i: int) -> None:
        r = create(east, Name=f"{src}/s{i:05d}", SecretString=f"value-{i}", ClientRequestToken=str(uuid.uuid4()))
        if r.get("VersionId") is None:
            r = east.describe_secret(SecretId=f"{src}/s{i:05d}")
            r["VersionId"] = next(k for k, v in r["VersionIdsToStages"].items() if "AWSCURRENT" in v)
        name = f"{dst}/s{i:05d}"
        token = version_token(r["ARN"], r["VersionId"], COPY.fingerprint, "123456789012", "us-west-2", name)
        create(west, Name=name, SecretString=f"value-{i}", ClientRequestToken=token,
               Tags=[{"Key": TAG_OWNER, "Value": DEFAULT_OWNER}, {"Key": TAG_SOURCE, "Value": r["ARN"]},
                     {"Key": TAG_MAPPING, "Value": f"{src}/s{i:05d}"}])

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
