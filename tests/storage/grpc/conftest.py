"""Fixtures of the gRPC proxy tests: a server in front of the test module's ``backend``
fixture, and a trialstore client of it. (grpcio is imported only when a test uses them: the
modules that need it skip themselves without it.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from trialstore.storage import BaseStorage
    from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy


@pytest.fixture
def server(backend: BaseStorage) -> Iterator[GrpcProxyServer]:
    """A proxy server on a free localhost port in front of ``backend``."""
    from _grpc_helpers import served

    with served(backend) as server:
        yield server


@pytest.fixture
def client(server: GrpcProxyServer) -> Iterator[GrpcStorageProxy]:
    """A trialstore client of ``server`` (retrying for up to 5 s)."""
    from trialstore.storage.grpc import GrpcStorageProxy

    client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
    yield client
    client.close()
