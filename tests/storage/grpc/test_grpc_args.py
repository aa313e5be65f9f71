"""Bad addresses, limits and URLs of the gRPC proxy are ValueErrors naming the field and the
allowed values, raised before anything listens or connects (trialstore/storage/grpc/_args.py,
_url.py, and their use in _server.py and _client.py)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grpc")

from trialstore.storage import InMemoryStorage, get_storage
from trialstore.storage.grpc import (
    GrpcProxyServer,
    GrpcStorageProxy,
    run_grpc_proxy_server,
)
from trialstore.storage.grpc import _server as server_module
from trialstore.study import StudyDirection


class _Started(AssertionError):
    """Raised by a patched GrpcProxyServer.start: the bad argument got as far as a bind."""


@pytest.fixture
def no_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any server start fail loudly instead of listening (and blocking, for
    run_grpc_proxy_server)."""

    def start(self: GrpcProxyServer) -> None:
        raise _Started(f"a server was started: {self!r}")

    monkeypatch.setattr(server_module.GrpcProxyServer, "start", start)


# -- the server --------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [70000, 65536, -5, -1, True, 1.5, "13000", None])
def test_a_server_port_outside_0_to_65535_is_refused(port: Any) -> None:
    # gRPC itself would listen on 70000 % 65536 = 4464 and on -5 as 65531.
    with pytest.raises(ValueError, match=r"port must be an integer from 0 to 65535") as info:
        GrpcProxyServer(InMemoryStorage(), port=port)
    assert "any free port" in str(info.value)


def test_port_0_still_picks_a_free_port() -> None:
    with GrpcProxyServer(InMemoryStorage(), port=0) as server:
        assert 1 <= server.port <= 65535


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_workers", 0),
        ("max_workers", -3),
        ("max_message_bytes", 0),
        ("idempotency_capacity", 0),
    ],
)
def test_server_limits_below_1_are_refused(option: str, value: int) -> None:
    with pytest.raises(ValueError, match=rf"{option} must be an integer >= 1, got {value}"):
        kwargs: dict[str, Any] = {option: value}
        GrpcProxyServer(InMemoryStorage(), port=0, **kwargs)


@pytest.mark.parametrize("host", ["", "[]", None])
def test_an_empty_server_host_is_refused(host: Any) -> None:
    with pytest.raises(ValueError, match="host must be a host name or an IP address"):
        GrpcProxyServer(InMemoryStorage(), host=host, port=0)


@pytest.mark.usefixtures("no_start")
@pytest.mark.parametrize("port", [70000, -5])
def test_run_grpc_proxy_server_refuses_a_bad_port_before_starting(port: int) -> None:
    with pytest.raises(ValueError, match="port must be"):
        run_grpc_proxy_server(InMemoryStorage(), port=port)


@pytest.mark.usefixtures("no_start")
@pytest.mark.parametrize("grace", [-1.0, float("nan"), float("inf")])
def test_run_grpc_proxy_server_refuses_a_bad_grace_before_starting(grace: float) -> None:
    with pytest.raises(ValueError, match="grace must be a finite number of seconds >= 0"):
        run_grpc_proxy_server(InMemoryStorage(), port=0, grace=grace)


def test_stop_refuses_a_negative_grace_and_keeps_serving() -> None:
    with GrpcProxyServer(InMemoryStorage(), port=0) as server:
        with pytest.raises(ValueError, match="grace must be"):
            server.stop(grace=-1)
        client = GrpcStorageProxy(port=server.port, retry_timeout=5)
        assert client.get_all_studies() == []
        client.close()


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("server_host", ["::1", "[::1]"])
def test_ipv6_hosts_work_with_and_without_brackets(server_host: str) -> None:
    with GrpcProxyServer(InMemoryStorage(), host=server_host, port=0) as server:
        for client in (
            GrpcStorageProxy(host="::1", port=server.port, retry_timeout=5),
            get_storage(f"grpc://[::1]:{server.port}?retry_timeout=5"),
        ):
            client.create_new_study([StudyDirection.MINIMIZE], f"s-{id(client)}")
            client.close()
        assert len(server._storage.get_all_studies()) == 2


