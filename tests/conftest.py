"""Session fixtures: a moto server over HTTP, the fault proxy in front of it, and factories."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from faultproxy import FaultProxy
from support import LOCAL_ACCOUNT, LocalAws, start_local_aws, use_local_environment

# Real-looking fake credentials (moto accepts anything); no profile or session token from the host.
use_local_environment()

ACCOUNT_A = LOCAL_ACCOUNT  # moto's default account
ACCOUNT_B = "222222222222"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/replica-writer"

# RECONCILER_TEST_AWS_MODE=1 (tox -e aws-like): every test's proxy starts in AWS mode
# (docs/development/aws-mode.md); a test can still turn it on alone with proxy.faults.aws_mode.
AWS_MODE = os.environ.get("RECONCILER_TEST_AWS_MODE", "") == "1"


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """One moto server over HTTP for the session (reconciler._local, shared with the demo)."""
    aws = start_local_aws()
    yield aws
    aws.stop()


@pytest.fixture(scope="session")
def moto_url(local_aws: LocalAws) -> str:
    return local_aws.url


@pytest.fixture(scope="session")
def _proxy(moto_url: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_url, aws_mode=AWS_MODE).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def proxy(_proxy: FaultProxy, local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch,
          request: pytest.FixtureRequest) -> Iterator[FaultProxy]:
    """A clean AWS behind a clean proxy; the code under test talks to the proxy.

    Afterwards: no request AWS would refuse (its server-side limits, counted by the proxy in
    every mode) was sent, unless the test is marked ``aws_refusals_expected``."""
    _proxy.reset()
    _proxy.drain()
    local_aws.reset()
    _proxy.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", _proxy.url)
    yield _proxy
    if request.node.get_closest_marker("aws_refusals_expected") is None:
        assert not _proxy.refused, f"requests AWS would refuse: {dict(_proxy.refused)}"


@pytest.fixture
def aws(moto_url: str, proxy: FaultProxy) -> AwsHelper:
    """Seed and inspect AWS directly (not through the proxy, so nothing is counted)."""
    return AwsHelper(moto_url)


class AwsHelper:
    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[tuple[str, str, str], Any] = {}

    def client(self, service: str = "secretsmanager", region: str = "us-east-1", account: str = ACCOUNT_A) -> Any:
        key = (service, region, account)
        if key not in self._clients:
            kwargs: dict[str, Any] = {}
            if account != ACCOUNT_A:
                sts = boto3.client("sts", region_name="us-east-1", endpoint_url=self.url)
                c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/seed", RoleSessionName="seed")["Credentials"]
                kwargs = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                          "aws_session_token": c["SessionToken"]}
            self._clients[key] = boto3.client(service, region_name=region, endpoint_url=self.url, **kwargs)
        return self._clients[key]

    def sm(self, region: str = "us-east-1", account: str = ACCOUNT_A) -> Any:
        return self.client("secretsmanager", region, account)

    def create(self, name: str, value: str | bytes, region: str = "us-east-1", account: str = ACCOUNT_A,
               **kw: Any) -> dict[str, Any]:
        key = "SecretBinary" if isinstance(value, bytes) else "SecretString"
        return dict(self.sm(region, account).create_secret(Name=name, **{key: value}, **kw))

    def put(self, name: str, value: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> dict[str, Any]:
        return dict(self.sm(region, account).put_secret_value(SecretId=name, SecretString=value))

    def value(self, name: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> str | bytes:
        r = self.sm(region, account).get_secret_value(SecretId=name, VersionStage="AWSCURRENT")
        return r["SecretString"] if "SecretString" in r else r["SecretBinary"]

    def describe(self, name: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> dict[str, Any]:
        return dict(self.sm(region, account).describe_secret(SecretId=name))

    def tags(self, name: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.describe(name, region, account).get("Tags", [])}

    def exists(self, name: str, region: str = "us-east-1", account: str = ACCOUNT_A) -> bool:
        try:
            self.describe(name, region, account)
            return True
        except self.sm(region, account).exceptions.ResourceNotFoundException:
            return False

    def names(self, region: str = "us-east-1", account: str = ACCOUNT_A) -> list[str]:
        out: list[str] = []
        for page in self.sm(region, account).get_paginator("list_secrets").paginate():
            out += [s["Name"] for s in page["SecretList"]]
        return sorted(out)


@pytest.fixture
def write_manifest(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a manifest (YAML text, dedented) and any side files; return its path."""

    def make(text: str, files: dict[str, str] | None = None, name: str = "manifest.yaml") -> Path:
        for rel, content in (files or {}).items():
            p = tmp_path / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(content)
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    return make


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], _proxy: FaultProxy) -> Callable[..., tuple[int, Any, str]]:
    """Factory: run the CLI in-process with --format json; return (exit code, report or stdout, stderr).

    Each run is a later run: the proxy's clock then moves past ListSecrets' lag (AWS mode), unless
    the test sets ``proxy.faults.runs_in_lag_window`` to run again inside it."""
    import json

    from reconciler._cli import main

    def run(*args: str) -> tuple[int, Any, str]:
        argv = list(args)
        if argv[0] in ("plan", "run") and "--format" not in argv:
            argv += ["--format", "json"]
        if argv[0] in ("plan", "run") and "--metrics-sink" not in argv:
            argv += ["--metrics-sink", "none"]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        if not _proxy.faults.runs_in_lag_window:
            _proxy.clock.advance(_proxy.faults.list_lag)
        out, err = capsys.readouterr()
        try:
            parsed: Any = json.loads(out)
        except ValueError:
            parsed = out
        return code, parsed, err

    return run
