"""Engines: URL normalisation, per-dialect connection settings, error classification.

Private to the RDB backend. Every message built here shows the URL with its password masked.
"""

from __future__ import annotations

import contextvars
import importlib.util
import inspect
import ipaddress
import os
import re
import threading
import time
import weakref
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event, exc, pool

from trialstore.exceptions import StorageInternalError
from trialstore.storage._url import mask_password
from trialstore.storage.rdb import _hosts

__all__ = [
    "PING_AFTER_IDLE",
    "SQLITE_BUSY_TIMEOUT",
    "TX_MODE",
    "ErrorKind",
    "TxMode",
    "check_url",
    "classify_error",
    "connection_error",
    "create_engine",
    "drop_pooled_connections",
    "is_sqlite_memory",
    "masked",
    "normalize_url",
]

#: A pooled connection idle for longer than this (seconds) is pinged before it is used.
PING_AFTER_IDLE = 1.0
#: Seconds a SQLite connection waits for another writer before giving up.
SQLITE_BUSY_TIMEOUT = 600.0
#: How a transaction begins: ``"none"`` (a single statement in autocommit mode: no BEGIN, no
#: COMMIT), ``"read"`` (a consistent read-only snapshot) or ``"write"`` (SQLite:
#: ``BEGIN IMMEDIATE``, so that writers queue instead of failing).
TxMode = Literal["none", "read", "write"]
#: What a transient database error calls for (see :func:`classify_error`): ``"conflict"``
#: (retry the transaction) or ``"disconnect"`` (reconnect and retry).
ErrorKind = Literal["conflict", "disconnect"]
#: The :data:`TxMode` of the current context's next transaction.
TX_MODE: contextvars.ContextVar[TxMode] = contextvars.ContextVar("trialstore_tx", default="write")

#: Driver name -> how to install it.
_INSTALL = {
    "psycopg": "pip install 'trialstore[postgresql]'  (psycopg 3)",
    "psycopg2": "pip install psycopg2-binary, or use postgresql+psycopg:// (psycopg 3)",
    "pymysql": "pip install 'trialstore[mysql]'  (PyMySQL)",
    "mysqldb": "pip install mysqlclient, or use mysql+pymysql:// (PyMySQL)",
}

_MAX_PORT = 65535
#: psycopg's ``prepare_threshold`` that no statement reaches by being run: only statements
#: executed with ``prepare=True`` are prepared.
_NEVER_BY_COUNT = 2**62
#: URL query parameters SQLAlchemy's SQLite driver passes to ``sqlite3.connect`` (other ones
#: it ignores, unless ``uri=true``).
_PYSQLITE_OPTIONS = (
    "uri",
    "timeout",
    "isolation_level",
    "detect_types",
    "check_same_thread",
    "cached_statements",
)
#: URL query parameters SQLAlchemy's MySQL dialects turn into the driver's ``ssl`` dict.
_SQLALCHEMY_MYSQL_SSL = {
    "ssl_ca",
    "ssl_key",
    "ssl_cert",
    "ssl_capath",
    "ssl_cipher",
    "ssl_check_hostname",
}
#: Query parameters that name the database (or an option file or service that names it).
_DATABASE_QUERY_KEYS = {
    "postgresql": ("dbname", "service"),
    "mysql": ("db", "database", "read_default_file"),
}

# PostgreSQL SQLSTATEs: transaction conflicts (retry the transaction) and lost or refused
# connections (reconnect, then retry). A write refused as read-only (25006) means the
# connection reached a standby or a demoted primary: it is dropped like a lost one, and the
# new connection looks for the writable server again.
_PG_CONFLICT = {"40001", "40P01", "55P03"}
_PG_DISCONNECT_PREFIXES = ("08", "57P")
_PG_READ_ONLY = "25006"
# MySQL/MariaDB error numbers.
_MYSQL_CONFLICT = {1213, 1205}
_MYSQL_DISCONNECT = {1053, 1927, 2003, 2006, 2013, 2055, 4031}


