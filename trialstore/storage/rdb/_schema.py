"""Creating, checking and upgrading the schema, safely under concurrency (private).

Every schema change runs under a database-wide lock: a PostgreSQL advisory lock, a MySQL
``GET_LOCK`` or a SQLite ``BEGIN IMMEDIATE`` transaction. Many processes opening one new
database at once therefore all succeed: the first creates the tables, the others find them.
The fast path (an up-to-date database) takes no lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc

from trialstore.exceptions import StorageInternalError, StorageNotFoundError
from trialstore.storage.rdb import (
    _hosts,
    # Imported by the migration scripts, which Alembic loads when it creates or upgrades a
    # schema: imported with this package, so that the stress zygote's workers share it.
    _migrate_helpers,  # noqa: F401
)
from trialstore.storage.rdb._engine import TX_MODE, is_sqlite_memory, masked
from trialstore.storage.rdb._tables import (
    ALEMBIC_HEAD,
    CREATE_TOKENS_TABLE,
    DELETED_TRIALS_TABLE,
    EXTRA_INDEXES,
    SCHEMA_VERSION,
    SEGMENTS_TABLE,
    metadata,
    version_info,
)
from trialstore.storage.rdb._transactions import retry_conflicts
from trialstore.version import __version__

__all__ = [
    "LIBRARY_VERSION",
    "OWN_TABLES",
    "SchemaState",
    "alembic_config",
    "ensure_schema",
    "inspect_schema",
    "open_schema",
    "upgrade_schema",
]

_logger = logging.getLogger(__name__)

#: ``version_info.library_version`` written by trialstore.
LIBRARY_VERSION = f"trialstore-{__version__}"
#: trialstore's tables of its own, which a database made by Optuna lacks until trialstore
#: opens it with table creation.
OWN_TABLES = frozenset({CREATE_TOKENS_TABLE, DELETED_TRIALS_TABLE, SEGMENTS_TABLE})
_ALEMBIC_DIR = Path(__file__).parent / "alembic"
_PG_LOCK_KEY = 0x7472_6961_6C73  # "trials"
_MYSQL_LOCK_TIMEOUT = 600
_TABLE_NAMES = frozenset(metadata.tables)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return the Alembic configuration of trialstore's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(_ALEMBIC_DIR))
    config.attributes["connection"] = connection
    return config


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == ALEMBIC_HEAD, (head, ALEMBIC_HEAD)
    return head


def _known_revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in script.walk_revisions()]


class SchemaState:
    """What a database holds: tables, Alembic revision, trialstore's indexes."""

    def __init__(self, tables: set[str], revision: str | None, indexes: set[str]) -> None:
        self.tables = tables
        self.revision = revision
        self.indexes = indexes

    @property
    def empty(self) -> bool:
        return not (self.tables & _TABLE_NAMES) and self.revision is None

    @property
    def complete(self) -> bool:
        return (
            self.revision == ALEMBIC_HEAD
            and _TABLE_NAMES <= self.tables
            and all(index.name in self.indexes for index in EXTRA_INDEXES)
        )


# The tables of the connection's default schema and the indexes of its ``trials`` table, in
# one catalog query. SQLAlchemy's inspector asks the same with several larger queries that
# it must first compile: most of the cost of opening a storage in a fresh process.
_CATALOG_QUERIES = {
    "postgresql": sa.text(
        "SELECT 't', tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
        "UNION ALL SELECT 'i', indexname FROM pg_catalog.pg_indexes "
        "WHERE schemaname = current_schema() AND tablename = 'trials'"
    ),
    "mysql": sa.text(
        "SELECT 't', table_name FROM information_schema.tables "
        "WHERE table_schema = DATABASE() "
        "UNION ALL SELECT DISTINCT 'i', index_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name = 'trials'"
    ),
}


def inspect_schema(connection: sa.Connection) -> SchemaState:
    """Return the schema state seen through ``connection``."""
    dialect = "mysql" if connection.dialect.name == "mariadb" else connection.dialect.name
    query = _CATALOG_QUERIES.get(dialect)
    tables: set[str] = set()
    indexes: set[str] = set()
    if query is not None:
        for kind, name in connection.execute(query):
            (tables if kind == "t" else indexes).add(str(name))
    else:
        inspector = sa.inspect(connection)
        tables = set(inspector.get_table_names())
        if "trials" in tables:
            indexes = {str(index["name"]) for index in inspector.get_indexes("trials")}
    revision = None
    if "alembic_version" in tables:
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    return SchemaState(tables, revision, indexes)


