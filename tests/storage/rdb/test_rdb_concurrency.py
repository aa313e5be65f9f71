"""RDBStorage under real concurrency: processes numbering trials (also with Optuna writing the
same study), processes opening one new database at once, SQLite writers, lost connections,
threads of one storage on different studies."""

from __future__ import annotations

import contextlib
import multiprocessing
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _rdb_helpers import database_url

from trialstore.conformance._base import make_template
from trialstore.distributions import FloatDistribution
from trialstore.storage.rdb import RDBStorage, _read
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

# fork: the children start at once without re-importing everything (each opens its own
# storage, nothing of the parent is shared).
_MP = multiprocessing.get_context("fork")
_START_TIMEOUT = 120.0


def _trialstore_writer(
    url: str, study_name: str, n_trials: int, or_list_waiting: bool, start: Any, errors: Any
) -> None:
    """Run ``n_trials`` trials, each created by ``create_trial_or_list_waiting`` (as the study
    layer does: its own statement on PostgreSQL and MariaDB) or by ``create_new_trial``."""
    try:
        storage = RDBStorage(url)
        study_id = storage.get_study_id_from_name(study_name)
        dist = FloatDistribution(0.0, 1.0)
        start.wait(_START_TIMEOUT)
        for i in range(n_trials):
            if or_list_waiting:
                trial_id = storage.create_trial_or_list_waiting(study_id)
                assert isinstance(trial_id, int), trial_id  # nothing is ever WAITING here
            else:
                trial_id = storage.create_new_trial(study_id)
            storage.set_trial_param(trial_id, "x", i / n_trials, dist)
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
            storage.get_all_trials(study_id, deepcopy=False)
        storage.close()
    except BaseException as e:  # reported to the parent
        errors.put(repr(e))


def _optuna_writer(url: str, study_name: str, n_trials: int, start: Any, errors: Any) -> None:
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        study = optuna.load_study(study_name=study_name, storage=url)
        start.wait(_START_TIMEOUT)
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=n_trials)
    except BaseException as e:
        errors.put(repr(e))


def _run_processes(targets: list[tuple[Any, tuple[Any, ...]]]) -> list[str]:
    start = _MP.Event()
    errors = _MP.Queue()
    processes = [
        _MP.Process(target=target, args=(*args, start, errors)) for target, args in targets
    ]
    for process in processes:
        process.start()
    time.sleep(2.0)  # let them import and connect, then release them at one instant
    start.set()
    for process in processes:
        process.join(300)
        assert process.exitcode == 0, process.exitcode
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_32_processes_and_optuna_number_one_study_densely(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    import optuna

    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "race")
    n_ours, n_optuna, each = 30, 2, 5
    targets: list[tuple[Any, tuple[Any, ...]]] = [
        (_trialstore_writer, (url, "race", each, i % 2 == 1)) for i in range(n_ours)
    ]
    targets += [(_optuna_writer, (url, "race", each)) for _ in range(n_optuna)]
    assert _run_processes(targets) == []
    total = (n_ours + n_optuna) * each
    trials = storage.get_all_trials(study_id)
    assert [t.number for t in trials] == list(range(total))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # Optuna agrees, trial by trial.
    theirs = optuna.storages.RDBStorage(url)
    assert [(t._trial_id, t.number) for t in theirs.get_all_trials(study_id)] == [
        (t._trial_id, t.number) for t in trials
    ]
    theirs.engine.dispose()
    storage.close()


def _opener(url: str, index: int, start: Any, errors: Any) -> None:
    try:
        start.wait(_START_TIMEOUT)
        storage = RDBStorage(url)
        try:
            study_id = storage.create_new_study([StudyDirection.MINIMIZE], "common")
        except Exception:
            study_id = storage.get_study_id_from_name("common")
        storage.create_new_trial(study_id)
        storage.close()
    except BaseException as e:
        errors.put(f"{index}: {e!r}")


