"""Security of the gRPC proxy (trialstore/storage/grpc): TLS, client certificates, tokens.

Certificates are made per test session with ``cryptography`` when installed, else the openssl
command line (see _grpc_helpers.make_certificates).
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")

from _grpc_helpers import make_certificates, served  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from trialstore.storage import InMemoryStorage, get_storage  # noqa: E402
from trialstore.storage.grpc import (  # noqa: E402
    GrpcProxyServer,
    GrpcStorageProxy,
    ProxyAuthenticationError,
    ProxyConnectionError,
)
from trialstore.study import StudyDirection  # noqa: E402

MIN = [StudyDirection.MINIMIZE]
TOKEN = "tok-Zq83-never-logged"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def _tls(certs: dict[str, pathlib.Path], client_ca: bool = False) -> dict[str, Any]:
    options = {
        "tls_cert": certs["server_cert"].read_bytes(),
        "tls_key": certs["server_key"].read_bytes(),
    }
    if client_ca:
        options["tls_client_ca"] = certs["ca"].read_bytes()
    return options


@pytest.fixture
def tls_server(certs: dict[str, pathlib.Path]) -> Iterator[GrpcProxyServer]:
    with served(InMemoryStorage(), **_tls(certs)) as server:
        yield server


def test_tls_client_talks_to_tls_server_and_plaintext_gets_a_connection_error(
    tls_server: GrpcProxyServer, certs: dict[str, pathlib.Path]
) -> None:
    secure = GrpcStorageProxy(port=tls_server.port, tls_ca_cert=certs["ca"])
    assert secure.create_new_study(MIN, "s") == 0
    plain = GrpcStorageProxy(port=tls_server.port, retry_timeout=0.3)
    with pytest.raises(ProxyConnectionError, match="unreachable"):
        plain.get_all_studies()
    untrusted = GrpcStorageProxy(port=tls_server.port, tls=True, retry_timeout=0.3)
    with pytest.raises(ProxyConnectionError):  # the test CA is not a system CA
        untrusted.get_all_studies()
    url = f"grpcs://localhost:{tls_server.port}?ca_cert={certs['ca']}"
    assert get_storage(url).get_study_id_from_name("s") == 0  # still serving


def test_tls_client_against_a_plaintext_server_gets_a_connection_error(
    certs: dict[str, pathlib.Path],
) -> None:
    with served(InMemoryStorage()) as server:
        secure = GrpcStorageProxy(port=server.port, tls_ca_cert=certs["ca"], retry_timeout=0.3)
        with pytest.raises(ProxyConnectionError):
            secure.get_all_studies()
        assert GrpcStorageProxy(port=server.port).create_new_study(MIN) == 0


def test_client_certificates_are_required_when_configured(
    certs: dict[str, pathlib.Path],
) -> None:
    with served(InMemoryStorage(), **_tls(certs, client_ca=True)) as server:
        anonymous = GrpcStorageProxy(port=server.port, tls_ca_cert=certs["ca"], retry_timeout=0.3)
        with pytest.raises(ProxyConnectionError):
            anonymous.get_all_studies()
        known = GrpcStorageProxy(
            port=server.port,
            tls_ca_cert=certs["ca"],
            tls_client_cert=certs["client_cert"],
            tls_client_key=certs["client_key"],
        )
        assert known.create_new_study(MIN, "m") == 0


def test_tokens_are_checked_and_never_logged(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with served(InMemoryStorage(), token=TOKEN) as server:
        good = GrpcStorageProxy(port=server.port, token=TOKEN)
        assert good.create_new_study(MIN, "t") == 0
        for bad in (None, "wrong", TOKEN + "x"):
            client = GrpcStorageProxy(port=server.port, token=bad)
            with pytest.raises(ProxyAuthenticationError):
                client.create_new_study(MIN, "evil")
            with pytest.raises(PermissionError):
                client.get_all_trials(0)
        assert [s.study_name for s in good.get_all_studies()] == ["t"]
        with grpc.insecure_channel(f"localhost:{server.port}") as channel:  # health: no token
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert TOKEN not in repr(server) and TOKEN not in repr(good)
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text + out + err


def test_inconsistent_tls_options_raise_value_error(certs: dict[str, pathlib.Path]) -> None:
    cert = certs["server_cert"].read_bytes()
    with pytest.raises(ValueError):
        GrpcProxyServer(InMemoryStorage(), port=0, tls_cert=cert)
    with pytest.raises(ValueError):
        GrpcProxyServer(InMemoryStorage(), port=0, tls_client_ca=cert)
    with pytest.raises(ValueError):
        GrpcStorageProxy(port=1, tls_client_cert=certs["client_cert"])
