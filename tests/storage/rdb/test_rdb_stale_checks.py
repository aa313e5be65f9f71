"""RDBStorage.get_stale_trial_ids asks only about the trials that may be RUNNING (above a
floor, or listed: see ``StudyCache.stale_check``) and still finds every stale one: above the
floor, in the list, WAITING when first seen and RUNNING later, written by another process,
and under threads checking while trials are created, beat, go stale and finish.

Heartbeats are made stale by writing an old time into them (no test waits for a clock)."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

from trialstore.conformance._base import make_template
from trialstore.storage.rdb import RDBStorage, _cache
from trialstore.storage.rdb._tables import trial_heartbeats
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

#: No heartbeat written by a test is this old unless the test ages it.
GRACE = 600.0


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return database_url(request, request.param, tmp_path)


@pytest.fixture
def engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def _storage(url: str) -> RDBStorage:
    return RDBStorage(url, heartbeat_interval=GRACE / 2, grace_period=GRACE)


def _age(engine: sa.Engine, *trial_ids: int) -> None:
    """Make the trials' heartbeats older than the grace period."""
    old = datetime.datetime(2000, 1, 1)
    with engine.begin() as connection:
        connection.execute(
            trial_heartbeats.update()
            .where(trial_heartbeats.c.trial_id.in_(trial_ids))
            .values(heartbeat=old)
        )


def _running(storage: RDBStorage, study_id: int) -> int:
    """A new RUNNING trial with a heartbeat."""
    trial_id = storage.create_new_trial(study_id)
    storage.record_heartbeat(trial_id)
    return trial_id


def test_stale_trials_above_the_floor_and_in_the_list(url: str, engine: sa.Engine) -> None:
    storage = _storage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    first = _running(storage, study_id)
    done = _running(storage, study_id)
    storage.set_trial_state_values(done, TrialState.COMPLETE, [1.0])
    never_beat = storage.create_new_trial(study_id)
    assert storage.get_stale_trial_ids(study_id) == []
    assert storage._cache.stale_check(study_id) == (never_beat, [first, never_beat])
    _age(engine, first, done)  # in the list; finished
    assert storage.get_stale_trial_ids(study_id) == [first]
    newer = _running(storage, study_id)  # above the floor
    _age(engine, newer)
    assert storage.get_stale_trial_ids(study_id) == [first, newer]
    storage.set_trial_state_values(first, TrialState.FAIL)
    assert storage.get_stale_trial_ids(study_id) == [newer]
    assert storage._cache.stale_check(study_id) == (newer, [never_beat, newer])
    storage.close()


def test_a_waiting_trial_is_checked_once_it_runs(url: str, engine: sa.Engine) -> None:
    checker, worker = _storage(url), _storage(url)
    study_id = checker.create_new_study([StudyDirection.MINIMIZE], "s")
    waiting = checker.create_new_trial(study_id, make_template(TrialState.WAITING))
    later = _running(checker, study_id)
    checker.set_trial_state_values(later, TrialState.COMPLETE, [1.0])
    assert checker.get_stale_trial_ids(study_id) == []
    assert checker._cache.stale_check(study_id) == (later, [waiting])
    assert worker.set_trial_state_values(waiting, TrialState.RUNNING)
    worker.record_heartbeat(waiting)
    assert checker.get_stale_trial_ids(study_id) == []
    _age(engine, waiting)
    assert checker.get_stale_trial_ids(study_id) == [waiting]
    checker.close()
    worker.close()