@pytest.mark.parametrize(
    "dialect",
    [
        "sqlite",
        "postgresql",
        "mysql",
    ],
)
def test_16_processes_open_a_new_database_at_once(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    url = database_url(request, dialect, tmp_path)
    assert _run_processes([(_opener, (url, i)) for i in range(16)]) == []
    storage = RDBStorage(url)
    study_id = storage.get_study_id_from_name("common")
    assert [t.number for t in storage.get_all_trials(study_id)] == list(range(16))
    storage.close()


def test_opening_retries_a_locked_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process holding SQLite's lock while the schema is checked or created (seen in
    CI: one of 16 openers got "database is locked") delays the open; it does not fail it."""
    from trialstore.storage.rdb import _schema

    real = _schema.ensure_schema
    calls: list[int] = []

    def locked_twice(engine: sa.Engine, *, create: bool) -> frozenset[str]:
        calls.append(1)
        if len(calls) <= 2:
            raise sa.exc.OperationalError("PRAGMA journal_mode", {}, sqlite3.OperationalError(
                "database is locked"))  # fmt: skip
        return real(engine, create=create)

    monkeypatch.setattr(_schema, "ensure_schema", locked_twice)
    storage = RDBStorage(f"sqlite:///{tmp_path / 'locked.db'}")
    assert len(calls) == 3
    storage.create_new_study([StudyDirection.MINIMIZE], "after-retry")
    storage.close()


def test_opening_does_not_retry_other_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trialstore.exceptions import StorageInternalError
    from trialstore.storage.rdb import _schema

    calls: list[int] = []

    def broken(engine: sa.Engine, *, create: bool) -> frozenset[str]:
        calls.append(1)
        raise sa.exc.OperationalError("SELECT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(_schema, "ensure_schema", broken)
    with pytest.raises(StorageInternalError, match="disk I/O error"):
        RDBStorage(f"sqlite:///{tmp_path / 'broken.db'}")
    assert len(calls) == 1


def test_8_sqlite_processes_never_see_database_is_locked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "race")
    assert (
        _run_processes([(_trialstore_writer, (url, "race", 20, i % 2 == 1)) for i in range(8)])
        == []
    )
    assert [t.number for t in storage.get_all_trials(study_id)] == list(range(160))
    storage.close()


def _kill_connections(url: str) -> int:
    """Drop every server connection to the test database, as a server restart does."""
    parsed = sa.engine.make_url(url)
    admin_url = parsed.set(
        database="postgres" if parsed.get_backend_name() == "postgresql" else ""
    )
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    killed = 0
    with admin.connect() as connection:
        if parsed.get_backend_name() == "postgresql":
            killed = len(
                connection.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :d AND pid <> pg_backend_pid()"
                    ),
                    {"d": parsed.database},
                ).all()
            )
        else:
            ids = connection.execute(
                sa.text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = :d AND id <> CONNECTION_ID()"
                ),
                {"d": parsed.database},
            ).scalars()
            for connection_id in list(ids):
                connection.execute(sa.text(f"KILL {int(connection_id)}"))
                killed += 1
    admin.dispose()
    return killed


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_lost_connections_are_reestablished_and_no_trial_is_lost(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url, engine_kwargs={"pool_size": 4})
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "restart")
    kills = []
    completed = []
    for i in range(30):
        if i % 3 == 0:
            # Every pooled connection dies, as when the server restarts between two calls.
            kills.append(_kill_connections(url))
        trial_id = storage.create_new_trial(study_id)
        if i % 3 == 1:
            kills.append(_kill_connections(url))
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0.0, 1.0))
        storage.set_trial_user_attr(trial_id, "i", i)
        assert storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        completed.append(trial_id)
        assert len(storage.get_all_trials(study_id)) == i + 1
    assert sum(kills) > 0
    fresh = RDBStorage(url)
    trials = fresh.get_all_trials(study_id)
    assert [t._trial_id for t in trials] == completed
    assert all(t.state == TrialState.COMPLETE and t.params == {"x": 0.5} for t in trials)
    fresh.close()
    storage.close()


@contextlib.contextmanager
def _create_waiting_in_the_database(
    url: str, storage: RDBStorage, study_id: int
) -> Iterator[list[int | list[int]]]:
    """Inside the block, a thread's ``create_trial_or_list_waiting(study_id)`` waits in
    PostgreSQL for the study's row, which another connection holds; on leaving, the row is
    let go and the thread ends. Yields the list that gets the create's result."""
    holder = sa.create_engine(url)
    created: list[int | list[int]] = []
    with holder.connect() as connection:
        lock = "SELECT study_id FROM studies WHERE study_id = :s FOR UPDATE"
        connection.execute(sa.text(lock), {"s": study_id})
        waiter = threading.Thread(
            target=lambda: created.append(storage.create_trial_or_list_waiting(study_id))
        )
        waiter.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 30
        with holder.connect() as probe:
            while not probe.execute(sa.text(waiting)).scalar() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert probe.execute(sa.text(waiting)).scalar(), "the create never waited"
        try:
            yield created
        finally:
            connection.rollback()
    waiter.join(timeout=30)
    holder.dispose()