def masked(url: sa.URL | str) -> str:
    """Return the URL as text with its password replaced by ``***`` (and the commas and
    colons of its query unescaped: ``?host=h1:5432,h2:5432`` reads as written)."""
    if isinstance(url, sa.URL):
        head, mark, query = url.render_as_string(hide_password=True).partition("?")
        return head + mark + query.replace("%2C", ",").replace("%3A", ":")
    return mask_password(url)


def normalize_url(url: str | sa.URL) -> sa.URL:
    """Return the SQLAlchemy URL trialstore connects with.

    ``postgres://`` means ``postgresql://``; a PostgreSQL URL without a driver uses psycopg 3;
    a MySQL/MariaDB URL without a driver uses mysqlclient when it is installed, else PyMySQL,
    with the ``utf8mb4`` character set unless the URL names one. A PostgreSQL URL may name
    several hosts (a primary and its standbys; every form libpq takes, see :mod:`_hosts`):
    they come out as ``?host=h1,h2&port=p1,p2``, with ``target_session_attrs=read-write`` and
    ``connect_timeout=10`` unless the URL sets them.

    Raises:
        ValueError: the URL cannot be parsed, its database is not SQLite, PostgreSQL, MySQL or
            MariaDB, its port is not an integer from 1 to 65535, a server URL names no
            database, a SQLite URL names a host or user instead of a file (see
            :func:`check_url`), or a PostgreSQL URL's hosts are malformed or its
            ``target_session_attrs`` reaches read-only servers (see
            :func:`_hosts.canonical_hosts`).
    """
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    if text.lower().startswith("postgres"):
        text = _hosts.move_netloc_hosts(text)
    parsed = _parse_url(text)
    backend, _, driver = parsed.drivername.lower().partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise ValueError(
            f"storage URL {masked(parsed)!r}: database {backend!r} is not supported; "
            "supported: sqlite, postgresql (postgres), mysql, mariadb."
        )
    check_url(parsed, backend, masked(text))
    if backend == "postgresql":
        parsed = _hosts.canonical_hosts(parsed, masked(text))
    if not driver:
        if backend == "postgresql":
            driver = "psycopg"
        elif backend in ("mysql", "mariadb"):
            driver = "mysqldb" if importlib.util.find_spec("MySQLdb") else "pymysql"
    parsed = parsed.set(drivername=f"{backend}+{driver}" if driver else backend)
    if backend in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


def _parse_url(text: str) -> sa.URL:
    """SQLAlchemy's parse of ``text``.

    Raises:
        ValueError: not a database URL, or a port that is not an integer.
    """
    try:
        return sa.engine.make_url(text)
    except exc.ArgumentError:
        raise ValueError(
            f"storage URL {masked(text)!r} is not a database URL; expected e.g. "
            "sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db."
        ) from None
    except ValueError:  # SQLAlchemy's int() of the port
        raise ValueError(
            f"storage URL {masked(text)!r}: port {_port_text(text)!r} is not an integer from "
            f"1 to {_MAX_PORT}."
        ) from None


def _port_text(text: str) -> str:
    """The text after the host's ``:`` in a URL (for error messages)."""
    netloc = text.partition("://")[2].partition("/")[0].partition("?")[0]
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        hostport = hostport.partition("]")[2]
    return hostport.partition(":")[2]