def test_stale_trials_of_another_process_after_a_first_read(url: str, engine: sa.Engine) -> None:
    """A first read starts the checks above the study's last trial, listing its unfinished
    ones; trials another process creates, claims and finishes later are seen as they are."""
    writer = _storage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    old_running = _running(writer, study_id)
    old_waiting = writer.create_new_trial(study_id, make_template(TrialState.WAITING))
    last = _running(writer, study_id)
    writer.set_trial_state_values(last, TrialState.COMPLETE, [0.0])
    _age(engine, last)
    checker = _storage(url)
    checker.get_all_trials(study_id, deepcopy=False)
    assert checker._cache.stale_check(study_id) == (last, [old_running, old_waiting])
    _age(engine, old_running)
    assert checker.get_stale_trial_ids(study_id) == [old_running]
    new = [_running(writer, study_id) for _ in range(3)]
    assert writer.set_trial_state_values(old_waiting, TrialState.RUNNING)
    writer.record_heartbeat(old_waiting)
    _age(engine, new[0], new[2], old_waiting)
    writer.set_trial_state_values(new[2], TrialState.PRUNED)
    assert checker.get_stale_trial_ids(study_id) == [old_running, old_waiting, new[0]]
    assert writer.fail_stale_trials(study_id) == [old_running, old_waiting, new[0]]
    assert checker.get_stale_trial_ids(study_id) == []
    assert checker._cache.stale_check(study_id) == (new[2], [new[1]])
    writer.close()
    checker.close()


def test_many_unfinished_trials_are_checked_by_range(
    url: str, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``MAX_IN_LIST`` unfinished trials, the check starts below the lowest of them."""
    monkeypatch.setattr(_cache, "MAX_IN_LIST", 2)
    storage = _storage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    done = _running(storage, study_id)
    storage.set_trial_state_values(done, TrialState.COMPLETE, [1.0])
    running = [_running(storage, study_id) for _ in range(3)]
    assert storage.get_stale_trial_ids(study_id) == []
    assert storage._cache.stale_check(study_id) == (running[0] - 1, [])
    _age(engine, *running[1:])
    assert storage.get_stale_trial_ids(study_id) == running[1:]
    storage.close()


def test_a_missing_study_raises_and_is_forgotten(url: str) -> None:
    storage = _storage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    _running(storage, study_id)
    assert storage.get_stale_trial_ids(study_id) == []
    other = _storage(url)
    other.delete_study(study_id)
    other.close()
    with pytest.raises(KeyError):
        storage.get_stale_trial_ids(study_id)
    assert storage._cache.stale_check(study_id) == (-1, [])
    with pytest.raises(KeyError):
        storage.get_stale_trial_ids(study_id + 1000)
    storage.close()


def _run_threads(targets: list[Callable[[], None]]) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)


def _next_trial(worker: RDBStorage, checker: RDBStorage, study_id: int, i: int) -> int:
    """A new RUNNING trial with a heartbeat; every fourth one enqueued first, then checked
    by ``checker`` (maybe seen WAITING), then claimed."""
    if i % 4:
        return _running(worker, study_id)
    trial_id = worker.create_new_trial(study_id, make_template(TrialState.WAITING))
    checker.get_stale_trial_ids(study_id)
    assert worker.set_trial_state_values(trial_id, TrialState.RUNNING)
    worker.record_heartbeat(trial_id)
    return trial_id


def test_threads_checking_while_trials_run_and_go_stale(url: str, engine: sa.Engine) -> None:
    """Checker threads share one storage while a worker (another storage) creates trials,
    claims enqueued ones, ages some heartbeats and finishes others: each check lists every
    trial aged before it began (all stay RUNNING), and only RUNNING trials being aged."""
    checker, worker = _storage(url), _storage(url)
    study_id = worker.create_new_study([StudyDirection.MINIMIZE], "s")
    lock = threading.Lock()
    aging: set[int] = set()  # RUNNING, about to be aged or aged
    aged: set[int] = set()  # RUNNING and aged
    finished: set[int] = set()
    done = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(24):
                trial_id = _next_trial(worker, checker, study_id, i)
                if i % 3 == 0:
                    worker.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
                    _age(engine, trial_id)
                    with lock:
                        finished.add(trial_id)
                elif i % 3 == 1:
                    with lock:
                        aging.add(trial_id)
                    _age(engine, trial_id)
                    with lock:
                        aged.add(trial_id)
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    def check() -> None:
        try:
            while not done.is_set():
                with lock:
                    expected = set(aged)
                found = set(checker.get_stale_trial_ids(study_id))
                with lock:
                    assert expected <= found <= aging, (expected, found, aging)
                    assert not found & finished
        except BaseException as e:
            errors.append(e)

    _run_threads([check, check, check, work])
    assert not errors, errors
    assert checker.get_stale_trial_ids(study_id) == sorted(aged)
    assert len(aged) == 8
    checker.close()
    worker.close()
