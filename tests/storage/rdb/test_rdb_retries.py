"""RDBStorage: writes retried after a lost reply or a concurrent change, and
one-statement writes that stay safe to repeat."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

from trialstore.conformance._base import make_template
from trialstore.distributions import (
    FloatDistribution,
)
from trialstore.exceptions import (
    UpdateFinishedTrialError,
)
from trialstore.storage.rdb import RDBStorage, _fast_paths
from trialstore.storage.rdb._dml import MAX_PARAMS_PER_STATEMENT
from trialstore.storage.rdb._trial_writes import TrialWrites
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

SECRET = "s3cr3t-pw"

optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- behaviour ---------------------------------------------------------------------------------


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, request.param, tmp_path)


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_first_write_of_a_name_sees_a_finish_committed_meanwhile(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A parameter name new to this object is written in a transaction that first reads the
    study's earlier distribution of it. A finish committed by another process after that read
    must still make the write fail. (Found by the stress suite on MariaDB: the state check
    after the write found nothing to update used a plain read, which sees the transaction's
    snapshot, so the write was reported done and was lost.) SQLite is left out: its write
    transactions are serialized, so the finish cannot commit in between."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "snapshot")
    trial_id = storage.create_new_trial(study_id)
    real = TrialWrites.known_distribution

    def finish_meanwhile(self: TrialWrites, connection: sa.Connection, sid: int, name: str) -> Any:
        found = real(self, connection, sid, name)
        other.set_trial_state_values(trial_id, TrialState.FAIL)
        return found

    monkeypatch.setattr(TrialWrites, "known_distribution", finish_meanwhile)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    monkeypatch.undo()
    assert other.get_trial(trial_id).params == {}
    assert other.get_trial(trial_id).state == TrialState.FAIL
    storage.close()
    other.close()


def _transient_error(dialect: str) -> Exception:
    """A driver error that the storage retries (a conflict), raised by hand."""
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.OperationalError("database is locked")
    if dialect == "postgresql":
        import psycopg

        return psycopg.errors.SerializationFailure("could not serialize access")
    import pymysql

    deadlock: Exception = pymysql.err.OperationalError(
        1213, "Deadlock found when trying to get lock"
    )
    return deadlock


@pytest.mark.parametrize(
    ("dialect", "target"),
    [
        ("sqlite", TrialState.RUNNING),
        ("postgresql", TrialState.RUNNING),
        ("postgresql", TrialState.PRUNED),  # PostgreSQL finishes in one autocommit statement
        ("mysql", TrialState.RUNNING),
        ("mysql", TrialState.PRUNED),  # and MariaDB in one compound statement
    ],
)
def test_retry_after_a_lost_reply_tells_whose_claim_or_finish_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, target: TrialState
) -> None:
    """A claim or finish is retried after a transient error; the retry finds the trial no
    longer claimable or finishable and must tell whether the first attempt did that.

    Claim: the first attempt took the trial, its reply was lost, and another process failed
    the trial in between: the claim succeeded (found by the stress suite: a claim cut off by
    a MariaDB SIGKILL raised UpdateFinishedTrialError although it took the trial). Finish:
    the first attempt never ran and another process finished the trial in the same state:
    the finish was not ours and must raise, not report success."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "retry")
    claim = target == TrialState.RUNNING
    trial_id = storage.create_new_trial(
        study_id, make_template(TrialState.WAITING if claim else TrialState.RUNNING)
    )
    column = "datetime_start" if claim else "datetime_complete"
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and "UPDATE trials" in statement and column in statement:
            interfered.append(statement)
            other.set_trial_state_values(trial_id, TrialState.FAIL if claim else target)
            raise _transient_error(dialect)

    event = "after_cursor_execute" if claim else "before_cursor_execute"
    sa.event.listen(storage._engine, event, interfere)
    if claim:
        assert storage.set_trial_state_values(trial_id, target) is True
        assert storage.get_trial(trial_id).state == TrialState.FAIL
    else:
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_state_values(trial_id, target)
    assert interfered
    storage.close()
    other.close()


