"""Driver-level statements sent straight to the DBAPI driver (private).

A write of one statement on a local server costs the client more in SQLAlchemy's execution
(the execution context, parameter processing, the result object) than in the driver: about
half of it on psycopg and two thirds on PyMySQL. With psycopg (3) and PyMySQL, the functions
here run a driver-level SQL string (pyformat parameters, ``%(name)s``) on the DBAPI
connection under a :class:`sqlalchemy.Connection`, and wrap the driver's errors as
SQLAlchemy does, so that :class:`~trialstore.storage.rdb._transactions.Transactions` retries
them alike: a lost connection is invalidated and reported with ``connection_invalidated``.
With other drivers, and while listeners of SQLAlchemy's cursor events are registered (on
the engine or on all engines: instrumentation, tests that inject failures), they run the
string through ``exec_driver_sql``, so that those listeners see every statement.

Every function here runs one statement; in autocommit mode (a body of mode ``"none"``) a
connection lost before its reply leaves the statement committed or not, which the caller
tells apart on a retry as for any such statement (see ``_trial_writes``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

__all__ = ["direct", "driver_error", "rowcount", "rows"]

_T = TypeVar("_T")

#: The drivers whose connections take statements here directly.
_DIRECT_DRIVERS = frozenset({"psycopg", "pymysql"})


def direct(connection: sa.Connection) -> bool:
    """Whether statements on ``connection`` go straight to its driver: psycopg or PyMySQL,
    with no listener of SQLAlchemy's cursor events (they would not see the statements)."""
    if connection.dialect.driver not in _DIRECT_DRIVERS:
        return False
    dispatch = connection.dispatch
    return not (dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def rowcount(connection: sa.Connection, statement: str, params: dict[str, Any] | None) -> int:
    """Run ``statement``; return the rows it affected (as the driver counts them).

    Raises:
        sqlalchemy.exc.DBAPIError: a database error (the connection invalidated if lost).
    """
    if direct(connection):
        return _run(connection, statement, params, _rowcount)
    return int(connection.exec_driver_sql(statement, params).rowcount)


def rows(
    connection: sa.Connection, statement: str, params: dict[str, Any] | None
) -> list[tuple[Any, ...]]:
    """Run ``statement``; return the rows of its first result.

    Raises:
        sqlalchemy.exc.DBAPIError: a database error (the connection invalidated if lost).
    """
    if direct(connection):
        return _run(connection, statement, params, _fetchall)
    return [tuple(row) for row in connection.exec_driver_sql(statement, params).all()]


def _rowcount(cursor: Any) -> int:
    return int(cursor.rowcount)


def _fetchall(cursor: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in cursor.fetchall()]


def _run(
    connection: sa.Connection,
    statement: str,
    params: dict[str, Any] | None,
    read: Callable[[Any], _T],
) -> _T:
    """Execute on the driver's own cursor and ``read`` it. Closing the cursor reads what
    the statement sends after its first result (a compound statement's end), so an error
    there is raised too; after an error, what closing raises is not (the first error is
    the one to handle). Any exception but the driver's (an interrupt) leaves the
    connection in an unknown state of its protocol: it is invalidated, never reused."""
    dialect = connection.dialect
    raw: Any = connection.connection.driver_connection
    cursor: Any = None
    try:
        cursor = raw.cursor()
        try:
            cursor.execute(statement, params)
            result = read(cursor)
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.close()
            raise
        cursor.close()
        return result
    except dialect.loaded_dbapi.Error as e:
        raise driver_error(connection, statement, params, e, cursor) from e
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
    wrapped = exc.DBAPIError.instance(
        statement,
        params,
        error,
        dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=dialect,
    )
    assert isinstance(wrapped, exc.DBAPIError)  # the driver's errors are DBAPI errors
    return wrapped