def check_url(url: sa.URL, backend: str, shown: str) -> None:
    """Check what the drivers would otherwise guess.

    * The port (when given) must be an integer from 1 to 65535.
    * SQLite: the file goes after three slashes (``sqlite:///relative.db``,
      ``sqlite:////absolute.db``); a host, user, password or port is an error (in
      ``sqlite://x.db`` the file name lands in the host part). ``sqlite://`` and
      ``sqlite:///:memory:`` are an in-memory database.
    * PostgreSQL, MySQL, MariaDB: the database must be named, in the path or, on
      PostgreSQL, with ``?dbname=`` or ``?service=``, on MySQL with ``?database=`` or
      ``?read_default_file=`` (an option file that names it). Without one the server would
      pick its default database (PostgreSQL: the one named as the user) and trialstore would
      create its tables there.

    ``shown`` is the URL as error messages show it (password masked).

    Raises:
        ValueError: one of the above, naming the part of the URL and the expected form.
    """
    if url.port is not None and not 1 <= url.port <= _MAX_PORT:
        raise ValueError(
            f"storage URL {shown!r}: port {url.port} is not an integer from 1 to {_MAX_PORT}."
        )
    if backend == "sqlite":
        if url.host or url.username or url.password or url.port:
            raise ValueError(
                f"storage URL {shown!r} names no SQLite file (the part after '//' is a host); "
                "use sqlite:///relative.db or sqlite:////absolute.db (three slashes, then the "
                "path), or sqlite:// for an in-memory database."
            )
        return
    if url.database:
        return
    named_by = _DATABASE_QUERY_KEYS["postgresql" if backend == "postgresql" else "mysql"]
    if any(key in url.query for key in named_by):
        return
    scheme = shown.partition("://")[0]
    raise ValueError(
        f"storage URL {shown!r}: no database name; expected {scheme}://user@host[:port]/DATABASE."
    )


def is_sqlite_memory(url: sa.URL) -> bool:
    """Return True for a SQLite database that lives in one process's memory."""
    if url.get_backend_name() != "sqlite":
        return False
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or "mode=memory" in database
        or (url.query.get("mode") == "memory")
    )


def create_engine(url: sa.URL, engine_kwargs: dict[str, Any] | None) -> sa.Engine:
    """Return an engine for ``url`` with trialstore's defaults under ``engine_kwargs``.

    Defaults: on servers, a connection that sat in the pool for more than
    :data:`PING_AFTER_IDLE` seconds is pinged before use and replaced if the server dropped it
    (SQLAlchemy's ``pool_pre_ping``, without the round trip for connections in steady use;
    pass ``pool_pre_ping=True`` to ping always); on SQLite, WAL journal and a long busy
    timeout. The driver runs in autocommit mode and trialstore issues BEGIN itself (see
    :data:`TX_MODE`), which saves the BEGIN/COMMIT round trips of single statements and lets
    SQLite writers begin with ``BEGIN IMMEDIATE``, so that they wait for each other instead of
    failing with "database is locked".

    Raises:
        ImportError: the database driver is not installed (the message says what to install).
        ValueError: the URL names an unknown driver or a query parameter its driver does not
            take (checked for SQLite, psycopg and PyMySQL, without connecting), or
            ``engine_kwargs`` sets the isolation level (trialstore manages transactions
            itself).
    """
    kwargs = _with_connect_defaults(url, _autocommit_kwargs(engine_kwargs))
    backend = url.get_backend_name()
    if backend == "sqlite":
        _check_options(url, None)  # before SQLAlchemy warns that it ignores them
    try:
        engine = sa.create_engine(url, **kwargs)
    except exc.NoSuchModuleError:
        raise ValueError(
            f"storage URL {masked(url)!r}: SQLAlchemy has no driver {url.drivername!r}."
        ) from None
    except ImportError as e:
        raise _missing_driver(url, e) from None
    if backend == "sqlite":
        _configure_sqlite(engine, memory=is_sqlite_memory(url))
    else:
        _configure_freshness(engine)
        _check_options(url, engine.dialect)
        if not kwargs.get("pool_pre_ping"):
            _configure_idle_ping(engine)
    _configure_begin(engine, backend)
    return engine


