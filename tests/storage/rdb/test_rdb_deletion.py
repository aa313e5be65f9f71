"""Deleting trials in RDBStorage (trialstore/storage/rdb/_deletions.py, and the reads that
leave deleted trials out) on SQLite, PostgreSQL and MySQL/MariaDB: what the conformance suite
does not see. The table, incremental reads that learn of deletions in their one statement,
numbers after the dialects' fast creates, Optuna on the database afterwards, and databases
without the table."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

from trialstore.exceptions import StorageInternalError, TrialDeletedError
from trialstore.storage.rdb import RDBStorage, _deletions
from trialstore.storage.rdb._tables import DELETED_TRIALS_TABLE, deleted_trials
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

MIN = [StudyDirection.MINIMIZE]


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, request.param, tmp_path)


def _template(state: TrialState, value: float = 0.0) -> FrozenTrial:
    now = datetime.datetime.now()
    finished = state.is_finished()
    return FrozenTrial(
        number=0,
        state=state,
        value=None,
        values=[value] if state == TrialState.COMPLETE else None,
        datetime_start=now,
        datetime_complete=now if finished else None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )


def _complete(storage: RDBStorage, study_id: int, n: int) -> list[int]:
    return [
        storage.create_new_trial(study_id, _template(TrialState.COMPLETE, float(i)))
        for i in range(n)
    ]


def _statements(storage: RDBStorage) -> list[str]:
    """The SQL statements ``storage`` runs from now on."""
    seen: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def _syncs(storage: RDBStorage) -> list[tuple[int, int, int]]:
    """Each sync of ``storage``'s cache from now on: (cursor, trials fetched, deletions)."""
    seen: list[tuple[int, int, int]] = []
    fetch = storage._cache._fetch_and_learn

    def spy(study_id: int, view: Any) -> Any:
        cursor = view.cursor()
        fetched = fetch(study_id, view)
        seen.append((cursor, len(fetched.trials), len(fetched.deleted_numbers)))
        return fetched

    storage._cache._fetch_trials = spy
    return seen


def test_an_incremental_read_learns_of_deletions_in_its_one_statement(url: str) -> None:
    storage, other = RDBStorage(url), RDBStorage(url)
    study_id = storage.create_new_study(MIN, "incremental")
    ids = [*_complete(storage, study_id, 6), storage.create_new_trial(study_id)]
    assert len(other.get_all_trials(study_id)) == 7
    storage.delete_trials(study_id, [ids[2], ids[6]])  # one in the middle, and the highest
    statements, syncs = _statements(other), _syncs(other)
    assert [t.number for t in other.get_all_trials(study_id)] == [0, 1, 3, 4, 5]
    assert len(statements) == 1
    assert syncs == [(ids[6], 0, 2)]
    # the numbers 2 and 6 are no gap: the next read asks only for trials above the highest
    storage.create_new_trial(study_id)
    assert [t.number for t in other.get_all_trials(study_id)] == [0, 1, 3, 4, 5, 7]
    assert syncs[-1] == (ids[6], 1, 0)
    # a finished trial held: one light statement tells whether it is still there
    statements.clear()
    assert other.get_trial(ids[0]).values == [0.0]
    assert len(statements) == 1 and "UNION" not in statements[0].upper()
    storage.close()
    other.close()


def test_a_first_read_after_deletions_reads_no_deleted_trial(url: str) -> None:
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "first")
    ids = _complete(storage, study_id, 5)
    storage.delete_trials(study_id, ids[1:3])
    fresh = RDBStorage(url)
    syncs = _syncs(fresh)
    assert [t.number for t in fresh.get_all_trials(study_id)] == [0, 3, 4]
    assert [t.number for t in fresh.get_all_trials(study_id)] == [0, 3, 4]
    assert syncs == [(-1, 3, 2), (ids[4], 0, 0)]
    storage.close()
    fresh.close()


