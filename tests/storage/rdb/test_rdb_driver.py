"""RDBStorage on PostgreSQL (psycopg) and MariaDB (PyMySQL): single-statement writes go
straight to the driver (rdb/_driver.py), and keep the rules of the SQLAlchemy path: a
statement whose reply was lost is retried and told apart from another process's write, an
interrupted one never leaves its connection in the pool, and listeners of SQLAlchemy's
cursor events still see every statement.

(The other retry tests inject their failures through those cursor events, so they run the
same writes through SQLAlchemy's execution; these inject them into the driver.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _rdb_helpers import database_url

from trialstore.distributions import FloatDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.rdb import RDBStorage
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

SERVERS = ["postgresql", "mysql"]
DIST = FloatDistribution(0, 1)
UPSERT_PARAM = "INSERT INTO trial_params"


def _patch_send(
    monkeypatch: pytest.MonkeyPatch,
    dialect: str,
    send: Callable[[Callable[[], Any], str, Any], Any],
) -> None:
    """Route every statement the driver sends through ``send(run, text, handle)``, where
    ``run()`` sends it for real; ``handle``: the psycopg connection (whose statements and
    query strings go through rdb/_pq.py, without a cursor) or the PyMySQL cursor."""
    if dialect == "postgresql":
        from trialstore.storage.rdb import _pq

        execute, query = _pq.execute, _pq.query

        def pq_execute(connection: Any, info: Any, statement: str, params: Any) -> Any:
            run = lambda: execute(connection, info, statement, params)  # noqa: E731
            return send(run, statement, connection)

        def pq_query(connection: Any, info: Any, sql: str) -> Any:
            return send(lambda: query(connection, info, sql), sql, connection)

        monkeypatch.setattr(_pq, "execute", pq_execute)
        monkeypatch.setattr(_pq, "query", pq_query)
        return
    import pymysql

    cursor_execute = pymysql.cursors.Cursor.execute

    def pymysql_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        return send(lambda: cursor_execute(self, query, *args, **kwargs), str(query), self)

    monkeypatch.setattr(pymysql.cursors.Cursor, "execute", pymysql_execute)


def _lose_the_connection(dialect: str, handle: Any) -> Exception:
    """Close the connection under ``handle`` (see :func:`_patch_send`) and return the error
    a driver raises then."""
    if dialect == "postgresql":
        import psycopg

        handle.close()
        return psycopg.OperationalError("server closed the connection unexpectedly")
    import pymysql

    handle.connection._force_close()
    lost: Exception = pymysql.err.OperationalError(2013, "Lost connection to server during query")
    return lost


@pytest.fixture(params=SERVERS)
def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[RDBStorage, RDBStorage]]:
    """Two storages on one fresh server database (MariaDB for "mysql")."""
    url = database_url(request, request.param, tmp_path)
    storage, other = RDBStorage(url), RDBStorage(url)
    storage.create_new_study([StudyDirection.MINIMIZE], "warm")  # connected: MariaDB known
    if request.param == "mysql" and not storage._engine.dialect.is_mariadb:  # type: ignore[attr-defined]
        pytest.skip("the MySQL test server is not MariaDB")
    yield storage, other
    storage.close()
    other.close()


def _dialect(storage: RDBStorage) -> str:
    return "postgresql" if storage._engine.dialect.name == "postgresql" else "mysql"


def _interfere(
    monkeypatch: pytest.MonkeyPatch,
    dialect: str,
    match: Callable[[str], bool],
    meanwhile: Callable[[], object],
    *,
    ran: bool,
) -> list[str]:
    """On the first statement that ``match``es, run ``meanwhile`` (another process's
    write) and lose the connection, after the statement ran (``ran``) or before it was
    sent. Returns the list of the statements interfered with."""
    interfered: list[str] = []

    def lossy(run: Callable[[], Any], text: str, handle: Any) -> Any:
        if interfered or not match(text):
            return run()
        interfered.append(text)
        if ran:  # all of it, to the end of a compound statement
            run()
            while dialect == "mysql" and handle.nextset():
                pass
        meanwhile()
        raise _lose_the_connection(dialect, handle)

    _patch_send(monkeypatch, dialect, lossy)
    return interfered


def test_writes_skip_sqlalchemys_execution(
    pair: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Creating a trial sends its statements on the DBAPI connection of a SQLAlchemy
    connection; the other writes of a trial take a DBAPI connection from the pool."""
    storage, other = pair
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "direct")
    trial_id = storage.create_trial_or_list_waiting(study_id)
    assert isinstance(trial_id, int)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)  # the name: known from now on

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sent through SQLAlchemy's execution")

    with monkeypatch.context() as patch:
        patch.setattr(sa.Connection, "execute", refuse)
        patch.setattr(sa.Connection, "exec_driver_sql", refuse)
        created = storage.create_trial_or_list_waiting(study_id)
        assert isinstance(created, int)
        # the writes of one statement: not even a SQLAlchemy connection
        patch.setattr(sa.Engine, "connect", refuse)
        for trial in (trial_id, created):
            storage.set_trial_param(trial, "x", 0.25, DIST)
            storage.set_trial_intermediate_value(trial, 1, 0.5)
            storage.set_trial_user_attr(trial, "k", [1])
            storage.set_trial_system_attr(trial, "k", 2)
        storage.set_trial_params(created, {"x": (0.75, DIST)})
        assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
        assert storage.set_trial_params_and_state_values(
            created, {"x": (0.125, DIST)}, TrialState.PRUNED, [2.0]
        )
    first, second = other.get_trial(trial_id), other.get_trial(created)
    assert (first.params, first.values, first.state) == ({"x": 0.25}, [1.0], TrialState.COMPLETE)
    assert (second.params, second.values, second.state) == ({"x": 0.125}, [2.0], TrialState.PRUNED)
    for stored in (first, second):
        assert stored.intermediate_values == {1: 0.5}
        assert (stored.user_attrs, stored.system_attrs) == ({"k": [1]}, {"k": 2})