def _check_a_retried_params_and_finish(
    storage: RDBStorage, other: RDBStorage, trial_id: int, first_attempt_ran: bool
) -> None:
    """Finish ``trial_id`` with a batch through ``storage``, whose first attempt is
    interfered with: if that attempt ran, the retry returns True and the batch is stored;
    else ``other`` finished the trial first (value 2.0), and the call raises
    UpdateFinishedTrialError with nothing of the batch stored. Closes both storages."""
    batch = {"x": (0.25, FloatDistribution(0, 1))}
    if first_attempt_ran:
        assert storage.set_trial_params_and_state_values(
            trial_id, batch, TrialState.COMPLETE, [2.0]
        )
        assert other.get_trial(trial_id).params == {"x": 0.25}
    else:
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_params_and_state_values(trial_id, batch, TrialState.COMPLETE, [2.0])
        assert other.get_trial(trial_id).params == {}
    assert other.get_trial(trial_id).values == [2.0]
    storage.close()
    other.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
@pytest.mark.parametrize("first_attempt_ran", [True, False])
def test_params_and_finish_is_one_statement_and_retried_safely(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, first_attempt_ran: bool
) -> None:
    """set_trial_params_and_state_values on PostgreSQL and MariaDB, with names the object
    knows: one statement (MariaDB: a compound one). Retried after a transient error, it finds
    the trial finished and must tell whether its first attempt did it (True) or another
    process did (UpdateFinishedTrialError, nothing of the batch stored)."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    storage.get_all_studies()  # connected: the engine knows MariaDB from MySQL
    if dialect == "mysql" and not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("MySQL finishes in a transaction (see the test below)")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "combined")
    dist = FloatDistribution(0, 1)
    storage.set_trial_params(storage.create_new_trial(study_id), {"x": (0.5, dist)})
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    warm = storage.create_new_trial(study_id)
    statements.clear()
    assert storage.set_trial_params_and_state_values(
        warm, {"x": (0.75, dist)}, TrialState.COMPLETE, [3.0]
    )
    assert len(statements) == 1
    assert (other.get_trial(warm).params, other.get_trial(warm).values) == ({"x": 0.75}, [3.0])

    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and "trial_params" in statement and "UPDATE trials" in statement:
            interfered.append(statement)
            if not first_attempt_ran:
                other.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
            raise _transient_error(dialect)

    event = "after_cursor_execute" if first_attempt_ran else "before_cursor_execute"
    sa.event.listen(storage._engine, event, interfere)
    _check_a_retried_params_and_finish(storage, other, trial_id, first_attempt_ran)
    assert interfered


def _lost_connection(dialect: str) -> Exception:
    """A driver error that SQLAlchemy takes for a lost connection, raised by hand."""
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.ProgrammingError("Cannot operate on a closed database.")
    import pymysql

    lost: Exception = pymysql.err.OperationalError(2013, "Lost connection to server during query")
    return lost


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
@pytest.mark.parametrize("first_attempt_ran", [True, False])
def test_params_and_finish_is_one_transaction_and_retried_safely(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dialect: str,
    first_attempt_ran: bool,
) -> None:
    """set_trial_params_and_state_values on MySQL (not MariaDB through PyMySQL) and SQLite,
    with names the object knows: one transaction, one commit. Retried after its commit's
    reply was lost, it finds the trial finished by itself (True, the batch stored); retried
    after a conflict, with another process's finish in between, it raises
    UpdateFinishedTrialError and stores nothing of the batch (the retry tells the two apart
    by the finish's timestamp)."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    storage.get_all_studies()  # connected: the engine knows MariaDB from MySQL
    if _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("MariaDB finishes in one statement (see the test above)")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "combined")
    dist = FloatDistribution(0, 1)
    storage.set_trial_params(storage.create_new_trial(study_id), {"x": (0.5, dist)})
    warm = storage.create_new_trial(study_id)
    statements: list[str] = []
    commits: list[object] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    sa.event.listen(storage._engine, "commit", commits.append)
    assert storage.set_trial_params_and_state_values(
        warm, {"x": (0.75, dist)}, TrialState.COMPLETE, [3.0]
    )
    writes = [" ".join(s.split()[:3]) for s in statements if s.startswith(("INSERT", "UPDATE"))]
    assert writes == ["INSERT INTO trial_params", "UPDATE trials SET", "INSERT INTO trial_values"]
    assert len(commits) == 1
    assert (other.get_trial(warm).params, other.get_trial(warm).values) == ({"x": 0.75}, [3.0])

    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []
    if first_attempt_ran:
        commit = storage._engine.dialect.do_commit

        def commit_then_lose_the_reply(dbapi_connection: Any) -> None:
            commit(dbapi_connection)
            if not interfered:
                interfered.append("commit")
                raise _lost_connection(dialect)

        monkeypatch.setattr(storage._engine.dialect, "do_commit", commit_then_lose_the_reply)
    else:

        def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # before the transaction begins (SQLite's BEGIN IMMEDIATE would block `other`)
            if not interfered and statement.startswith(("BEGIN", "START TRANSACTION")):
                interfered.append(statement)
                other.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
                raise _transient_error(dialect)

        sa.event.listen(storage._engine, "before_cursor_execute", interfere)
    _check_a_retried_params_and_finish(storage, other, trial_id, first_attempt_ran)
    assert interfered


