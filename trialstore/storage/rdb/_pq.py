"""Statements sent through libpq on a psycopg connection, without a cursor (private).

A psycopg cursor costs the client more than the round trip it makes on a local server: on
this project's 2-core reference machine, a prepared one-row write takes 66 µs of client CPU
through ``Cursor.execute`` and 38 µs through psycopg's own libpq wrapper (``psycopg.pq``),
and a default-mode trial makes eight such round trips. No public psycopg API sends a
statement with less work, so this module drives ``psycopg.pq`` itself. What it keeps of
psycopg: the parameters are dumped and the rows loaded by psycopg's
:class:`psycopg.adapt.Transformer` (values convert exactly as a cursor converts them, with
the connection's adapters), and a server error is raised as the :mod:`psycopg.errors` class
a cursor would raise, with its diagnostics (``sqlstate``); a lost connection raises
:class:`psycopg.OperationalError` and leaves the connection ``closed``.

A statement with parameters run outside a transaction block is prepared on the server under a
name of this module's (never one of psycopg's), once per connection and parameter types,
unless the connection's ``prepare_threshold`` is None (preparing off); other statements are
sent unnamed. psycopg deallocates every prepared statement of its connection (``DEALLOCATE
ALL``) after it runs a ROLLBACK, DROP or ALTER while it holds prepared statements of its
own, as its ``executemany`` makes: a statement found deallocated is prepared again and sent
again, which is safe outside a transaction block (nothing ran).

The wait for the reply polls the socket from Python, so an interrupt (``KeyboardInterrupt``)
is raised while waiting; the connection's protocol state is then unknown, and the caller
must not reuse it. A connection is used by one thread at a time (as the pool hands it out).
What this module keeps per connection lives in the ``info`` dict the caller passes: the
pool's record of the connection, which SQLAlchemy clears when it closes or invalidates the
connection.
"""

from __future__ import annotations

import functools
import re
import select
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer

__all__ = ["Reply", "command", "execute", "query"]

#: The key of this module's state in a connection's ``info`` dict.
_INFO_KEY = "trialstore_pq"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
_OK = frozenset({pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK, pq.ExecStatus.EMPTY_QUERY})
#: SQLSTATE invalid_sql_statement_name: the named statement does not exist.
_DEALLOCATED = b"26000"