def test_numbers_count_on_from_the_highest_after_every_way_of_creating(url: str) -> None:
    """Plain creates (PostgreSQL's one-round-trip one), create_trial_or_list_waiting (the
    PostgreSQL and MariaDB one-statement paths), templates (the portable transaction) and
    Optuna's own create all number on after a deleted highest trial."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "numbers")
    creates: list[Callable[[], int | list[int]]] = [
        lambda: storage.create_new_trial(study_id),
        lambda: storage.create_trial_or_list_waiting(study_id),
        lambda: storage.create_new_trial(study_id, _template(TrialState.FAIL)),
    ]
    expected = 0
    for create in creates:
        trial_id = create()
        assert isinstance(trial_id, int)
        assert storage.get_trial(trial_id).number == expected
        storage.delete_trials(study_id, [trial_id])
        expected += 1
    optuna_storage = optuna.storages.RDBStorage(url)
    theirs = optuna.load_study(study_name="numbers", storage=optuna_storage)
    assert theirs.ask().number == expected
    optuna_storage.engine.dispose()
    assert storage.get_trial(storage.create_new_trial(study_id)).number == expected + 1
    storage.close()


def test_the_rows_stay_and_unfinished_ones_become_fail(url: str) -> None:
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "rows")
    done = _complete(storage, study_id, 1)[0]
    running = storage.create_new_trial(study_id)
    waiting = storage.create_new_trial(study_id, _template(TrialState.WAITING))
    storage.delete_trials(study_id, [waiting, done, running])
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT trial_id, number, state, datetime_complete FROM trials "
                    "WHERE study_id = :s ORDER BY number"
                ),
                {"s": study_id},
            ).all()
            deletions = connection.execute(
                sa.select(deleted_trials.c.trial_id, deleted_trials.c.number)
                .where(deleted_trials.c.study_id == study_id)
                .order_by(deleted_trials.c.deletion_id)
            ).all()
    finally:
        engine.dispose()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (done, 0, "COMPLETE"),
        (running, 1, "FAIL"),
        (waiting, 2, "FAIL"),
    ]
    assert all(r[3] is not None for r in rows)
    assert [tuple(d) for d in deletions] == [(waiting, 2), (done, 0), (running, 1)]
    storage.close()


def test_optuna_opens_and_writes_the_database_after_deletions(url: str) -> None:
    """Optuna 5.0 still shows the deleted trials (unfinished ones as FAIL), numbers its new
    trials after every one, and deletes the study: the table's rows go with the trials'
    (foreign keys that cascade; on SQLite, whose connections enforce no foreign keys unless
    asked, a trigger)."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "optuna")
    ids = [
        *_complete(storage, study_id, 3),
        storage.create_new_trial(study_id),
        storage.create_new_trial(study_id, _template(TrialState.WAITING)),
    ]
    storage.delete_trials(study_id, [ids[1], ids[3], ids[4]])
    optuna_storage = optuna.storages.RDBStorage(url)
    theirs = optuna.load_study(study_name="optuna", storage=optuna_storage)
    states = [t.state.name for t in theirs.get_trials(deepcopy=False)]
    assert states == ["COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    theirs.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [t.number for t in storage.get_all_trials(study_id)] == [0, 2, 5, 6]
    with pytest.raises(TrialDeletedError):
        storage.get_trial(ids[1])
    optuna.delete_study(study_name="optuna", storage=optuna_storage)
    optuna_storage.engine.dispose()
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("optuna")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            count = sa.select(sa.func.count()).select_from(deleted_trials)
            assert connection.execute(count).scalar() == 0
    finally:
        engine.dispose()
    storage.close()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_database_without_the_table_reads_and_cannot_delete(url: str) -> None:
    """A database Optuna made, opened with skip_table_creation=True: trialstore reads it as
    before, gets no table, and cannot delete; opened normally, it gets the table."""
    optuna_storage = optuna.storages.RDBStorage(url)
    theirs = optuna.create_study(study_name="made-by-optuna", storage=optuna_storage)
    theirs.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    optuna_storage.engine.dispose()
    assert DELETED_TRIALS_TABLE not in _tables(url)
    reader = RDBStorage(url, skip_table_creation=True)
    study_id = reader.get_study_id_from_name("made-by-optuna")
    trials = reader.get_all_trials(study_id)
    assert [t.number for t in trials] == [0, 1, 2]
    assert reader.get_trial(trials[1]._trial_id).number == 1
    assert reader.get_trial_id_from_study_id_trial_number(study_id, 2) == trials[2]._trial_id
    with pytest.raises(StorageInternalError, match="trialstore storage upgrade"):
        reader.delete_trials(study_id, [trials[0]._trial_id])
    assert DELETED_TRIALS_TABLE not in _tables(url)
    reader.delete_study(reader.create_new_study(MIN, "gone"))
    writer = RDBStorage(url)
    assert DELETED_TRIALS_TABLE in _tables(url)
    writer.delete_trials(study_id, [trials[0]._trial_id])
    assert [t.number for t in writer.get_all_trials(study_id)] == [1, 2]
    after = RDBStorage(url, skip_table_creation=True)
    assert [t.number for t in after.get_all_trials(study_id)] == [1, 2]
    for storage in (reader, writer, after):
        storage.close()


def test_a_repeated_run_after_its_commit_finds_its_trials_deleted(url: str) -> None:
    """A deletion whose COMMIT's reply was lost runs again: finding every trial of its
    batch deleted, it succeeds (the batch is atomic: the first run deleted them all); finding
    only some deleted, it raises (the first run did not commit: others deleted those)."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "again")
    ids = _complete(storage, study_id, 3)
    now = datetime.datetime(2026, 1, 1)
    body = _deletions.delete_trials(storage._sql, study_id, ids[:2], now)
    storage._run(body, mode="write")
    storage._run(body, mode="write")  # the repeated run
    assert [t._trial_id for t in storage.get_all_trials(study_id)] == [ids[2]]
    partly = _deletions.delete_trials(storage._sql, study_id, [ids[1], ids[2]], now)
    with pytest.raises(TrialDeletedError):
        storage._run(partly, mode="write")
    with pytest.raises(TrialDeletedError):
        storage._run(partly, mode="write")  # repeated, but ids[2] is not deleted
    assert [t._trial_id for t in storage.get_all_trials(study_id)] == [ids[2]]
    storage.close()


def test_a_batch_longer_than_one_statement_is_all_or_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_deletions, "IDS_PER_STATEMENT", 2)
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "slices")
    other_study = storage.create_new_study(MIN, "other")
    ids = [*_complete(storage, study_id, 4), storage.create_new_trial(study_id)]
    foreign = storage.create_new_trial(other_study)
    with pytest.raises(KeyError):
        storage.delete_trials(study_id, [*ids, foreign])
    assert len(storage.get_all_trials(study_id)) == 5
    storage.delete_trials(study_id, ids)
    assert storage.get_all_trials(study_id) == []
    assert storage.get_trial(storage.create_new_trial(study_id)).number == 5
    storage.close()


_LOCK_WAITS = {
    "postgresql": "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'",
    "mysql": "SELECT count(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'",
}


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_a_state_check_that_waited_for_a_deletion_finds_it(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A write to a RUNNING trial found nothing to update; the check of why waits for the
    lock of a deletion of the trial in flight: once the deletion commits, the check raises
    TrialDeletedError, not UpdateFinishedTrialError for the FAIL the deletion wrote (on
    PostgreSQL the check's row is newer than the snapshot of its deletion flag)."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    study_id = storage.create_new_study(MIN, "waited")
    trial_id = storage.create_new_trial(study_id)
    raised: list[BaseException] = []

    def check() -> None:
        try:
            storage._run(lambda c: storage._writes.raise_not_updatable(c, trial_id), mode="none")
        except BaseException as e:
            raised.append(e)

    deleter = sa.create_engine(url)
    with deleter.connect() as connection:
        now = datetime.datetime(2026, 1, 1)
        _deletions.delete_trials(storage._sql, study_id, [trial_id], now)(connection)
        checker = threading.Thread(target=check)
        checker.start()
        deadline = time.monotonic() + 30
        with deleter.connect() as probe:
            while not probe.execute(sa.text(_LOCK_WAITS[dialect])).scalar():
                assert time.monotonic() < deadline, "the check never waited for the deletion"
                time.sleep(0.02)
        connection.commit()
    checker.join(timeout=30)
    deleter.dispose()
    assert len(raised) == 1 and isinstance(raised[0], TrialDeletedError), raised
    storage.close()
