"""The conformance suite's fixtures: one target (real AWS by profile, or moto behind the fault
proxy in AWS mode), one random prefix per session, and a finally-block that force-deletes
everything the session made, even when a test failed or was interrupted."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy

from aws.conformance_cost import SUITE_API_CALLS, SUITE_SECRETS, estimate
from aws.conformance_policy import RUN_TAG
from aws.conformance_target import Target, new_run_id, owner_for, sweep

MOTO_REGIONS = ("us-east-1", "us-west-2")
# ListSecrets "might not reflect changes from the last five minutes": how long a test that needs the
# listing (orphans are found only by listing) waits for it on a real account, and how often it looks.
LISTING_LAG_LIMIT_S = 330.0
LISTING_POLL_S = 5.0
FAST_RETRY = "retry: {max_attempts: 3, base_delay: 0.05, max_delay: 0.5}"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aws conformance (tests/aws)")
    group.addoption("--profile", default=None, help="AWS profile of a sandbox account; unset: moto (env "
                    "RECONCILER_AWS_PROFILE)")
    group.addoption("--region", action="append", default=None, help="source region, then destination "
                    "region (env RECONCILER_AWS_REGIONS=r1,r2)")


def pytest_report_header(config: pytest.Config) -> str:
    """The cost, stated before anything is created (shown when tests/aws is on the command line)."""
    profile, regions = _settings(config)
    est = estimate(secrets=SUITE_SECRETS if profile else 0, api_calls=SUITE_API_CALLS)
    return f"tests/aws target: {profile or 'moto (no AWS account touched)'} {regions[0]} -> {regions[1]}; {est.line()}"


def _settings(config: pytest.Config) -> tuple[str | None, tuple[str, str]]:
    profile = config.getoption("--profile", default=None) or os.environ.get("RECONCILER_AWS_PROFILE") or None
    regions = config.getoption("--region", default=None) or [
        r for r in os.environ.get("RECONCILER_AWS_REGIONS", "").split(",") if r.strip()]
    if profile and not regions:
        raise pytest.UsageError("tests/aws with --profile needs --region (or RECONCILER_AWS_REGIONS)")
    if not profile:
        return None, MOTO_REGIONS
    return profile, (regions[0], regions[1] if len(regions) > 1 else regions[0])


def _aws_mode_proxy(upstream: str) -> FaultProxy:
    """The fault proxy with AWS's behaviours on, by whichever switch this proxy has."""
    try:
        proxy = FaultProxy(upstream, aws_mode=True)  # type: ignore[call-arg]
    except TypeError:
        proxy = FaultProxy(upstream)
        proxy.faults.aws_semantics = True
    return proxy.start()


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    profile, regions = _settings(request.config)
    run_id = new_run_id()
    if profile:
        # tests/conftest.py pointed the SDKs at fake credentials; undo that for the real account.
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            os.environ.pop(var, None)
        os.environ["AWS_PROFILE"] = profile
        os.environ["AWS_DEFAULT_REGION"] = regions[0]
        t = Target(name=profile, profile=profile, regions=regions, run_id=run_id)
    else:
        t = Target(name="moto", regions=regions, run_id=run_id, endpoint=request.getfixturevalue("moto_url"),
                   recordings=request.getfixturevalue("tmp_path_factory").mktemp("recordings"))
    est = estimate(secrets=SUITE_SECRETS if profile else 0, api_calls=SUITE_API_CALLS)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = f"{est.line()}; target {t.name}, regions {t.regions[0]} -> {t.regions[1]}, prefix {t.prefix}"
    if reporter is not None:
        reporter.write_line(line)
    try:
        yield t
    finally:  # even after a failing or interrupted test: nothing of this run stays behind
        sweep(t, run_id=run_id)
        t.write_recording()


@pytest.fixture(scope="session")
def aws_proxy(target: Target) -> Iterator[FaultProxy | None]:
    if target.real:
        yield None
        return
    proxy = _aws_mode_proxy(target.endpoint or "")
    yield proxy
    proxy.stop()