class Reply:
    """What one statement returned: ``rowcount`` (the rows it affected or returned, as
    ``cursor.rowcount``) and ``rows`` (its rows as tuples, empty if it returns none)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rowcount: int, rows: list[tuple[Any, ...]]) -> None:
        self.rowcount = rowcount
        self.rows = rows


class _State:
    """What this module keeps per connection: its prepared statements' names, by
    (statement, parameter types), and the transformer that dumps and loads its values."""

    __slots__ = ("connection", "named", "poll", "prepared", "transformer")

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.transformer = Transformer(connection)
        self.prepared: dict[tuple[str, tuple[int, ...]], bytes] = {}
        self.named = 0  # names made so far: a name is never reused on its connection
        self.poll = select.poll() if hasattr(select, "poll") else None


def execute(
    connection: psycopg.Connection[Any],
    info: dict[Any, Any],
    statement: str,
    params: Mapping[str, Any] | None,
) -> Reply:
    """Run ``statement`` (one statement; parameters in pyformat, ``%(name)s``) with
    ``params`` on ``connection``, prepared on the server where the module's docstring says;
    return its :class:`Reply`. ``info``: the connection's ``info`` dict (its pool record's),
    where this module keeps its state.

    Raises:
        psycopg.Error: the server's error for the statement (the subclass a cursor raises),
            or ``OperationalError`` if the connection was lost.
    """
    state = _state(connection, info)
    pgconn = connection.pgconn
    sql, names = _converted(statement)
    transformer = state.transformer
    values = [params[name] for name in names] if params else []
    dumped = transformer.dump_sequence(values, [PyFormat.TEXT] * len(values))
    if (
        values
        and connection.prepare_threshold is not None
        and pgconn.transaction_status == pq.TransactionStatus.IDLE
    ):
        key = (statement, tuple(transformer.types or ()))
        result = _run_prepared(state, key, sql, dumped)
        if result.status == pq.ExecStatus.FATAL_ERROR and (
            result.error_field(pq.DiagnosticField.SQLSTATE) == _DEALLOCATED
        ):
            state.prepared.clear()
            result = _run_prepared(state, key, sql, dumped)
    else:
        pgconn.send_query_params(sql, dumped, transformer.types)
        result = _results(state)[0]
    return _reply(state, _check(connection, result))


def query(connection: psycopg.Connection[Any], info: dict[Any, Any], sql: str) -> list[Reply]:
    """Send ``sql`` (one or more statements, values already in it: no parameters) as one
    simple query; return the :class:`Reply` of each statement, in order (``info``: as for
    :func:`execute`).

    Raises:
        psycopg.Error: the first statement's error (the statements after it did not run),
            or ``OperationalError`` if the connection was lost.
    """
    state = _state(connection, info)
    connection.pgconn.send_query(sql.encode(connection.info.encoding))
    results = _results(state)
    for result in results:
        _check(connection, result)
    return [_reply(state, result) for result in results]


def command(connection: psycopg.Connection[Any], info: dict[Any, Any], sql: str) -> None:
    """Run one statement without parameters or rows (``COMMIT``, ``ROLLBACK``; ``info``: as
    for :func:`execute`).

    Raises:
        psycopg.Error: as :func:`query`.
    """
    query(connection, info, sql)


def _run_prepared(
    state: _State, key: tuple[str, tuple[int, ...]], sql: bytes, dumped: Sequence[Buffer | None]
) -> pq.abc.PGresult:
    """Send the statement ``key`` under its name, prepared first if it is not; return the
    result of its execution (an error included)."""
    pgconn = state.connection.pgconn
    name = state.prepared.get(key)
    if name is None:
        name = f"trialstore_{state.named}".encode()
        state.named += 1
        pgconn.send_prepare(name, sql, key[1])
        _check(state.connection, _results(state)[0])
        state.prepared[key] = name
    pgconn.send_query_prepared(name, dumped)
    return _results(state)[0]


@functools.lru_cache(maxsize=256)
def _converted(statement: str) -> tuple[bytes, tuple[str, ...]]:
    """``statement`` with its pyformat placeholders numbered (``$1``…, one per name), and
    the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(number, statement).encode(), tuple(names)


def _state(connection: psycopg.Connection[Any], info: dict[Any, Any]) -> _State:
    state: _State | None = info.get(_INFO_KEY)
    if state is None or state.connection is not connection:
        state = info[_INFO_KEY] = _State(connection)
    return state


def _results(state: _State) -> list[pq.abc.PGresult]:
    """Send what is buffered, wait for the whole reply, and return its results."""
    pgconn = state.connection.pgconn
    fd = pgconn.socket
    while pgconn.flush():  # the connection is non-blocking: the send buffer was full
        _wait(state, fd, write=True)
    while True:
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        _wait(state, fd, write=False)
    results = []
    while (result := pgconn.get_result()) is not None:
        results.append(result)
    if not results:
        raise psycopg.OperationalError("the server sent no result")
    return results


def _wait(state: _State, fd: int, *, write: bool) -> None:
    """Block until ``fd`` can be written (``write``) or read."""
    if state.poll is None:  # no poll(2) on this platform
        if write:
            select.select([], [fd], [])
        else:
            select.select([fd], [], [])
        return
    state.poll.register(fd, select.POLLOUT if write else select.POLLIN)
    state.poll.poll()


def _check(connection: psycopg.Connection[Any], result: pq.abc.PGresult) -> pq.abc.PGresult:
    if result.status not in _OK:
        raise psycopg.errors.error_from_result(result, encoding=connection.info.encoding)
    return result


def _reply(state: _State, result: pq.abc.PGresult) -> Reply:
    rowcount = result.command_tuples
    if not result.ntuples:
        return Reply(-1 if rowcount is None else rowcount, [])
    transformer = state.transformer
    transformer.set_pgresult(result)
    rows = transformer.load_rows(0, result.ntuples, tuple)
    return Reply(result.ntuples if rowcount is None else rowcount, rows)
