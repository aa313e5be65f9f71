"""Dialect fast paths of the RDB storage (private).

Each does what a portable transaction of :mod:`_storage` does, in fewer round trips, where the
driver allows it: on PostgreSQL, one psycopg query string that creates a trial; on MariaDB through
PyMySQL, a compound statement that creates a trial and a study's first read folded into JSON
text by the server.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenTrial, TrialState
from trialstore.storage.rdb import _codec, _driver, _engine, _read_folded
from trialstore.storage.rdb._dml import (
    MARIADB_INSERT_TRIAL_UNLESS_WAITING,
    PG_INSERT_TRIAL,
    PG_INSERT_TRIAL_UNLESS_WAITING,
    PG_INSERT_TRIAL_WITH_SYSTEM_ATTRS,
    PG_LOCK_STUDY,
)
from trialstore.storage.rdb._read import Loaded
from trialstore.storage.rdb._transactions import AmbiguousCommit, commit, roll_back

__all__ = [
    "FOLDED_BATCH",
    "mariadb_create_trial",
    "mariadb_with_pymysql",
    "pg_create_trial",
    "pg_creates",
    "read_folded_trials",
]

#: Rows of a study's first read on MariaDB parsed and built at a time, while the server
#: writes the next ones (see :func:`read_folded_trials`).
FOLDED_BATCH = 256


#: What a create sends before its insert, in the same query string.
_PG_BEGIN_AND_LOCK = f"BEGIN; {PG_LOCK_STUDY}; "


def _is_running_with_system_attrs_only(template: FrozenTrial) -> bool:
    """Whether ``template`` makes a RUNNING trial with nothing but system attributes."""
    return (
        template.state == TrialState.RUNNING
        and template.values is None
        and template.datetime_complete is None
        and not template.distributions
        and not template.user_attrs
        and not template.intermediate_values
    )


def pg_creates(dialect: str, template: FrozenTrial | None) -> bool:
    """Whether :func:`pg_create_trial` creates the trial of ``template`` (None: a plain
    RUNNING trial) on ``dialect``: PostgreSQL (psycopg), with no template or one that only
    sets system attributes of a RUNNING trial."""
    return dialect == "postgresql" and (
        template is None or _is_running_with_system_attrs_only(template)
    )


def mariadb_with_pymysql(dialect: sa.Dialect) -> bool:
    """Whether the storage talks to MariaDB through PyMySQL. Then a study's first read is
    folded into JSON text by the server (:mod:`_read_folded`: PyMySQL's per-column decoding
    in Python costs the most), and trials are created by an anonymous compound statement
    (``BEGIN NOT ATOMIC``, which MySQL has not), whose results PyMySQL reads."""
    return bool(getattr(dialect, "is_mariadb", False)) and dialect.driver == "pymysql"


def pg_create_trial(
    connection: sa.Connection,
    study_id: int,
    template: FrozenTrial | None,
    probe: tuple[int, list[int]] | None = None,
) -> list[tuple[Any, ...]]:
    """PostgreSQL, where :func:`pg_creates` holds: BEGIN, lock the study and insert the
    numbered trial (with its attributes) in one round trip (one query string, see
    ``PG_INSERT_TRIAL``), then COMMIT: two round trips instead of five. Returns
    [(trial id, number)]. The body of a transaction of mode ``"none"``.

    The query string holds three statements, so its parameters are bound by psycopg on the
    client (``ClientCursor.mogrify``, quoted by libpq) and the string is sent as one simple
    query (:mod:`_pq`): a pipeline of three statements bound on the server costs about
    100 µs more client CPU here.

    With ``probe`` (floor, ids), the insert is ``PG_INSERT_TRIAL_UNLESS_WAITING``'s, and
    its rows are returned (possibly none inserted).

    Raises:
        KeyError: no such study.
        sqlalchemy.exc.DBAPIError: a database error, wrapped as SQLAlchemy wraps it (so
            that conflicts and lost connections are retried as usual).
        AmbiguousCommit: the connection was lost while committing.
    """
    import psycopg

    from trialstore.storage.rdb import _pq

    raw: Any = connection.connection.driver_connection
    info = connection.connection.info
    start = datetime.datetime.now() if template is None else template.datetime_start
    params: dict[str, Any] = {
        "study_id": study_id,
        "start": _codec.to_stored_datetime(start),
    }
    attrs = {} if template is None else template.system_attrs
    if probe is not None:
        statement = PG_INSERT_TRIAL_UNLESS_WAITING
        params["floor"], params["ids"] = probe
    elif attrs:
        statement = PG_INSERT_TRIAL_WITH_SYSTEM_ATTRS
    else:
        statement = PG_INSERT_TRIAL
    if statement != PG_INSERT_TRIAL:
        params["keys"] = list(attrs)
        params["values"] = [json.dumps(v) for v in attrs.values()]
    try:
        with psycopg.ClientCursor(raw) as cursor:
            bound = cursor.mogrify(_PG_BEGIN_AND_LOCK + statement, params)
        rows = _pq.query(raw, info, bound)[2].rows  # BEGIN's, the lock's, the insert's
        if not rows:
            _pq.command(raw, info, "ROLLBACK")
            raise KeyError(f"No study with id {study_id!r}.")
    except psycopg.Error as e:
        raise _pg_error(connection, raw, statement, params, e) from e
    try:
        _pq.command(raw, info, "COMMIT")
    except psycopg.Error as e:
        error = _pg_error(connection, raw, "COMMIT", None, e)
        if _engine.classify_error(error) == "disconnect":
            raise AmbiguousCommit() from error
        raise error from e
    return list(rows)


def _pg_error(
    connection: sa.Connection, raw: Any, statement: str, params: Any, error: Exception
) -> exc.DBAPIError:
    """Leave the connection idle (rolled back) or invalidated, and return ``error`` wrapped
    as SQLAlchemy wraps driver errors (see :func:`_driver.driver_error`)."""
    import psycopg

    from trialstore.storage.rdb import _pq

    lost = raw.closed or raw.broken
    if not lost and raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        try:
            _pq.command(raw, connection.connection.info, "ROLLBACK")
        except psycopg.Error:
            connection.invalidate()
    return _driver.driver_error(connection, statement, params, error)


def mariadb_create_trial(
    connection: sa.Connection, study_id: int, probe: tuple[int, list[int]]
) -> list[tuple[Any, ...]]:
    """MariaDB, no template: ``MARIADB_INSERT_TRIAL_UNLESS_WAITING`` (one round trip),
    then COMMIT: two round trips instead of the six of a probe, then a transaction.
    Returns the statement's rows (possibly none inserted). The body of a transaction of mode
    ``"none"``.

    Raises:
        KeyError: no such study.
        sqlalchemy.exc.DBAPIError: a database error (the transaction was rolled back, or
            the connection was lost before COMMIT: nothing stored either way).
        AmbiguousCommit: the connection was lost while committing.
    """
    floor, ids = probe
    params = {
        "study_id": study_id,
        "floor": floor,
        "ids": ids or [-1],  # IN () is not SQL; no trial has the id -1
        "start": _codec.to_stored_datetime(datetime.datetime.now()),
    }
    try:
        rows = _driver.rows(connection, MARIADB_INSERT_TRIAL_UNLESS_WAITING, params)
        if not rows:
            raise KeyError(f"No study with id {study_id!r}.")
    except BaseException:
        # The statement rolls back its own errors; this ends the transaction it left
        # open (a missing study, an interrupt) before the connection goes back to the pool.
        roll_back(connection)
        raise
    commit(lambda: _driver.rowcount(connection, "COMMIT", None))
    return rows


def read_folded_trials(
    connection: sa.Connection, statement: sa.Executable, params: dict[str, Any]
) -> Loaded | None:
    """Run a :mod:`_read_folded` statement: what it loaded (see :class:`_read.Loaded`), or
    None if the server warned (an array cut short by ``group_concat_max_len``): the caller
    then reads row by row.

    The rows are read through an unbuffered cursor, and built in batches of
    :data:`FOLDED_BATCH` as they arrive (see :mod:`_read_folded`). For the first read of a
    study only: on MariaDB a statement with the folding subqueries costs ~0.8 ms more than
    the ``UNION ALL`` (1.6 vs 0.7 ms for one trial), which only reads of many trials repay
    (see docs/performance.md).
    """
    # For this statement only: Connection.execution_options would stream every later one
    result = connection.execute(statement, params, execution_options={"yield_per": FOLDED_BATCH})
    cursor = result.cursor
    assert cursor is not None
    try:
        try:
            found = _read_folded.build_trials(result.partitions())
        except exc.SQLAlchemyError:
            raise
        except Exception:
            # An array cut short may not parse, or not have a trial's shape. The warning
            # comes with the last row: read to it, to tell a cut from a bug.
            result.all()
            if not cursor.warning_count:
                raise
            return None
        return None if cursor.warning_count else found
    finally:
        result.close()
