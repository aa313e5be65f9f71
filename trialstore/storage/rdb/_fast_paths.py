"""Dialect fast paths of the RDB storage (private).

Each does what a portable transaction of :mod:`_storage` does, in fewer round trips, where the
driver allows it: on PostgreSQL, one psycopg query string that creates a trial; on MariaDB through
PyMySQL, a compound statement that creates a trial and a study's first read folded into JSON
text by the server.

A create here commits in the same round trip, so that a connection lost before its reply
leaves the trial created or not. Each create has a token, inserted with its trial in
trialstore's table ``trialstore_trial_creates`` while the create holds the study row's lock
(see ``_tables.trial_creates``): an attempt run again after such a loss finds the token if the
lost one committed and returns its trial, so a create is retried like an idempotent write and
never makes two trials.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenTrial, TrialState
from trialstore.storage.rdb import _codec, _driver, _read_folded
from trialstore.storage.rdb._dml import (
    MARIADB_INSERT_TRIAL_UNLESS_WAITING,
    PG_LOCK_STUDY,
    pg_insert_trial,
)
from trialstore.storage.rdb._read import Loaded
from trialstore.storage.rdb._transactions import Body

__all__ = [
    "FOLDED_BATCH",
    "MAX_RETRY_TIMEOUT",
    "mariadb_create_trial",
    "mariadb_with_pymysql",
    "pg_create_trial",
    "pg_creates",
    "read_folded_trials",
]

#: Rows of a study's first read on MariaDB parsed and built at a time, while the server
#: writes the next ones (see :func:`read_folded_trials`).
FOLDED_BATCH = 256


#: What a create sends around its insert, in the same query string.
_PG_BEGIN_AND_LOCK = f"BEGIN; {PG_LOCK_STUDY}; "
_PG_COMMIT = "; COMMIT"

#: The longest ``retry_timeout`` of a storage whose creates take the paths here: a create's
#: token is kept for ``CREATE_TOKEN_LIFETIME`` (a day), and a retry after that could no
#: longer find it.
MAX_RETRY_TIMEOUT = 12 * 3600.0


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


def pg_creates(dialect: str, create_tokens: bool, template: FrozenTrial | None) -> bool:
    """Whether :func:`pg_create_trial` creates the trial of ``template`` (None: a plain
    RUNNING trial) on ``dialect``: PostgreSQL (psycopg) where the database holds the table
    of create tokens, with no template or one that only sets system attributes of a RUNNING
    trial."""
    return (
        dialect == "postgresql"
        and create_tokens
        and (template is None or _is_running_with_system_attrs_only(template))
    )


def mariadb_with_pymysql(dialect: sa.Dialect) -> bool:
    """Whether the storage talks to MariaDB through PyMySQL. Then a study's first read is
    folded into JSON text by the server (:mod:`_read_folded`: PyMySQL's per-column decoding
    in Python costs the most), and trials are created by an anonymous compound statement
    (``BEGIN NOT ATOMIC``, which MySQL has not), whose results PyMySQL reads."""
    return bool(getattr(dialect, "is_mariadb", False)) and dialect.driver == "pymysql"


def _new_token() -> str:
    """A create's token: 32 random hex digits, sent by each of its attempts."""
    return os.urandom(16).hex()


def pg_create_trial(
    study_id: int,
    template: FrozenTrial | None,
    probe: tuple[int, list[int]] | None = None,
) -> Body[list[tuple[Any, ...]]]:
    """PostgreSQL, where :func:`pg_creates` holds: the body of a transaction of mode
    ``"none"`` that sends BEGIN, the study's lock, the insert of the numbered trial (with
    its system attributes and its token: ``pg_insert_trial``) and COMMIT as one query
    string: one round trip instead of five. Returns [(trial id, number)]. Run again after
    its connection was lost (committed or not), it returns the trial it created, if it did:
    it may be retried like an idempotent write.

    The query string holds four statements, so its parameters are bound by psycopg on the
    client (``ClientCursor.mogrify``, quoted by libpq) and the string is sent as one simple
    query (:mod:`_pq`): a pipeline of statements bound on the server costs about 100 µs more
    client CPU here.

    With ``probe`` (floor, ids), the insert is ``pg_insert_trial``'s ``unless_waiting``, and
    its rows are returned (possibly none inserted).

    The body raises:
        KeyError: no such study.
        sqlalchemy.exc.DBAPIError: a database error, wrapped as SQLAlchemy wraps it (so
            that conflicts and lost connections are retried as usual).
    """
    start = datetime.datetime.now() if template is None else template.datetime_start
    attrs = {} if template is None else template.system_attrs
    params: dict[str, Any] = {
        "study_id": study_id,
        "start": _codec.to_stored_datetime(start),
        "token": _new_token(),
    }
    if probe is not None:
        params["floor"], params["ids"] = probe
    if attrs:
        params["keys"] = list(attrs)
        params["values"] = [json.dumps(v) for v in attrs.values()]
    statement = _PG_BEGIN_AND_LOCK + pg_insert_trial(bool(attrs), probe is not None) + _PG_COMMIT

    def body(connection: sa.Connection) -> list[tuple[Any, ...]]:
        import psycopg

        from trialstore.storage.rdb import _pq

        raw: Any = connection.connection.driver_connection
        try:
            with psycopg.ClientCursor(raw) as cursor:
                bound = cursor.mogrify(statement, params)
            # BEGIN's, the lock's, the insert's, COMMIT's
            rows = _pq.query(raw, connection.connection.info, bound)[2].rows
        except psycopg.Error as e:
            raise _pg_error(connection, raw, statement, params, e) from e
        if not rows:
            raise KeyError(f"No study with id {study_id!r}.")
        return list(rows)

    return body


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
    study_id: int, probe: tuple[int, list[int]]
) -> _driver.Statement[list[tuple[Any, ...]]]:
    """MariaDB, no template: ``MARIADB_INSERT_TRIAL_UNLESS_WAITING`` with a new token, as a
    transaction body of one statement (one round trip instead of the six of a probe, then a
    transaction) that returns the statement's rows (possibly none inserted). Run again after
    its connection was lost (committed or not), it returns the trial it created, if it did:
    it may be retried like an idempotent write.

    The body raises:
        KeyError: no such study.
        sqlalchemy.exc.DBAPIError: a database error (the transaction was rolled back).
    """
    floor, ids = probe
    params = {
        "study_id": study_id,
        "floor": floor,
        "ids": ids or [-1],  # IN () is not SQL; no trial has the id -1
        "start": _codec.to_stored_datetime(datetime.datetime.now()),
        "token": _new_token(),
    }

    def not_found(connection: sa.Connection, again: bool) -> list[tuple[Any, ...]]:
        raise KeyError(f"No study with id {study_id!r}.")

    return _driver.Statement(
        MARIADB_INSERT_TRIAL_UNLESS_WAITING,
        params,
        rows=True,
        written=bool,
        value=_rows,
        not_written=not_found,
    )


def _rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
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
