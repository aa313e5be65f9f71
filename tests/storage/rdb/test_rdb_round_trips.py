"""RDBStorage: the round trips and statements of one trial, counted exactly on every
dialect, in both ``param_writes`` modes (docs/performance.md, "Round trips per trial").

A trial of the bench's shape (5 float parameters, then ``tell``; and the same with 2
intermediate values reported) runs in a study that already has trials, after a warm-up
(caches, parameter names and connections in place). What is counted is what reaches the
DBAPI driver: on PostgreSQL psycopg's queries (a query string of several statements is one
round trip) and commits, on MariaDB PyMySQL's queries (a compound statement is one), on
SQLite the statements and commits SQLAlchemy sends to sqlite3 (in-process calls).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _one_trial import N_PARAMS, objective
from _rdb_helpers import DIALECTS, database_url

import trialstore
from trialstore.storage.rdb import RDBStorage, _engine

#: (dialect, param_writes, intermediate values reported) -> (round trips, statements).
#: Creating the trial, one round trip: PostgreSQL, BEGIN + study lock + insert-unless-WAITING
#: + COMMIT in one query string; MariaDB, a compound statement; SQLite, one INSERT.
#: Then one statement per parameter (immediate) and per intermediate value; with at_tell the
#: parameters are written with the finish, or before the first report. The finish: one
#: statement on PostgreSQL and MariaDB; on SQLite BEGIN IMMEDIATE, the UPDATE, the values'
#: upsert and COMMIT (the parameters' upsert in it too with at_tell).
EXPECTED = {
    ("sqlite", "immediate", 0): (10, 10),
    ("sqlite", "at_tell", 0): (6, 6),
    ("sqlite", "immediate", 2): (12, 12),
    ("sqlite", "at_tell", 2): (8, 8),
    ("postgresql", "immediate", 0): (7, 10),
    ("postgresql", "at_tell", 0): (2, 5),
    ("postgresql", "immediate", 2): (9, 12),
    ("postgresql", "at_tell", 2): (5, 8),
    ("mysql", "immediate", 0): (7, 7),
    ("mysql", "at_tell", 0): (2, 2),
    ("mysql", "immediate", 2): (9, 9),
    ("mysql", "at_tell", 2): (5, 5),
}


class Sent:
    """What one trial sent: its statements (first words) and round trips."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.round_trips = 0

    def statement(self, text: Any, several: bool = False) -> None:
        """One round trip of one statement, or of ``several`` in one query string."""
        for each in str(text).split("; ") if several else [str(text)]:
            self.statements.append(" ".join(each.split()[:4]))
        self.round_trips += 1


def _count_psycopg(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    import psycopg

    from trialstore.storage.rdb import _pq

    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
    pq_execute, pq_query = _pq.execute, _pq.query
    commit, rollback = psycopg.Connection.commit, psycopg.Connection.rollback

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        # bound on the client: maybe several statements (bound on the server: only one)
        sent.statement(query, several=isinstance(self, psycopg.ClientCursor))
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.statement(query)
        return executemany(self, query, *args, **kwargs)

    def ends(method: Callable[[Any], None], word: str) -> Callable[[Any], None]:
        def counted(self: Any) -> None:
            if self.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                sent.statement(word)  # in autocommit mode psycopg sends it only then
            method(self)

        return counted

    def counted_pq_execute(connection: Any, info: Any, statement: str, params: Any) -> Any:
        sent.statement(statement)
        return pq_execute(connection, info, statement, params)

    def counted_pq_query(connection: Any, info: Any, sql: str) -> Any:
        sent.statement(sql, several=True)
        return pq_query(connection, info, sql)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.Cursor, "executemany", counted_executemany)
    monkeypatch.setattr(psycopg.Connection, "commit", ends(commit, "COMMIT"))
    monkeypatch.setattr(psycopg.Connection, "rollback", ends(rollback, "ROLLBACK"))
    # statements sent through libpq without a cursor (rdb/_pq.py)
    monkeypatch.setattr(_pq, "execute", counted_pq_execute)
    monkeypatch.setattr(_pq, "query", counted_pq_query)


def _count_pymysql(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    import pymysql
    from pymysql.constants import COMMAND

    send = pymysql.connections.Connection._execute_command

    def counted(self: Any, command: int, sql: Any) -> Any:
        if command == COMMAND.COM_QUERY:  # statements, COMMIT and ROLLBACK; not pings
            sent.statement(sql.decode() if isinstance(sql, bytes) else sql)
        return send(self, command, sql)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", counted)


@contextlib.contextmanager
def _count_sqlite(engine: sa.Engine, sent: Sent) -> Iterator[None]:
    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.statement(statement)

    def on_commit(conn: Any) -> None:
        sent.statement("COMMIT")

    # (No "rollback" event: SQLAlchemy fires it for every autocommit connection it returns
    # to the pool, where the dialect then sends nothing.)
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(engine, "commit", on_commit)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)
        sa.event.remove(engine, "commit", on_commit)


@contextlib.contextmanager
def counting(storage: RDBStorage, dialect: str) -> Iterator[Sent]:
    """Count what reaches the driver in the block."""
    sent = Sent()
    with pytest.MonkeyPatch.context() as monkeypatch:
        # No ping of a connection idle for long (a slow machine): not the trial's doing.
        monkeypatch.setattr(_engine, "PING_AFTER_IDLE", float("inf"))
        if dialect == "postgresql":
            _count_psycopg(monkeypatch, sent)
        elif dialect == "mysql":
            _count_pymysql(monkeypatch, sent)
        with _count_sqlite(storage._engine, sent) if dialect == "sqlite" else _nothing():
            yield sent


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("dialect", DIALECTS)
def test_round_trips_of_one_trial(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    storage = RDBStorage(database_url(request, dialect, tmp_path))
    try:
        if dialect == "mysql" and not getattr(storage._engine.dialect, "is_mariadb", False):
            pytest.skip("the counts are MariaDB's (compound statements); this server is MySQL")
        counted = {}
        for mode in ("immediate", "at_tell"):
            for reports in (0, 2):
                study = trialstore.create_study(
                    storage=storage,
                    study_name=f"{mode}-{reports}",
                    sampler=trialstore.samplers.RandomSampler(seed=0),
                    param_writes=mode,
                )
                run_trial = objective(reports)
                study.optimize(run_trial, n_trials=3)  # warm-up
                with counting(storage, dialect) as sent:
                    study.optimize(run_trial, n_trials=1)
                counted[(dialect, mode, reports)] = (sent.round_trips, len(sent.statements))
                trial = study.trials[-1]
                assert len(trial.params) == N_PARAMS and trial.value is not None
                assert len(trial.intermediate_values) == reports
                assert counted[(dialect, mode, reports)] == EXPECTED[(dialect, mode, reports)], (
                    mode,
                    reports,
                    sent.statements,
                )
    finally:
        storage.close()