def test_cursor_listeners_see_every_statement(pair: tuple[RDBStorage, RDBStorage]) -> None:
    storage, _ = pair
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "seen")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)
    seen: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    storage.set_trial_param(trial_id, "x", 0.25, DIST)
    storage.set_trial_intermediate_value(trial_id, 0, 1.0)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert len(seen) == 3
    assert seen[0].startswith("INSERT INTO trial_params")
    assert seen[1].startswith("INSERT INTO trial_intermediate_values")
    assert "UPDATE trials" in seen[2]  # the finish: one statement


@pytest.mark.parametrize("ran", [True, False])
def test_a_write_whose_reply_was_lost_is_told_apart(
    pair: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch, ran: bool
) -> None:
    """A parameter's upsert loses its connection, and another process fails the trial
    meanwhile: if the upsert ran, the retry finds it in the failed trial and succeeds; if
    not, the write raises UpdateFinishedTrialError and nothing is stored. The lost
    connection is dropped, never reused."""
    storage, other = pair
    dialect = _dialect(storage)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "lost reply")
    storage.set_trial_param(storage.create_new_trial(study_id), "x", 0.5, DIST)
    trial_id = storage.create_new_trial(study_id)
    invalidated: list[object] = []
    sa.event.listen(storage._engine, "invalidate", lambda *a: invalidated.append(a))
    with monkeypatch.context() as patch:
        interfered = _interfere(
            patch,
            dialect,
            lambda text: text.startswith("INSERT INTO trial_params"),
            lambda: other.set_trial_state_values(trial_id, TrialState.FAIL),
            ran=ran,
        )
        if ran:
            storage.set_trial_param(trial_id, "x", 0.25, DIST)
        else:
            with pytest.raises(UpdateFinishedTrialError):
                storage.set_trial_param(trial_id, "x", 0.25, DIST)
    assert interfered and invalidated
    trial = other.get_trial(trial_id)
    assert trial.state == TrialState.FAIL
    assert trial.params == ({"x": 0.25} if ran else {})


