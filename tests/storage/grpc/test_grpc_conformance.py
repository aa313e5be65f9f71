"""The conformance suite through the gRPC proxy (trialstore/storage/grpc), over each backend.

Each ``make()`` starts a proxy on a free port over a fresh backend and returns a client; the
proxies stop at the end of the test. A pickled client reaches the same server from a child
process, so the cross-process tests run too.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest
from _grpc_helpers import ServerPool

from trialstore.conformance import StorageConformance, StorageFactory
from trialstore.storage import BaseStorage, InMemoryStorage, get_storage

pytest.importorskip("grpc")

Backend = Callable[[float | None, float | None], BaseStorage]


@pytest.fixture
def servers() -> Iterator[ServerPool]:
    pool = ServerPool()
    yield pool
    pool.stop()


class _ProxyConformance(StorageConformance):
    shared_across_processes = True

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError

    @pytest.fixture
    def storage_factory(self, servers: ServerPool, backend: Backend) -> StorageFactory:
        def make(
            *, heartbeat_interval: float | None = None, grace_period: float | None = None
        ) -> BaseStorage:
            return servers.client(backend(heartbeat_interval, grace_period))

        return make


class TestProxyOverMemory(_ProxyConformance):
    @pytest.fixture
    def backend(self) -> Backend:
        return lambda interval, grace: InMemoryStorage(
            heartbeat_interval=interval, grace_period=grace
        )


class TestProxyOverJournalFile(_ProxyConformance):
    @pytest.fixture
    def backend(self, tmp_path: pathlib.Path) -> Backend:
        from trialstore.storage.journal import JournalFileBackend, JournalStorage

        counter = iter(range(1_000_000))

        def make(interval: float | None, grace: float | None) -> BaseStorage:
            path = tmp_path / f"journal-{next(counter)}.log"
            return JournalStorage(
                JournalFileBackend(str(path)), heartbeat_interval=interval, grace_period=grace
            )

        return make


def _rdb(url: str) -> Iterator[Backend]:
    """Backends on one RDB database: one RDBStorage per heartbeat setting, shared by the
    proxies of a test (each make() is a new server and client on the same store)."""
    made: dict[tuple[float | None, float | None], BaseStorage] = {}

    def make(interval: float | None, grace: float | None) -> BaseStorage:
        if (interval, grace) not in made:
            made[interval, grace] = get_storage(
                url, heartbeat_interval=interval, grace_period=grace
            )
        return made[interval, grace]

    yield make
    for storage in made.values():
        storage.close()


class _ProxyOverRDB(_ProxyConformance):
    # The proxy's own logic gets the full state machine over memory and the journal; the RDB
    # backends get it directly in test_rdb_conformance.py. Through the proxy on a database,
    # a shorter run keeps the suite within CI's time budget.
    state_machine_examples = 25


class TestProxyOverSQLite(_ProxyOverRDB):
    @pytest.fixture
    def backend(self, tmp_path: pathlib.Path) -> Iterator[Backend]:
        yield from _rdb(f"sqlite:///{tmp_path}/db.sqlite3")


@pytest.mark.postgresql
class TestProxyOverPostgreSQL(_ProxyOverRDB):
    @pytest.fixture
    def backend(self, postgres_url: str) -> Iterator[Backend]:
        yield from _rdb(postgres_url)


@pytest.mark.mysql
class TestProxyOverMySQL(_ProxyOverRDB):
    @pytest.fixture
    def backend(self, mysql_url: str) -> Iterator[Backend]:
        yield from _rdb(mysql_url)