def _autocommit_kwargs(engine_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``engine_kwargs`` that runs the driver in autocommit mode.

    Raises:
        ValueError: ``engine_kwargs`` sets what trialstore manages (the isolation level).
    """
    kwargs = dict(engine_kwargs or {})
    for managed in ("isolation_level", "skip_autocommit_rollback"):
        if managed in kwargs:
            raise ValueError(
                f"engine_kwargs: {managed!r} is managed by trialstore (its transactions need "
                "the driver in autocommit mode); remove it."
            )
    kwargs["isolation_level"] = "AUTOCOMMIT"
    kwargs["skip_autocommit_rollback"] = True
    return kwargs


def _with_connect_defaults(url: sa.URL, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with trialstore's per-driver connection defaults under its own."""
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT)
        connect_args.setdefault("check_same_thread", False)
        kwargs["connect_args"] = connect_args
        if is_sqlite_memory(url):
            kwargs.setdefault("poolclass", pool.StaticPool)
    elif backend == "postgresql" and driver == "psycopg":
        # No statement is prepared on the server for being run often: generic plans assume
        # a range such as "trial_id > $1" matches a third of the table, and scan it all on
        # every read. Only the writes to one trial by id that _driver prepares explicitly
        # are (None here would turn those off too).
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("prepare_threshold", _NEVER_BY_COUNT)
        kwargs["connect_args"] = connect_args
    elif backend == "mysql" and driver == "pymysql" and _is_loopback(url):
        kwargs["connect_args"] = _without_loopback_tls(url, dict(kwargs.pop("connect_args", {})))
    return kwargs


def _driver_options(url: sa.URL, dialect: sa.Dialect | None) -> set[str] | None:
    """The URL query parameters the URL's driver takes, or None when it cannot be told.

    ``dialect`` (None for SQLite) is the engine's, whose driver module is loaded."""
    driver = url.get_driver_name()
    if url.get_backend_name() == "sqlite":
        if driver != "pysqlite" or sa.util.asbool(url.query.get("uri", False)):
            return None  # with uri=true the rest are SQLite URI parameters: SQLite's business
        return set(_PYSQLITE_OPTIONS)
    dbapi = None if dialect is None else dialect.loaded_dbapi
    if driver == "psycopg" and dbapi is not None:
        # libpq's connection parameters (asked from libpq, no connection made)
        return {option.keyword.decode() for option in dbapi.pq.Conninfo.get_defaults()}
    if driver == "pymysql" and dbapi is not None:
        parameters = inspect.signature(dbapi.connect).parameters.values()
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return None
        return {p.name for p in parameters} | _SQLALCHEMY_MYSQL_SSL
    return None


def _check_options(url: sa.URL, dialect: sa.Dialect | None) -> None:
    """Raise ValueError for a URL query parameter the driver does not take (psycopg would
    fail the connection with it, PyMySQL raise TypeError, SQLite ignore it)."""
    allowed = _driver_options(url, dialect)
    if allowed is None:
        return
    unknown = sorted(set(url.query) - allowed)
    if unknown:
        raise ValueError(
            f"storage URL {masked(url)!r}: unknown connection option {unknown[0]!r} in the "
            f"URL; the {url.get_driver_name()} driver takes: {', '.join(sorted(allowed))}."
        )


def _is_loopback(url: sa.URL) -> bool:
    """Whether ``url`` connects to this machine (a loopback address, ``localhost``, a socket)."""
    if url.host in (None, "", "localhost") or "unix_socket" in url.query:
        return True
    try:
        return ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        return False


def _without_loopback_tls(url: sa.URL, connect_args: dict[str, Any]) -> dict[str, Any]:
    """PyMySQL's connect arguments with TLS off, unless the URL or ``connect_args`` set any
    ``ssl*`` option.

    Without TLS options PyMySQL (1.2 and later) tries TLS on every connection and first builds
    a new TLS context, loading the system's CA certificates: 20-350 ms per connection on this
    project's 2-core machine, even when the server offers no TLS. On a loopback connection
    the traffic never leaves the machine, so TLS protects nothing there (the MySQL client
    itself uses no TLS over its local socket). Pass ``ssl_disabled=False`` (or any ``ssl_*``
    option) in ``connect_args`` to keep PyMySQL's default.
    """
    if not any(key.startswith("ssl") for key in (*connect_args, *url.query)):
        connect_args["ssl_disabled"] = True
    return connect_args


def _missing_driver(url: sa.URL, error: ImportError) -> ImportError:
    driver = url.drivername.partition("+")[2]
    command = _INSTALL.get(driver, f"pip install the package of the {driver!r} driver")
    return ImportError(
        f"storage URL {masked(url)!r} needs the database driver {url.drivername!r}, which is "
        f"not installed ({error}). Install it with: {command}"
    )


