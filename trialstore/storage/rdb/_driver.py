"""Driver-level statements sent straight to the DBAPI driver (private).

A write of one statement on a local server costs the client more in SQLAlchemy (its
connection object, execution context, parameter processing and result object) than in the
driver: about half of it on psycopg and two thirds on PyMySQL. With psycopg (3) and
PyMySQL, a driver-level SQL string (pyformat parameters, ``%(name)s``) runs here on the
DBAPI connection itself, and the driver's errors are wrapped as SQLAlchemy wraps them, so
that :class:`~trialstore.storage.rdb._transactions.Transactions` retries them alike: a lost
connection is invalidated (never reused) and reported with ``connection_invalidated``. With
other drivers, and while listeners of SQLAlchemy's cursor events are registered (on the
engine or on all engines: instrumentation, tests that inject failures), the string runs
through ``exec_driver_sql``, so that those listeners see every statement.

On psycopg these statements go through :mod:`_pq` (libpq without a cursor) and are prepared
on the server (parsed and planned once per connection, then only bound and executed: a
parameter write's round trip is about a quarter shorter on a local server). Each is a write
to one trial by its id, whose generic plan is the one a custom plan would be; the engine
prepares nothing else (``prepare_threshold``, see ``_engine``), and
``connect_args={"prepare_threshold": None}`` turns preparing off.

A :class:`Statement` is a whole transaction body of one such statement, which
``Transactions`` runs on a connection from the pool without a SQLAlchemy connection; the
functions :func:`rowcount` and :func:`rows` run one on a SQLAlchemy connection's DBAPI
connection, inside a body. In autocommit mode a connection lost before the statement's reply
leaves it committed or not, which the caller tells apart on a retry as for any such
statement (see ``_trial_writes``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

__all__ = ["Statement", "direct", "direct_engine", "driver_error", "rowcount", "rows", "run"]

_T = TypeVar("_T")

#: The drivers whose connections take statements here directly.
_DIRECT_DRIVERS = frozenset({"psycopg", "pymysql"})


def direct_engine(engine: sa.Engine) -> bool:
    """Whether statements on ``engine`` go straight to its driver: psycopg or PyMySQL, with
    no listener of SQLAlchemy's cursor events (they would not see the statements)."""
    if engine.dialect.driver not in _DIRECT_DRIVERS:
        return False
    dispatch = engine.dispatch
    return not (dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def direct(connection: sa.Connection) -> bool:
    """:func:`direct_engine` for a SQLAlchemy connection (which may have listeners of its
    own)."""
    if connection.dialect.driver not in _DIRECT_DRIVERS:
        return False
    dispatch = connection.dispatch
    return not (dispatch.before_cursor_execute or dispatch.after_cursor_execute)


class Statement(Generic[_T]):
    """A transaction body of one driver-level write statement in autocommit mode (run it in
    mode ``"none"``): ``statement`` with ``params``, whose result is its rows (``rows``) or
    its rowcount. ``written(result)``: whether it wrote; then the body returns
    ``value(result)``. Else ``not_written(connection, again)`` returns or raises what the call
    does (it may read on ``connection``; ``again``: an earlier attempt of the statement may
    have taken effect before its connection was lost).

    Called with a SQLAlchemy connection, it is an ordinary body (the statement through
    :func:`rows` or :func:`rowcount`); ``Transactions`` may instead send the statement from
    a pooled DBAPI connection (:func:`run`) and open a SQLAlchemy connection only for
    ``not_written``. Each instance is one call's: it counts its attempts.
    """

    __slots__ = ("attempts", "not_written", "params", "rows", "statement", "value", "written")

    def __init__(
        self,
        statement: str,
        params: dict[str, Any],
        *,
        rows: bool,
        written: Callable[[Any], bool],
        value: Callable[[Any], _T],
        not_written: Callable[[sa.Connection, bool], _T],
    ) -> None:
        self.statement = statement
        self.params = params
        self.rows = rows
        self.written = written
        self.value = value
        self.not_written = not_written
        self.attempts = 0

    def __call__(self, connection: sa.Connection) -> _T:
        self.attempts += 1
        run = rows if self.rows else rowcount
        result = run(connection, self.statement, self.params)
        if self.written(result):
            return self.value(result)
        return self.not_written(connection, self.attempts > 1)


def rowcount(connection: sa.Connection, statement: str, params: dict[str, Any] | None) -> int:
    """Run ``statement`` on ``connection``; return the rows it affected (as the driver
    counts them).

    Raises:
        sqlalchemy.exc.DBAPIError: a database error (the connection invalidated if lost).
    """
    if direct(connection):
        return int(_on_connection(connection, statement, params, False))
    return int(connection.exec_driver_sql(statement, params).rowcount)


def rows(
    connection: sa.Connection, statement: str, params: dict[str, Any] | None
) -> list[tuple[Any, ...]]:
    """Run ``statement`` on ``connection``; return the rows of its first result.

    Raises:
        sqlalchemy.exc.DBAPIError: a database error (the connection invalidated if lost).
    """
    if direct(connection):
        rows: list[tuple[Any, ...]] = _on_connection(connection, statement, params, True)
        return rows
    return [tuple(row) for row in connection.exec_driver_sql(statement, params).all()]


def run(engine: sa.Engine, body: Statement[Any]) -> Any:
    """One attempt of ``body``'s statement on a connection from ``engine``'s pool (where
    :func:`direct_engine`); return its result (rows or rowcount). The connection goes back
    to the pool, or is invalidated if it was lost or interrupted.

    Raises:
        sqlalchemy.exc.DBAPIError: a database error, also while connecting.
    """
    dialect = engine.dialect
    try:
        fairy = engine.raw_connection()
    except dialect.loaded_dbapi.Error as e:
        orig: Any = e
        lost = dialect.is_disconnect(orig, None, None)
        raise _wrapped(engine, None, None, e, lost) from e
    try:
        raw: Any = fairy.driver_connection
        try:
            return _send(dialect, raw, fairy.info, body.statement, body.params, body.rows)
        except dialect.loaded_dbapi.Error as e:
            orig = e
            lost = dialect.is_disconnect(orig, raw, None)
            if lost:
                fairy.invalidate(e)
            raise _wrapped(engine, body.statement, body.params, e, lost) from e
        except BaseException:
            fairy.invalidate()  # interrupted: the connection's protocol state is unknown
            raise
    finally:
        fairy.close()


def _send(
    dialect: sa.Dialect,
    raw: Any,
    info: dict[Any, Any],
    statement: str,
    params: dict[str, Any] | None,
    rows: bool,
) -> Any:
    """Run ``statement`` on the driver's connection ``raw`` (``info``: its pool record's);
    return its rows (``rows``) or its rowcount. psycopg: through :mod:`_pq`; PyMySQL: on a
    cursor, closed after its rows are read, which reads what the statement sends after its
    first result (a compound statement's end), so an error there is raised too; after an
    error, what closing raises is not (the first error is the one to handle)."""
    if dialect.driver == "psycopg":
        from trialstore.storage.rdb import _pq  # psycopg is imported only where it is used

        reply = _pq.execute(raw, info, statement, params)
        return reply.rows if rows else reply.rowcount
    cursor = raw.cursor()
    try:
        cursor.execute(statement, params)
        result = [tuple(row) for row in cursor.fetchall()] if rows else int(cursor.rowcount)
    except BaseException:
        with contextlib.suppress(Exception):
            cursor.close()
        raise
    cursor.close()
    return result


def _on_connection(
    connection: sa.Connection, statement: str, params: dict[str, Any] | None, rows: bool
) -> Any:
    """:func:`_send` on the DBAPI connection of ``connection``. Any exception but the
    driver's (an interrupt) leaves the connection in an unknown state of its protocol: it is
    invalidated, never reused."""
    dialect = connection.dialect
    fairy = connection.connection
    raw: Any = fairy.driver_connection
    try:
        return _send(dialect, raw, fairy.info, statement, params, rows)
    except dialect.loaded_dbapi.Error as e:
        raise driver_error(connection, statement, params, e) from e
    except BaseException:
        connection.invalidate()
        raise


def driver_error(
    connection: sa.Connection,
    statement: str | None,
    params: Any,
    error: Exception,
    cursor: Any = None,
) -> exc.DBAPIError:
    """``error`` (the driver's) wrapped as SQLAlchemy wraps it; a lost connection is
    invalidated first, and the wrapper says so (``connection_invalidated``)."""
    dialect = connection.dialect
    raw = None if connection.invalidated else connection.connection.driver_connection
    orig: Any = error  # a driver's error: what the dialect's ``is_disconnect`` takes
    lost = connection.invalidated or dialect.is_disconnect(orig, raw, cursor)
    if lost and not connection.invalidated:
        connection.invalidate(error)
    return _wrapped(connection.engine, statement, params, error, lost)


def _wrapped(
    engine: sa.Engine, statement: str | None, params: Any, error: Exception, lost: bool
) -> exc.DBAPIError:
    """As SQLAlchemy wraps a driver's error (its message shows the parameters unless the
    engine's ``hide_parameters``)."""
    wrapped = exc.DBAPIError.instance(
        statement,
        params,
        error,
        engine.dialect.loaded_dbapi.Error,
        hide_parameters=engine.hide_parameters,
        connection_invalidated=lost,
        dialect=engine.dialect,
    )
    assert isinstance(wrapped, exc.DBAPIError)  # the driver's errors are DBAPI errors
    return wrapped