@contextmanager
def _schema_lock(engine: sa.Engine) -> Iterator[sa.Connection]:
    """Yield a connection holding the database-wide schema lock, inside a transaction that
    is committed when the block ends without error."""
    backend = engine.dialect.name
    token = TX_MODE.set("write")
    try:
        with _locked_connection(engine, backend) as connection:
            yield connection
    finally:
        TX_MODE.reset(token)


@contextmanager
def _locked_connection(engine: sa.Engine, backend: str) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        mysql_lock = None
        if backend == "sqlite":
            connection.execute(sa.text("SELECT 1"))  # BEGIN IMMEDIATE: waits for writers
        elif backend == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        else:
            mysql_lock = f"trialstore-schema-{engine.url.database}"[:64]
            got = connection.execute(
                sa.text("SELECT GET_LOCK(:n, :t)"), {"n": mysql_lock, "t": _MYSQL_LOCK_TIMEOUT}
            ).scalar()
            connection.commit()
            if got != 1:
                raise StorageInternalError(
                    f"timed out waiting for the schema lock of {masked(engine.url)!r}."
                )
        try:
            yield connection
            connection.commit()
        except BaseException:
            try:
                connection.exec_driver_sql("ROLLBACK")
            except exc.DBAPIError:
                connection.invalidate()
            raise
        finally:
            if mysql_lock is not None:
                connection.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": mysql_lock})
                connection.commit()


def _upgrade_command(engine: sa.Engine) -> str:
    return f"trialstore storage upgrade --storage '{masked(engine.url)}'"


def _too_old(engine: sa.Engine, revision: str | None) -> StorageInternalError:
    known = [
        script.revision
        for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    ]
    if revision is not None and revision not in known:
        return StorageInternalError(
            f"storage {masked(engine.url)!r} has schema revision {revision!r}, which this "
            f"trialstore does not know (its newest is {ALEMBIC_HEAD!r}); upgrade trialstore."
        )
    return StorageInternalError(
        f"storage {masked(engine.url)!r} has an old schema (revision {revision!r}, current "
        f"{ALEMBIC_HEAD!r}). Back up the database, then run: {_upgrade_command(engine)}"
    )


def _complete_head(connection: sa.Connection, state: SchemaState) -> None:
    """Add what an at-head database may lack: tables Optuna creates on open (e.g.
    ``trial_heartbeats`` after an upgrade) and trialstore's own tables, the
    version_info row, trialstore's indexes."""
    metadata.create_all(connection, checkfirst=True)
    if "trials" in state.tables:
        for index in EXTRA_INDEXES:
            if index.name not in state.indexes:
                index.create(connection)
    if connection.execute(sa.select(sa.func.count()).select_from(version_info)).scalar() == 0:
        connection.execute(
            version_info.insert().values(
                version_info_id=1, schema_version=SCHEMA_VERSION, library_version=LIBRARY_VERSION
            )
        )


def _stamp(connection: sa.Connection, revision: str) -> None:
    context = MigrationContext.configure(connection)
    context.stamp(ScriptDirectory.from_config(alembic_config()), revision)


def _locked(engine: sa.Engine, body: Callable[[sa.Connection], Any]) -> Any:
    with _schema_lock(engine) as connection:
        return body(connection)


def not_found(url: sa.URL, reason: str, *, creatable: bool = True) -> StorageNotFoundError:
    """The error for a database URL where no storage exists; if ``creatable``, it says how to
    create one."""
    message = f"no storage at {masked(url)}: {reason}."
    if creatable:
        message += (
            " A storage is created there on first use: "
            f"trialstore create-study --storage '{masked(url)}'"
        )
    return StorageNotFoundError(message)


def check_sqlite_file(url: sa.URL) -> None:
    """Raise :class:`StorageNotFoundError` if ``url`` names a SQLite file that does not exist
    or holds no tables (connecting through the engine would create the file, or switch it to
    WAL); return for a file with tables and for any other URL. Reads the file read-only.

    Raises:
        StorageNotFoundError: no file, a directory, or no tables.
        StorageInternalError: the file is not a SQLite database.
    """
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
        return
    path = os.path.abspath(url.database or "")
    if os.path.isdir(path):
        raise not_found(url, "it is a directory", creatable=False)
    if not os.path.isdir(os.path.dirname(path)):
        raise not_found(url, "its directory does not exist", creatable=False)
    if not os.path.isfile(path):
        raise not_found(url, "the file does not exist")
    try:
        # The standard library's driver, read-only: the engine's connections set WAL mode.
        connection = sqlite3.connect(f"file:{urllib.parse.quote(path)}?mode=ro", uri=True)
        try:
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as e:
        raise StorageInternalError(f"{path} is not a SQLite database ({e}).") from None
    if not tables:
        raise not_found(url, "the database holds no trialstore/Optuna tables")


