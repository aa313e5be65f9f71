"""Fixtures shared by the whole test suite.

Server suites: a test that needs PostgreSQL, MySQL/MariaDB or Redis asks for the
``postgres_url`` / ``mysql_url`` / ``redis_url`` fixture. Each fixture reads its server URL from
the environment (``TRIALSTORE_TEST_POSTGRES_URL``, ``TRIALSTORE_TEST_MYSQL_URL``,
``TRIALSTORE_TEST_REDIS_URL``):

* unset: the test is skipped, and the end of the run says which server suites did not run and
  how to enable them;
* set: the server is required; if it cannot be reached the test fails.

Suites that build servers of their own (a replicated PostgreSQL pair) call
:func:`require_or_skip` with what is missing: in CI (``TRIALSTORE_CI=1``, set by ``.ci/run``)
the test fails, elsewhere it is skipped with the reason.

The SQL fixtures create a fresh database per test and drop it afterwards, so tests running in
parallel never share state; the Redis fixture hands out a fresh key prefix and deletes its keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from _required import require_or_skip

import trialstore

SERVER_ENV = {
    "postgresql": "TRIALSTORE_TEST_POSTGRES_URL",
    "mysql": "TRIALSTORE_TEST_MYSQL_URL",
    "redis": "TRIALSTORE_TEST_REDIS_URL",
}
SERVER_EXAMPLES = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/test",
    "redis": "redis://127.0.0.1:6379/0",
}


def server_url(kind: str) -> str:
    """Return the configured URL of a server, or skip the calling test when there is none."""
    url = os.environ.get(SERVER_ENV[kind])
    if not url:
        pytest.skip(f"{kind} suite not run: set {SERVER_ENV[kind]} to enable it")
    return url


def _fresh_database_url(kind: str) -> Iterator[str]:
    import sqlalchemy as sa

    base_url = sa.engine.make_url(server_url(kind))
    name = f"ts_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        yield base_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture
def pg_pair_buildable() -> None:
    """Require what a replicated PostgreSQL pair of the test's own needs (the server binaries,
    psycopg, a ``postgres`` user when root): skipped without it, failed in CI."""
    from trialstore.stress._pg_pair import missing_prerequisites

    require_or_skip(missing_prerequisites())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty PostgreSQL database, dropped after the test."""
    yield from _fresh_database_url("postgresql")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty MySQL/MariaDB database, dropped after the test."""
    yield from _fresh_database_url("mysql")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The Redis server URL (``redis://host:port/db``)."""
    yield server_url("redis")


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted after the test."""
    import redis

    prefix = f"ts-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Decided from the environment, not from the skips seen, so that it also holds in the
    # controller process of a pytest-xdist run (the skips happen in its workers).
    missing = [kind for kind, variable in SERVER_ENV.items() if not os.environ.get(variable)]
    if not missing:
        return
    terminalreporter.section("server suites not run")
    for kind in missing:
        terminalreporter.write_line(
            f"{kind}: not run. Enable with {SERVER_ENV[kind]}={SERVER_EXAMPLES[kind]}"
        )
    terminalreporter.write_line("(.ci/run sets all of them and requires every server.)")


@pytest.fixture
def quiet() -> Iterator[None]:
    """Log level WARNING, as in the benchmarks (the INFO line of each finished trial also
    asks the storage for the best trial), restored afterwards."""
    level = trialstore.logging.get_verbosity()
    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    yield
    trialstore.logging.set_verbosity(level)