def test_a_param_batch_is_one_statement_once_its_names_are_known(url: str) -> None:
    """set_trial_params: names new to the process are checked in a transaction that locks the
    study (as set_trial_param does); after that a batch is one autocommit statement, and a
    batch larger than one statement carries is split inside one transaction."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "batch")
    dist = FloatDistribution(0, 1)
    batch = {f"x{i}": (i / 10, dist) for i in range(5)}
    storage.set_trial_params(storage.create_new_trial(study_id), batch)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    trial_id = storage.create_new_trial(study_id)
    statements.clear()
    storage.set_trial_params(trial_id, batch)
    assert len(statements) == 1 and statements[0].lstrip().startswith("INSERT INTO trial_params")
    big = {f"y{i}": (0.5, dist) for i in range(MAX_PARAMS_PER_STATEMENT + 5)}
    storage.set_trial_params(trial_id, big)  # new names: checked under the study lock
    statements.clear()
    storage.set_trial_params(storage.create_new_trial(study_id), big)
    inserts = [s for s in statements if "trial_params" in s]
    begun = any(s.strip().upper().startswith(("BEGIN", "START TRANSACTION")) for s in statements)
    if storage._dialect == "postgresql":
        assert len(inserts) == 1  # one statement whatever the size (arrays)
    else:
        assert len(inserts) == 2 and begun
    trial = RDBStorage(url).get_trial(trial_id)
    assert list(trial.params) == [*batch, *big]
    storage.close()


# -- a write stored by an attempt whose reply was lost -----------------------------------------


_LOST_REPLY_WRITES: dict[str, tuple[str, Callable[[RDBStorage, int], None]]] = {
    "intermediate": (
        "trial_intermediate_values",
        lambda s, t: s.set_trial_intermediate_value(t, 3, math.nan),
    ),
    "user_attr": ("trial_user_attributes", lambda s, t: s.set_trial_user_attr(t, "k", (1, "a"))),
    "system_attr": ("trial_system_attributes", lambda s, t: s.set_trial_system_attr(t, "k", 2.5)),
    "param": (
        "trial_params",
        lambda s, t: s.set_trial_param(t, "x", 0.25, FloatDistribution(0, 1)),
    ),
    "params": (
        "trial_params",
        lambda s, t: s.set_trial_params(t, {"x": (0.25, FloatDistribution(0, 1))}),
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", list(_LOST_REPLY_WRITES))
@pytest.mark.parametrize("stored", [True, False])
def test_write_stored_before_a_lost_reply_and_a_finish_succeeds(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, kind: str, stored: bool
) -> None:
    """A trial write is stored, its reply is lost (a server restart), another process
    finishes the trial, and the retry finds it finished: the write succeeded and must not
    raise UpdateFinishedTrialError, which promises nothing was written (found by the MariaDB
    full tier: an intermediate value reported failed was in the trial). A write whose
    first attempt did not take effect still raises."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "lost reply")
    dist = FloatDistribution(0, 1)
    storage.set_trial_param(storage.create_new_trial(study_id), "x", 0.5, dist)  # name known
    table, write = _LOST_REPLY_WRITES[kind]
    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and statement.lstrip().startswith("INSERT") and table in statement:
            interfered.append(statement)
            other.set_trial_state_values(trial_id, TrialState.FAIL)
            raise _transient_error(dialect)

    # after the statement ran: its effect stays (autocommit); before: it never ran
    sa.event.listen(
        storage._engine, "after_cursor_execute" if stored else "before_cursor_execute", interfere
    )
    if stored:
        write(storage, trial_id)
    else:
        with pytest.raises(UpdateFinishedTrialError):
            write(storage, trial_id)
    assert interfered
    trial = other.get_trial(trial_id)
    assert trial.state == TrialState.FAIL
    held = {
        "intermediate": 3 in trial.intermediate_values,
        "user_attr": trial.user_attrs.get("k") == [1, "a"],
        "system_attr": trial.system_attrs.get("k") == 2.5,
        "param": trial.params.get("x") == 0.25,
        "params": trial.params.get("x") == 0.25,
    }[kind]
    assert held is stored
    storage.close()
    other.close()