def test_a_study_waiting_in_the_database_does_not_hold_up_other_studies(
    postgres_url: str,
) -> None:
    """A thread whose create waits in the database for a study's lock (another client holds
    it) leaves the storage object free for other studies: its lock is per study across round
    trips. A gRPC proxy serves every client from one storage; with one lock for the object,
    each read or create waited for every other one in flight."""
    storage = RDBStorage(postgres_url)
    blocked = storage.create_new_study([StudyDirection.MINIMIZE], "blocked")
    free = storage.create_new_study([StudyDirection.MINIMIZE], "free")
    storage.create_new_trial(free)
    others_done = threading.Event()

    def other_study() -> None:
        storage.get_all_trials(free)
        storage.create_trial_or_list_waiting(free)
        others_done.set()

    with _create_waiting_in_the_database(postgres_url, storage, blocked) as created:
        threading.Thread(target=other_study, daemon=True).start()
        went_on = others_done.wait(timeout=30)
    assert went_on, "the other study waited for the blocked one"
    assert len(created) == 1 and isinstance(created[0], int)
    assert len(storage.get_all_trials(free)) == 2
    storage.close()


@contextlib.contextmanager
def _study_lock_held_by_a_thread(storage: RDBStorage, study_id: int) -> Iterator[None]:
    """Inside the block, another thread holds ``study_id``'s lock in ``storage``."""
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with storage._cache.study_lock(study_id):
            held.set()
            done.wait(timeout=60)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(timeout=30)
    try:
        yield
    finally:
        done.set()
        holder.join(timeout=30)


def _read_study(storage: RDBStorage, study_id: int, result: Any) -> None:
    result.put(len(storage.get_all_trials(study_id)))