# -- the client --------------------------------------------------------------------------------


@pytest.mark.parametrize("port", [0, 70000, -1, True, "13000"])
def test_a_client_port_outside_1_to_65535_is_refused(port: Any) -> None:
    with pytest.raises(ValueError, match=r"port must be an integer from 1 to 65535"):
        GrpcStorageProxy(host="localhost", port=port)


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("timeout", 0, "> 0"),
        ("timeout", float("nan"), "> 0"),
        ("retry_timeout", -1, ">= 0"),
        ("retry_timeout", float("inf"), ">= 0"),
    ],
)
def test_client_durations_are_checked(option: str, value: float, allowed: str) -> None:
    with pytest.raises(
        ValueError, match=rf"{option} must be a finite number of seconds {allowed}"
    ):
        kwargs: dict[str, Any] = {option: value}
        GrpcStorageProxy(port=13000, **kwargs)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("grpc://host:70000", r"port '70000' is not an integer from 1 to 65535"),
        ("grpc://host:65536", r"port '65536' is not an integer from 1 to 65535"),
        ("grpc://host:0", r"port '0' is not an integer from 1 to 65535"),
        ("grpc://host:-1", r"port '-1' is not an integer from 1 to 65535"),
        ("grpc://host:abc", r"port 'abc' is not an integer from 1 to 65535"),
        ("grpc://", r"no host; expected grpc://HOST:PORT"),
        ("grpc://:13000", r"no host; expected grpc://HOST:PORT"),
        ("grpc://host", r"no port; expected grpc://HOST:PORT"),
        ("grpc://host:", r"no port; expected grpc://HOST:PORT"),
        ("grpc://::1:13000", r"an IPv6 host goes in brackets"),
        ("grpc://[::1:13000", r"malformed IPv6 host"),
        ("grpc://host:13000/db", r"a path or fragment is not accepted"),
        ("grpc://host:13000?timeout=soon", r"timeout must be a number of seconds, got 'soon'"),
        ("grpc://host:13000?timeout=1&timeout=2", r"timeout is given twice"),
        ("grpc://host:13000?token_file=", r"token_file is empty"),
        ("grpc://host:13000?colour=red", r"unknown query parameter 'colour'; allowed: ca_cert"),
    ],
)
def test_bad_grpc_urls_name_the_part_that_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_storage(url)


def test_user_information_in_a_grpc_url_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError, match="user information is not accepted") as info:
        get_storage("grpc://tok-s3cret@host:13000")
    assert "s3cret" not in str(info.value)
    assert "token_file" in str(info.value)


def test_good_grpc_urls_still_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIALSTORE_GRPC_TOKEN", raising=False)
    token_file = tmp_path / "token"
    token_file.write_text("tok\n")
    cases = {
        "grpc://host:1": ("host", 1, False),
        "grpc://host:65535/": ("host", 65535, False),
        "GRPCS://host:443": ("host", 443, True),
        "grpc://[::1]:13000": ("::1", 13000, False),
        f"grpc://h:5?timeout=2.5&retry_timeout=0&token_file={token_file}": ("h", 5, False),
    }
    for url, (host, port, tls) in cases.items():
        client = get_storage(url)
        assert isinstance(client, GrpcStorageProxy)
        assert (client._host, client._port, client._tls) == (host, port, tls)
        client.close()
    client = get_storage(f"grpc://h:5?timeout=2.5&retry_timeout=0&token_file={token_file}")
    assert isinstance(client, GrpcStorageProxy)
    assert (client._timeout, client._retry_timeout, client._token) == (2.5, 0.0, "tok")
    client.close()