def _configure_sqlite(engine: sa.Engine, *, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions begin in _configure_begin
        cursor = dbapi_connection.cursor()
        try:
            if not memory:
                mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
                if str(mode).lower() != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()


class _Cutoff:
    """Pooled connections opened before :attr:`at` (``time.monotonic()``) are not reused."""

    __slots__ = ("at", "lock")

    def __init__(self) -> None:
        self.at = -1.0
        self.lock = threading.Lock()


#: Engine -> its cutoff (servers only; see :func:`drop_pooled_connections`).
_CUTOFFS: weakref.WeakKeyDictionary[sa.Engine, _Cutoff] = weakref.WeakKeyDictionary()


def drop_pooled_connections(engine: sa.Engine) -> None:
    """Make every connection ``engine``'s pool holds now, idle or in use, be replaced by a new
    one when it is next checked out (it is closed instead of reused).

    For a server that went away or stopped taking writes (a failover): its other pooled
    connections would each fail once more, or keep reaching a standby. Connections opened
    after this call are kept. Safe from any thread; does nothing on SQLite.
    """
    cutoff = _CUTOFFS.get(engine)
    if cutoff is not None:
        with cutoff.lock:
            cutoff.at = time.monotonic()


def _configure_freshness(engine: sa.Engine) -> None:
    cutoff = _CUTOFFS.setdefault(engine, _Cutoff())

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        record.info["trialstore_opened"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("trialstore_opened", -1.0) <= cutoff.at:
            # The pool closes this connection and checks out a new one.
            raise exc.DisconnectionError("opened before the server was found gone")


def _configure_idle_ping(engine: sa.Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["trialstore_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("trialstore_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            if engine.dialect.is_disconnect(e, dbapi_connection, None):  # type: ignore[arg-type]
                raise exc.DisconnectionError(str(e)) from e  # the pool reconnects
            raise


_BEGIN = {
    ("sqlite", "read"): "BEGIN",
    ("sqlite", "write"): "BEGIN IMMEDIATE",
    ("postgresql", "read"): "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    ("postgresql", "write"): "BEGIN",
    ("mysql", "read"): "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY",
    ("mysql", "write"): "START TRANSACTION",
}


def _configure_begin(engine: sa.Engine, backend: str) -> None:
    if backend == "mariadb":
        backend = "mysql"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        statement = _BEGIN.get((backend, TX_MODE.get()))
        if statement is not None:
            connection.exec_driver_sql(statement)


def classify_error(error: BaseException) -> ErrorKind | None:
    """Return ``"conflict"`` (retry the transaction), ``"disconnect"`` (reconnect and retry)
    or None (not transient) for an exception raised by the database layer.

    ``"disconnect"``: the connection was lost or refused, or (PostgreSQL) a write was refused
    because the server is read-only (SQLSTATE 25006: a standby, or a primary being demoted):
    either way the transaction did not commit unless the error came from its COMMIT, and the
    next connection must find the server that now takes writes."""
    if not isinstance(error, exc.DBAPIError):
        return None
    if error.connection_invalidated:
        return "disconnect"
    orig = error.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return _classify_sqlstate(sqlstate)
    module = type(orig).__module__
    if module.startswith(("pymysql", "MySQLdb")):
        return _classify_mysql_code(orig.args[0] if orig is not None and orig.args else None)
    if module.startswith("psycopg") and isinstance(error, exc.OperationalError):
        return "disconnect"  # no SQLSTATE: the connection failed or was lost
    if module.startswith("sqlite3"):
        message = str(orig).lower()
        if "database is locked" in message or "database table is locked" in message:
            return "conflict"
    return None


def _classify_sqlstate(sqlstate: str) -> ErrorKind | None:
    """:func:`classify_error` for a PostgreSQL error, by its SQLSTATE."""
    if sqlstate in _PG_CONFLICT:
        return "conflict"
    if sqlstate.startswith(_PG_DISCONNECT_PREFIXES) or sqlstate == _PG_READ_ONLY:
        return "disconnect"
    return None


def _classify_mysql_code(code: Any) -> ErrorKind | None:
    """:func:`classify_error` for a MySQL/MariaDB error, by its error code."""
    if code in _MYSQL_CONFLICT:
        return "conflict"
    if code in _MYSQL_DISCONNECT:
        return "disconnect"
    return None


_PASSWORD_HINTS = re.compile(
    r"password authentication failed|access denied|authentication failed|"
    r"password|no pg_hba.conf entry",
    re.IGNORECASE,
)
_USER_HINTS = re.compile(r"role \"[^\"]*\" does not exist|unknown user", re.IGNORECASE)
_MISSING_DB_HINTS = re.compile(r"does not exist|unknown database", re.IGNORECASE)


_UNKNOWN_OPTION = re.compile(r'invalid connection option "([^"]+)"', re.IGNORECASE)


def _sqlite_path(url: sa.URL) -> str | None:
    """The file a SQLite URL names (absolute), or None (in memory, or a SQLite URI)."""
    if is_sqlite_memory(url) or sa.util.asbool(url.query.get("uri", False)):
        return None
    return os.path.abspath(url.database or "")


def _sqlite_file_problem(path: str, detail: str) -> str:
    """What keeps SQLite from opening ``path``, as far as the file system tells."""
    directory = os.path.dirname(path)
    if os.path.isdir(path):
        return "it is a directory"
    if not os.path.exists(directory):
        return f"its directory {directory} does not exist"
    if not os.path.isdir(directory):
        return f"{directory} is not a directory"
    writable_dir = os.access(directory, os.W_OK | os.X_OK)
    if not os.path.exists(path):
        if not writable_dir:
            return f"no permission to create it in {directory}"
    elif not os.access(path, os.R_OK):
        return "no permission to read it"
    elif not os.access(path, os.W_OK):
        return "no permission to write it"
    elif not writable_dir:
        return f"no permission to write in its directory {directory} (SQLite keeps its WAL there)"
    if "not a database" in detail.lower():
        return "it is not a SQLite database"
    return "check the path and its permissions"


def connection_error(url: sa.URL, error: BaseException) -> StorageInternalError:
    """Return a one-line, password-free error for a failed first connection whose hint names
    the likely cause: a SQLite file problem (a directory, a missing directory, no permission,
    not a database), an unknown connection option, a wrong user or password, a missing
    database, else a server that is down or unreachable."""
    detail = " ".join(str(getattr(error, "orig", None) or error).split())
    if url.password:
        detail = detail.replace(str(url.password), "***")
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            problem = _sqlite_file_problem(path, detail)
            return StorageInternalError(
                f"cannot open SQLite database file {path}: {problem}. ({detail})"
            )
        return StorageInternalError(f"cannot open storage {masked(url)!r}: {detail}")
    if url.get_backend_name() == "postgresql":
        servers = _hosts.hosts_of(url)
        where = ", ".join(servers) if len(servers) > 1 else servers[0]
    else:
        where = f"{url.host or 'localhost'}" + (f":{url.port}" if url.port else "")
    option = _UNKNOWN_OPTION.search(detail)
    if option:
        hint = (
            f"unknown connection option {option.group(1)!r} in the URL (or in "
            "engine_kwargs['connect_args'])"
        )
    elif _PASSWORD_HINTS.search(detail) or _USER_HINTS.search(detail):
        hint = f"check the user name and password in the URL (user {url.username!r})"
    elif _MISSING_DB_HINTS.search(detail):
        hint = f"create the database {url.database!r} first, or fix its name in the URL"
    elif "," in where:
        hint = (
            f"check that one of the database servers at {where} is running, reachable and "
            "takes writes"
        )
    else:
        hint = f"check that the database server at {where} is running and reachable"
    return StorageInternalError(f"cannot connect to storage {masked(url)!r}: {hint}. ({detail})")