def test_a_child_forked_while_a_thread_holds_a_study_lock_reads_that_study(
    postgres_url: str,
) -> None:
    """A process forked while one of its threads holds a study's lock (as a read does
    across its round trip) gets new locks in the child: the copied one stays held forever
    there, since the thread holding it does not exist in the child."""
    storage = RDBStorage(postgres_url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    storage.create_new_trial(study_id)
    with _study_lock_held_by_a_thread(storage, study_id):
        result = _MP.Queue()
        child = _MP.Process(target=_read_study, args=(storage, study_id, result))
        child.start()
        child.join(timeout=30)
        hung = child.is_alive()
        if hung:
            child.kill()
            child.join()
    assert not hung, "the child waited for its parent's thread"
    assert child.exitcode == 0 and result.get(timeout=5) == 1
    storage.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_threads_creating_while_trials_are_enqueued_never_create_past_a_waiting_one(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    """Threads of one storage call create_trial_or_list_waiting while another client
    enqueues WAITING trials (which nobody claims), each thread until it has had 20
    listings. The threads share what their probes saw (a floor and the ids seen WAITING)
    and take no lock of this process between them, so their notes may come in any order:
    none may let a later create past a WAITING trial. Checked: every created trial is
    older than every enqueued one, and every listing holds the first enqueued trial."""
    url = database_url(request, dialect, tmp_path)
    storage, other = RDBStorage(url), RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    created: list[int] = []
    listings: list[list[int]] = []
    errors: list[BaseException] = []
    go = threading.Barrier(7)

    def creator() -> None:
        try:
            go.wait(timeout=30)
            listed = 0
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = storage.create_trial_or_list_waiting(study_id)
                if isinstance(got, list):
                    listings.append(got)
                    listed += 1
                    if listed == 20:
                        return
                else:
                    created.append(got)
            raise AssertionError("no 20 listings in 60 s: creates went past WAITING trials?")
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=creator) for _ in range(6)]
    for thread in threads:
        thread.start()
    go.wait(timeout=30)
    time.sleep(0.2)  # the creators at full speed
    waiting = [
        other.create_new_trial(study_id, make_template(TrialState.WAITING)) for _ in range(3)
    ]
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(created) > 6 and len(listings) == 6 * 20
    assert max(created) < min(waiting), "a trial was created past a WAITING one"
    assert all(waiting[0] in listing for listing in listings)
    storage.close()
    other.close()


def test_study_locks_are_kept_only_while_in_use(tmp_path: Path) -> None:
    """A proxy's storage is asked about many studies over its life, made-up ids included:
    each study's lock must not outlive its use, while threads in one study still share one."""
    storage = RDBStorage(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    for made_up in range(study_id + 1, study_id + 201):
        with pytest.raises(KeyError):
            storage.get_all_trials(made_up)
    storage.create_new_trial(study_id)
    storage.get_all_trials(study_id)
    assert len(storage._cache._study_locks) == 0

    held = storage._cache.study_lock(study_id)
    assert storage._cache.study_lock(study_id) is held
    del held
    assert len(storage._cache._study_locks) == 0
    storage.close()


def test_threads_reading_one_study_at_once_share_one_read_of_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers that arrive while a read of their study is in flight wait for it, then share
    one new read (one that began after they arrived, so it sees every write completed before
    they asked) instead of each reading the database in turn."""
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    storage, writer = RDBStorage(url), RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    storage.create_new_trial(study_id)
    storage.get_all_trials(study_id)

    reads: list[str] = []
    in_flight, release = threading.Event(), threading.Event()
    real_build = _read.build_trials

    def build_trials(rows: Any) -> Any:
        reads.append(threading.current_thread().name)
        if len(reads) == 1:
            in_flight.set()
            release.wait(30)
        return real_build(rows)

    monkeypatch.setattr(_read, "build_trials", build_trials)
    arrived = threading.Semaphore(0)
    real_count = storage._cache._syncs_begun_of

    def syncs_begun_of(study: int) -> int:
        count = real_count(study)
        arrived.release()
        return count

    monkeypatch.setattr(storage._cache, "_syncs_begun_of", syncs_begun_of)

    first = threading.Thread(target=storage.get_all_trials, args=(study_id,), name="first")
    first.start()
    assert in_flight.wait(30)
    assert arrived.acquire(timeout=30)  # the first reader's own count
    writer.create_new_trial(study_id)  # after the first read began: it may miss this trial
    seen: list[int] = []
    readers = [
        threading.Thread(
            target=lambda: seen.append(len(storage.get_all_trials(study_id))), name=f"r{i}"
        )
        for i in range(8)
    ]
    for reader in readers:
        reader.start()
    for _ in readers:  # every reader has counted the reads begun, and waits for the lock
        assert arrived.acquire(timeout=30)
    release.set()
    for thread in [first, *readers]:
        thread.join(timeout=30)

    assert seen == [2] * 8, "a reader missed a trial created before it asked"
    assert len(reads) == 2, f"database reads: {reads}"
    storage.close()
    writer.close()