@pytest.mark.parametrize("ran", [True, False])
@pytest.mark.parametrize("with_params", [False, True])
def test_a_finish_whose_reply_was_lost_is_told_apart(
    pair: tuple[RDBStorage, RDBStorage],
    monkeypatch: pytest.MonkeyPatch,
    ran: bool,
    with_params: bool,
) -> None:
    """A finish (one statement; with a parameter batch or without) loses its connection:
    if it ran, the retry finds the trial finished by it (its own timestamp) and returns
    True; if not, and another process finished the trial meanwhile, it raises
    UpdateFinishedTrialError with nothing of it stored."""
    storage, other = pair
    dialect = _dialect(storage)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "lost finish")
    storage.set_trial_param(storage.create_new_trial(study_id), "x", 0.5, DIST)
    trial_id = storage.create_new_trial(study_id)

    def finish() -> bool:
        if with_params:
            batch = {"x": (0.25, DIST)}
            return storage.set_trial_params_and_state_values(
                trial_id, batch, TrialState.COMPLETE, [1.0]
            )
        return storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])

    def meanwhile() -> None:
        if not ran:
            other.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])

    with monkeypatch.context() as patch:
        interfered = _interfere(
            patch, dialect, lambda text: "UPDATE trials" in text, meanwhile, ran=ran
        )
        if ran:
            assert finish() is True
        else:
            with pytest.raises(UpdateFinishedTrialError):
                finish()
    assert interfered
    trial = other.get_trial(trial_id)
    assert trial.values == ([1.0] if ran else [2.0])
    assert trial.params == ({"x": 0.25} if ran and with_params else {})


@pytest.mark.parametrize("ran", [True, False])
@pytest.mark.parametrize("method", ["create_new_trial", "create_trial_or_list_waiting"])
def test_a_create_whose_reply_was_lost_makes_one_trial(
    pair: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch, ran: bool, method: str
) -> None:
    """A create (one round trip that commits: PostgreSQL's query string, MariaDB's compound
    statement) loses its connection while another process creates a trial: if it had
    committed, the retry finds its token and returns that trial (numbered before the
    other's); if not, the retry creates it (after the other's). Never a second trial, and
    the call does not fail; the lost connection is dropped."""
    storage, other = pair
    dialect = _dialect(storage)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "lost create")
    storage.create_new_trial(study_id)  # the study's directions known, the pool warm
    made: list[int] = []
    invalidated: list[object] = []
    sa.event.listen(storage._engine, "invalidate", lambda *a: invalidated.append(a))
    with monkeypatch.context() as patch:
        interfered = _interfere(
            patch,
            dialect,
            lambda text: text.startswith("BEGIN"),
            lambda: made.append(other.create_new_trial(study_id)),
            ran=ran,
        )
        created = getattr(storage, method)(study_id)
    assert interfered and invalidated and isinstance(created, int)
    trials = other.get_all_trials(study_id, deepcopy=False)
    mine, theirs = (1, 2) if ran else (2, 1)
    assert [t.number for t in trials] == [0, 1, 2]
    assert trials[mine]._trial_id == created and trials[theirs]._trial_id == made[0]
    assert trials[mine].state == TrialState.RUNNING


