"""Fixtures of the gRPC proxy tests: an in-memory backend with heartbeats, a proxy server
in front of it, and a client of that server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("grpc")

from _grpc_helpers import served

from trialstore.storage import InMemoryStorage
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy


@pytest.fixture
def backend() -> InMemoryStorage:
    return InMemoryStorage(heartbeat_interval=0.2, grace_period=0.5)


@pytest.fixture
def server(backend: InMemoryStorage) -> Iterator[GrpcProxyServer]:
    with served(backend) as server:
        yield server


@pytest.fixture
def client(server: GrpcProxyServer) -> Iterator[GrpcStorageProxy]:
    client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
    yield client
    client.close()