def ensure_schema(engine: sa.Engine, *, create: bool) -> frozenset[str]:
    """Make sure the database holds the current schema, creating it if it is empty. Return
    the names of trialstore's own tables it holds (:data:`OWN_TABLES`: all of them, unless
    ``create`` is False and the database was made by Optuna or an older trialstore).

    Safe to call from many processes at once. With ``create=False`` nothing is written.

    Raises:
        StorageInternalError: the database cannot be reached (one clear line, password
            masked); its schema is older than this trialstore (the message gives the
            ``trialstore storage upgrade`` command) or newer.
        StorageNotFoundError: it holds no schema and ``create`` is False.
    """
    token = TX_MODE.set("none")
    try:
        with engine.connect() as connection:
            state = inspect_schema(connection)
    finally:
        TX_MODE.reset(token)
    if state.complete:
        return OWN_TABLES
    if not create:
        if state.revision == ALEMBIC_HEAD:
            # only trialstore's optional indexes, or some of its own tables, are missing
            return OWN_TABLES & state.tables
        if state.empty:
            raise not_found(engine.url, "the database holds no trialstore/Optuna tables")
        raise _too_old(engine, state.revision)

    def body(connection: sa.Connection) -> None:
        state = inspect_schema(connection)
        if state.complete:
            return
        if state.empty:
            _logger.debug("Creating the trialstore schema in %s.", masked(engine.url))
            metadata.create_all(connection)
            _complete_head(connection, SchemaState(set(), None, set()))
            _stamp(connection, _head())
            return
        revision = state.revision
        if revision is None:
            # Tables without Alembic's stamp: made by an Optuna that predates Alembic, or by
            # ``create_all`` of the current schema.
            current = connection.execute(sa.select(version_info.c.schema_version)).scalar()
            revision = _head() if current in (None, SCHEMA_VERSION) else "v0.9.0.a"
            _stamp(connection, revision)
        if revision != ALEMBIC_HEAD:
            raise _too_old(engine, revision)
        _complete_head(connection, state)

    _locked(engine, body)
    return OWN_TABLES


def open_schema(
    engine: sa.Engine, url: sa.URL, create: bool, retry_timeout: float
) -> frozenset[str]:
    """:func:`ensure_schema` for a storage opening ``url``: lock conflicts with other openers
    (SQLite's "database is locked", deadlocks) are retried for up to ``retry_timeout``
    seconds, and so, with a URL of several hosts, is finding none that takes writes (a
    failover); other errors raise."""
    found: list[frozenset[str]] = []
    retry_conflicts(
        lambda: found.append(ensure_schema(engine, create=create)),
        retry_timeout,
        disconnects=len(_hosts.hosts_of(url)) > 1,
    )
    return found[-1]


def upgrade_schema(engine: sa.Engine) -> tuple[str | None, str]:
    """Upgrade the database's schema to the current head; return (old, new) revisions.

    Creates the schema in an empty database. Safe against concurrent openers and upgraders
    (they wait for the schema lock).

    Raises:
        StorageInternalError: the database cannot be reached, or its revision is unknown.
    """
    from alembic import command

    def body(connection: sa.Connection) -> tuple[str | None, str]:
        state = inspect_schema(connection)
        if state.empty:
            metadata.create_all(connection)
            _complete_head(connection, SchemaState(set(), None, set()))
            _stamp(connection, _head())
            return None, ALEMBIC_HEAD
        old = state.revision
        if old is None:
            current = connection.execute(sa.select(version_info.c.schema_version)).scalar()
            old = _head() if current in (None, SCHEMA_VERSION) else "v0.9.0.a"
            _stamp(connection, old)
        if old not in _known_revisions():
            raise _too_old(engine, old)
        if old != ALEMBIC_HEAD:
            _logger.info("Upgrading %s from %s to %s.", masked(engine.url), old, ALEMBIC_HEAD)
            command.upgrade(alembic_config(connection), "head")
        connection.execute(
            version_info.update().values(
                schema_version=SCHEMA_VERSION, library_version=LIBRARY_VERSION
            )
        )
        _complete_head(connection, inspect_schema(connection))
        return old, ALEMBIC_HEAD

    try:
        result: tuple[str | None, str] = _locked(engine, body)
    except exc.SQLAlchemyError as e:
        raise StorageInternalError(
            f"upgrading {masked(engine.url)!r} failed: {' '.join(str(e).split())[:500]}"
        ) from None
    return result
