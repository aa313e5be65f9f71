"""Fixtures for the interoperability tests: one trialstore storage per backend.

``ts_backend`` is parametrized over every backend (``grpc``: the gRPC proxy over an in-memory
storage), ``ts_backend_or_proxy`` also over the gRPC proxy over each other backend; a backend
whose code is not in this checkout (its URL scheme is not registered) is skipped with a reason
naming it. The SQL backends use one
database per test module (PostgreSQL, MariaDB: created on the server named by
``TRIALSTORE_TEST_*_URL`` and dropped at the end; SQLite: a file), emptied before each test:
creating a database and its schema per test would cost seconds each.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trialstore.storage import BaseStorage, get_storage

#: Every trialstore backend, by the name used in test ids.
BACKENDS = [
    "inmemory",
    "journal_file",
    "journal_redis",
    "sqlite",
    "postgresql",
    "mysql",
    "grpc",
]
#: The gRPC proxy over each backend but the in-memory one (that is ``grpc``).
GRPC_OVER = [
    "grpc_journal_file",
    "grpc_journal_redis",
    "grpc_sqlite",
    "grpc_postgresql",
    "grpc_mysql",
]

StorageFactory = Callable[..., BaseStorage]


def open_url(url: str, backend: str, **kwargs: Any) -> BaseStorage:
    """Return ``get_storage(url, **kwargs)``, skipping when the backend is not built yet."""
    try:
        return get_storage(url, **kwargs)
    except ValueError as e:
        if "is not supported" in str(e):
            pytest.skip(f"backend {backend!r} not in this checkout (no URL scheme for {url!r})")
        raise


_SERVER_ENV = {"postgresql": "TRIALSTORE_TEST_POSTGRES_URL", "mysql": "TRIALSTORE_TEST_MYSQL_URL"}
_KEPT_TABLES = {"alembic_version", "version_info"}


class SharedDatabases:
    """One database per SQL backend for a whole test module, emptied on each :meth:`fresh`."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._urls: dict[str, str] = {}
        self._created: list[tuple[str, str]] = []  # (admin URL, database name)

    def fresh(self, kind: str) -> str:
        """Return the URL of the module's ``kind`` database with every row of every table
        deleted (the schema stays). Skips when the server is not configured."""
        import sqlalchemy as sa

        if kind not in self._urls:
            self._urls[kind] = self._create(kind)
            return self._urls[kind]
        engine = sa.create_engine(self._urls[kind])
        try:
            meta = sa.MetaData()
            meta.reflect(engine)
            with engine.begin() as conn:
                for table in reversed(meta.sorted_tables):
                    if table.name not in _KEPT_TABLES:
                        conn.execute(table.delete())
        finally:
            engine.dispose()
        return self._urls[kind]

    def _create(self, kind: str) -> str:
        import sqlalchemy as sa

        if kind == "sqlite":
            return f"sqlite:///{self._directory}/shared.sqlite3"
        server = os.environ.get(_SERVER_ENV[kind])
        if not server:
            pytest.skip(f"{kind} suite not run: set {_SERVER_ENV[kind]} to enable it")
        base = sa.engine.make_url(server)
        name = f"ts_interop_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
        finally:
            admin.dispose()
        self._created.append((server, name))
        return base.set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        """Drop the server databases this object created."""
        import sqlalchemy as sa

        for server, name in self._created:
            admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as conn:
                    force = " WITH (FORCE)" if server.startswith("postgres") else ""
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
            finally:
                admin.dispose()


@pytest.fixture(scope="module")
def shared_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedDatabases]:
    """The module's SQL databases (see :class:`SharedDatabases`)."""
    databases = SharedDatabases(tmp_path_factory.mktemp("shared-db"))
    yield databases
    databases.drop_all()


def _served(storage: BaseStorage, servers: list[Any]) -> BaseStorage:
    """Return a gRPC client of a new proxy server over ``storage`` (skips without gRPC)."""
    try:
        from trialstore.storage.grpc import GrpcProxyServer
    except ImportError:
        pytest.skip("backend 'grpc' not in this checkout (no trialstore.storage.grpc)")
    server = GrpcProxyServer(storage, host="127.0.0.1", port=0)
    server.start()
    servers.append(server)
    return open_url(f"grpc://127.0.0.1:{server.port}", "grpc")


def _fresh_url(inner: str, n: int, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the URL of the test's ``n``-th (from 0) fresh storage of backend ``inner``."""
    if inner == "journal_file":
        return f"journal://{tmp_path}/journal-{n}.log"
    if inner == "sqlite" and n > 0:
        return f"sqlite:///{tmp_path}/db-{n}.sqlite3"
    if inner == "journal_redis":
        redis_url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        return f"journal+{redis_url}?prefix={prefix}-{n}"
    if inner in ("postgresql", "mysql", "sqlite"):
        if n > 0:
            pytest.fail("one fresh server database per test: call the factory once")
        databases: SharedDatabases = request.getfixturevalue("shared_databases")
        return databases.fresh(inner)
    raise AssertionError(inner)


def _backend_factory(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StorageFactory]:
    """Yield ``make(**kwargs)`` for ``backend`` (a name of BACKENDS or GRPC_OVER); close what
    it made afterwards."""
    inner = backend.removeprefix("grpc_") if backend in GRPC_OVER else backend
    served = inner == "grpc" or backend in GRPC_OVER
    made: list[BaseStorage] = []
    clients: list[BaseStorage] = []
    servers: list[Any] = []
    counter = itertools.count()

    def make(**kwargs: Any) -> BaseStorage:
        if inner in ("inmemory", "grpc"):
            storage = get_storage(None, **kwargs)
        else:
            url = _fresh_url(inner, next(counter), request, tmp_path)
            storage = open_url(url, inner, **kwargs)
        made.append(storage)
        if served:
            storage = _served(storage, servers)
            clients.append(storage)
        return storage

    yield make
    for client in clients:
        client.close()
    for server in servers:
        server.stop(0)
    for storage in made:
        storage.close()


@pytest.fixture(params=BACKENDS)
def ts_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """A factory ``make(**kwargs)`` of fresh, empty trialstore storages of one backend.

    Keyword arguments (``heartbeat_interval``, ``grace_period``) go to the backend (for
    ``grpc``: to the in-memory storage its server serves). Each call makes a new, empty store.
    Storages are closed after the test.
    """
    yield from _backend_factory(request.param, request, tmp_path)


@pytest.fixture(params=BACKENDS + GRPC_OVER)
def ts_backend_or_proxy(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[StorageFactory]:
    """As ``ts_backend``, over every backend and also the gRPC proxy over each of them."""
    yield from _backend_factory(request.param, request, tmp_path)