def test_an_interrupted_statement_drops_its_connection(
    pair: tuple[RDBStorage, RDBStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt (KeyboardInterrupt) in the middle of a statement leaves its connection
    in an unknown state of the protocol: it is closed, not returned to the pool, and the
    next write works."""
    storage, other = pair
    dialect = _dialect(storage)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "interrupt")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)
    invalidated: list[object] = []
    sa.event.listen(storage._engine, "invalidate", lambda *a: invalidated.append(a))

    def interrupted(run: Callable[[], Any], text: str, handle: Any) -> Any:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        _patch_send(patch, dialect, interrupted)
        with pytest.raises(KeyboardInterrupt):
            storage.set_trial_param(trial_id, "x", 0.25, DIST)
    assert len(invalidated) == 1
    storage.set_trial_param(trial_id, "x", 0.75, DIST)
    assert other.get_trial(trial_id).params == {"x": 0.75}


@pytest.mark.parametrize("size", [3, 150])
def test_a_batch_finish_keeps_the_parameters_order(
    pair: tuple[RDBStorage, RDBStorage], size: int
) -> None:
    """A finish with a batch of parameters, one statement: small batches bound as scalars,
    large ones as arrays (PostgreSQL) or in several INSERTs (MariaDB); the trial holds the
    parameters in the batch's order either way."""
    storage, other = pair
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "batch finish")
    names = [f"p{(i * 7) % size:03d}" for i in range(size)]  # not in sorted order
    batch = {name: (i / size, DIST) for i, name in enumerate(names)}
    storage.set_trial_params(storage.create_new_trial(study_id), batch)  # the names: known
    trial_id = storage.create_new_trial(study_id)
    assert storage.set_trial_params_and_state_values(trial_id, batch, TrialState.COMPLETE, [1.0])
    trial = other.get_trial(trial_id)
    assert list(trial.params) == names
    assert trial.params == {name: value for name, (value, _) in batch.items()}


@pytest.mark.parametrize("dialect", SERVERS)
def test_a_driver_error_is_wrapped_as_sqlalchemy_wraps_it(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dialect: str
) -> None:
    """A database error that is not transient reaches the caller as SQLAlchemy's wrapper of
    the driver's error, with the parameters hidden when the engine hides them."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url, engine_kwargs={"hide_parameters": True})
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "wrapped")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)
    if dialect == "postgresql":
        import psycopg

        refused: Exception = psycopg.errors.InsufficientPrivilege("permission denied")
    else:
        import pymysql

        refused = pymysql.err.OperationalError(1142, "INSERT command denied")

    def refuse(run: Callable[[], Any], text: str, handle: Any) -> Any:
        raise refused

    with monkeypatch.context() as patch:
        _patch_send(patch, dialect, refuse)
        with pytest.raises(sa.exc.DBAPIError) as raised:
            storage.set_trial_param(trial_id, "x", 0.123456789, DIST)
    assert raised.value.orig is refused
    assert not raised.value.connection_invalidated
    assert "0.123456789" not in str(raised.value)
    assert "hidden" in str(raised.value)
    storage.set_trial_param(trial_id, "x", 0.25, DIST)  # the connection went back usable
    assert storage.get_trial(trial_id).params == {"x": 0.25}
    storage.close()


def _prepared_statements(storage: RDBStorage) -> list[str]:
    """The statements prepared on the session of the storage's pooled connection (there is
    one: the storage was used from this thread only)."""
    pool: Any = storage._engine.pool
    assert pool.checkedin() == 1
    fairy = storage._engine.raw_connection()
    try:
        raw: Any = fairy.driver_connection
        cursor = raw.cursor()
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]
    finally:
        fairy.close()


@pytest.mark.parametrize("connect_args", [{}, {"prepare_threshold": None}])
def test_psycopg_prepares_the_writes_of_one_trial_only(
    postgres_url: str, connect_args: dict[str, Any]
) -> None:
    """On psycopg, the single-statement writes to a trial are prepared on the server once
    per connection; reads and creates (range predicates, whose generic plans would scan) are
    never, however often they run. ``prepare_threshold=None`` prepares nothing."""
    storage = RDBStorage(postgres_url, engine_kwargs={"connect_args": connect_args})
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "prepared")
    for i in range(8):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, DIST)
        storage.set_trial_intermediate_value(trial_id, 0, 0.5)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        storage.get_all_trials(study_id)
        storage.get_trial(trial_id)
    prepared = _prepared_statements(storage)
    if connect_args:
        assert prepared == []
    else:
        starts = sorted(" ".join(text.split()[:3]) for text in prepared)
        assert starts == [  # the parameter, the intermediate value and the finish
            "INSERT INTO trial_intermediate_values",
            "INSERT INTO trial_params",
            "WITH finished AS",
        ], prepared
    storage.close()


def test_psycopg_prepares_again_what_was_deallocated(postgres_url: str) -> None:
    """psycopg runs DEALLOCATE ALL on a connection after a ROLLBACK, DROP or ALTER when it
    holds prepared statements of its own (its executemany prepares): the next write finds
    its statement gone, prepares it again and succeeds, and nothing it wrote is lost."""
    storage = RDBStorage(postgres_url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "deallocated")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)
    storage.set_trial_param(trial_id, "x", 0.25, DIST)
    assert any(text.startswith(UPSERT_PARAM) for text in _prepared_statements(storage))
    fairy = storage._engine.raw_connection()
    try:
        raw: Any = fairy.driver_connection
        raw.execute("DEALLOCATE ALL")
    finally:
        fairy.close()
    assert _prepared_statements(storage) == []
    storage.set_trial_param(trial_id, "x", 0.75, DIST)
    assert storage.get_trial(trial_id).params == {"x": 0.75}
    assert any(text.startswith(UPSERT_PARAM) for text in _prepared_statements(storage))
    storage.close()


def test_psycopg_prepares_nothing_inside_a_transaction(postgres_url: str) -> None:
    """A statement sent inside a transaction block is not prepared: a prepared statement
    found gone there would abort the transaction."""
    storage = RDBStorage(postgres_url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "in a transaction")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, DIST)  # a name new to the storage object
    assert _prepared_statements(storage) == []
    storage.set_trial_param(trial_id, "x", 0.25, DIST)  # known now: one statement
    assert len(_prepared_statements(storage)) == 1
    storage.close()
