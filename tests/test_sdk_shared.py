"""The SDK's process-wide parts (reconciler/aws/_sdk.py): models parsed once, one TLS trust store.

No server and no wall clock: what is asserted is what was read and which objects are shared.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.httpsession import AIOHTTPSession
from botocore.httpsession import get_cert_path
from botocore.loaders import JSONFileLoader

from reconciler._exceptions import PermanentError
from reconciler.aws import _sdk
from reconciler.aws.clients import client_config


@pytest.fixture
def file_loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every JSON model file botocore reads from disk, by path."""
    seen: list[str] = []
    real = JSONFileLoader.load_file

    def counting(self: JSONFileLoader, file_path: str) -> Any:
        seen.append(file_path)
        return real(self, file_path)

    monkeypatch.setattr(JSONFileLoader, "load_file", counting)
    yield seen


async def _open_client(service: str = "secretsmanager") -> Any:
    session = _sdk.new_session()
    async with session.create_client(service, region_name="eu-west-1", endpoint_url="http://127.0.0.1:9",
                                     aws_access_key_id="a", aws_secret_access_key="b",
                                     config=client_config(None, 4)) as client:
        return client


async def test_sessions_share_one_loader_so_models_are_parsed_once_per_process(file_loads: list[str]) -> None:
    # GIVEN a client already made once in this process (its models are read)
    await _open_client()
    file_loads.clear()
    # WHEN a new session (as each run and each assumed role makes) opens the same client again
    await _open_client()
    # THEN nothing is read from disk again: not the endpoints, not the service model
    assert file_loads == []
    assert _sdk.new_session().get_component("data_loader") is _sdk.new_session().get_component("data_loader")


def test_a_session_with_its_own_data_path_gets_its_own_loader(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    # GIVEN AWS_DATA_PATH names an extra model directory
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    # WHEN a session is made THEN its loader searches that path, and is not the default one
    loader = _sdk.new_session().get_component("data_loader")
    assert str(tmp_path) in loader.search_paths
    monkeypatch.delenv("AWS_DATA_PATH")
    assert _sdk.new_session().get_component("data_loader") is not loader


async def test_default_verifying_connectors_share_one_context_that_still_verifies() -> None:
    # GIVEN two HTTP sessions as aiobotocore makes them for two clients (verify=True by default)
    a, b = _sdk.SharedTLSHTTPSession(verify=True), _sdk.SharedTLSHTTPSession(verify=True)
    # WHEN each makes its connector
    ca, cb = a._create_connector(None), b._create_connector(None)
    try:
        # THEN both hold the one process-wide context: it requires certificates, checks host
        # names, and has the default CA bundle loaded
        ctx = _sdk.tls_context(True)
        assert ca._ssl is cb._ssl is ctx
        assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
        assert ctx.cert_store_stats()["x509_ca"] > 0
    finally:
        await ca.close()
        await cb.close()


async def test_a_ca_bundle_path_gets_one_context_of_its_own(tmp_path: Path) -> None:
    # GIVEN AWS_CA_BUNDLE-style verify paths: two sessions with one bundle, one with a copy
    bundle = Path(get_cert_path(True))
    copy = tmp_path / "corp-ca.pem"
    copy.write_bytes(bundle.read_bytes())
    one, two = _sdk.SharedTLSHTTPSession(verify=str(bundle)), _sdk.SharedTLSHTTPSession(verify=str(bundle))
    other = _sdk.SharedTLSHTTPSession(verify=str(copy))
    # WHEN their connectors are made
    c1, c2, c3 = one._create_connector(None), two._create_connector(None), other._create_connector(None)
    try:
        # THEN one bundle, one context (verifying, host names checked); another bundle, another
        assert c1._ssl is c2._ssl is _sdk.tls_context(str(bundle))
        assert c3._ssl is _sdk.tls_context(str(copy)) and c3._ssl is not c1._ssl
        assert c3._ssl.verify_mode is ssl.CERT_REQUIRED and c3._ssl.check_hostname
    finally:
        for c in (c1, c2, c3):
            await c.close()


async def test_no_verification_or_a_client_certificate_takes_aiobotocores_own_path() -> None:
    # GIVEN verify=False, and a client certificate
    off = _sdk.SharedTLSHTTPSession(verify=False)
    mtls = _sdk.SharedTLSHTTPSession(verify=True)
    mtls._cert_file = "/nonexistent/client.pem"
    # WHEN their connectors are made THEN no verification stays no verification, and the
    # certificate goes to aiobotocore's own context (which here fails to read it: not ours)
    co = off._create_connector(None)
    try:
        assert co._ssl is False
    finally:
        await co.close()
    with pytest.raises(OSError):
        mtls._create_connector(None)


async def test_every_client_of_a_run_uses_the_shared_tls_session() -> None:
    # GIVEN the run's client config WHEN a client is opened THEN its HTTP session is ours
    # (an aiobotocore upgrade that drops http_session_cls would fail here, not silently slow down)
    client = await _open_client()
    http = client._endpoint.http_session
    assert isinstance(http, _sdk.SharedTLSHTTPSession) and isinstance(http, AIOHTTPSession)


@pytest.mark.parametrize(("content", "reason"), [(None, "No such file"), (b"not a certificate\n", "NO_CERTIFICATE")])
def test_a_ca_bundle_that_cannot_be_used_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            content: bytes | None, reason: str) -> None:
    # GIVEN AWS_CA_BUNDLE names a missing file, or a file with no certificate in it
    bundle = tmp_path / "ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    # WHEN a session's bundle is checked THEN the error names the file and the reason
    with pytest.raises(PermanentError) as caught:
        _sdk.check_ca_bundle(_sdk.new_session())
    assert caught.value.type == "InvalidCABundle"
    assert str(bundle) in str(caught.value) and reason in str(caught.value)


def test_a_usable_ca_bundle_or_none_passes_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CA_BUNDLE", get_cert_path(True))
    _sdk.check_ca_bundle(_sdk.new_session())
    monkeypatch.delenv("AWS_CA_BUNDLE")
    _sdk.check_ca_bundle(_sdk.new_session())