class Case:
    """One test's corner of the target: its own prefix and owner, seeding helpers, and the CLI."""

    def __init__(self, *, target: Target, proxy: FaultProxy | None, test: str, tmp: Path,
                 run_cli: Callable[..., tuple[int, Any, str]]) -> None:
        self.t, self.proxy, self.tmp, self._run_cli = target, proxy, tmp, run_cli
        self.prefix = f"{target.prefix}{test}/"
        self.owner = owner_for(target.run_id, test)
        self.src_region, self.dst_region = target.regions

    def sm(self, region: str | None = None) -> Any:
        return self.t.client("secretsmanager", region or self.src_region)

    def ssm(self, region: str | None = None) -> Any:
        return self.t.client("ssm", region or self.src_region)

    def name(self, rel: str) -> str:
        return self.prefix + rel

    def create(self, rel: str, value: str, region: str | None = None) -> dict[str, Any]:
        self.t.written.add(value)
        return dict(self.sm(region).create_secret(Name=self.name(rel), SecretString=value, Tags=self.t.tags()))

    def put(self, rel: str, value: str, region: str | None = None) -> str:
        self.t.written.add(value)
        return str(self.sm(region).put_secret_value(SecretId=self.name(rel), SecretString=value)["VersionId"])

    def value(self, rel: str, region: str | None = None) -> str:
        # VersionStage named: moto answers a bare GetSecretValue with the newest version, not AWSCURRENT
        r = self.sm(region).get_secret_value(SecretId=self.name(rel), VersionStage="AWSCURRENT")
        return str(r["SecretString"])

    def current(self, rel: str, region: str | None = None) -> str:
        stages = self.sm(region).describe_secret(SecretId=self.name(rel))["VersionIdsToStages"]
        return next(v for v, s in stages.items() if "AWSCURRENT" in s)

    def describe(self, rel: str, region: str | None = None) -> dict[str, Any]:
        return dict(self.sm(region).describe_secret(SecretId=self.name(rel)))

    def wait_listed(self, rels: list[str], region: str | None = None) -> float:
        """Wait until ListSecrets shows every one of these names (AWS lags; moto never does);
        return the seconds it took, for the recording."""
        wanted, started = {self.name(r) for r in rels}, time.monotonic()
        if self.proxy is not None:  # the emulated lag runs on the proxy's fake clock: "wait" it out
            self.proxy.clock.advance(self.proxy.faults.list_lag)
        flt = [{"Key": "name", "Values": [self.prefix]}]
        while True:
            seen = {s["Name"] for page in self.sm(region).get_paginator("list_secrets").paginate(Filters=flt)
                    for s in page["SecretList"]}
            waited = time.monotonic() - started
            if wanted <= seen or not self.t.real or waited > LISTING_LAG_LIMIT_S:
                return waited
            time.sleep(LISTING_POLL_S)

    def put_param(self, rel: str, value: str, region: str | None = None) -> None:
        self.t.written.add(value)
        self.ssm(region).put_parameter(Name="/" + self.name(rel), Value=value, Type="SecureString",
                                       Tags=self.t.tags())

    def param(self, rel: str, region: str | None = None) -> str:
        r = self.ssm(region).get_parameter(Name="/" + self.name(rel), WithDecryption=True)
        return str(r["Parameter"]["Value"])

    def manifest(self, mappings: str, *, prune: str = "") -> Path:
        settings = ", ".join(x for x in (FAST_RETRY, f"owner: {self.owner}", prune and f"prune: {prune}") if x)
        text = (f"version: 1\nsettings: {{{settings}}}\n"
                f"defaults:\n  source: {{region: {self.src_region}}}\n  destination: {{region: {self.dst_region}}}\n"
                f"mappings:\n{textwrap.indent(textwrap.dedent(mappings), '  ')}")
        path = self.tmp / "manifest.yaml"
        path.write_text(text)
        return path

    def exact(self, *ids: str, extra: str = "") -> str:
        return "".join(f"- id: {i}\n  source: {self.name('src/' + i)}\n  destination: {self.name('dst/' + i)}\n"
                       f"{extra}" for i in ids)

    def run(self, mode: str, path: Path) -> tuple[int, dict[str, Any]]:
        code, report, _ = self._run_cli(mode, str(path))
        assert isinstance(report, dict), report
        return code, report


@pytest.fixture
def case(target: Target, aws_proxy: FaultProxy | None, request: pytest.FixtureRequest, tmp_path: Path,
         run_cli: Callable[..., tuple[int, Any, str]], monkeypatch: pytest.MonkeyPatch) -> Case:
    if aws_proxy is not None:
        aws_proxy.reset()
        aws_proxy.faults.aws_semantics = True  # reset() restores the defaults; keep AWS mode on
        if hasattr(aws_proxy.faults, "aws_mode"):
            aws_proxy.faults.aws_mode = True
        monkeypatch.setenv("AWS_ENDPOINT_URL", aws_proxy.url)
    # a short readable slug plus a digest of the node id: parametrized tests get distinct prefixes
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.removeprefix("test_").lower())[:32].strip("-")
    test = f"{slug}-{hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:6]}"
    return Case(target=target, proxy=aws_proxy, test=test, tmp=tmp_path, run_cli=run_cli)


__all__ = ["RUN_TAG", "Case"]
