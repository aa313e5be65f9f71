"""Snapshot segments of the RDB storage (trialstore/storage/rdb/_segments.py,
_segment_codec.py) on SQLite, PostgreSQL and MySQL/MariaDB: reads through segments equal reads
of the rows, whatever mix of trials, deletions and concurrent writers made them; studies
deleted by Optuna take their segments along; databases without the table still work; segments
merge; a writer killed midway leaves reads right."""

from __future__ import annotations

import datetime
import math
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url, trial_key

from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.storage.rdb import RDBStorage, _segments
from trialstore.storage.rdb._segment_codec import Meta
from trialstore.storage.rdb._tables import SEGMENTS_TABLE, trial_segments
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

MIN = [StudyDirection.MINIMIZE]
_SPAWN = multiprocessing.get_context("spawn")

#: Each parameter name of the random studies, with its one distribution.
_DISTRIBUTIONS: dict[str, BaseDistribution] = {
    "f": FloatDistribution(-1.0, 1.0),
    "log": FloatDistribution(1e-3, 1.0, log=True),
    "step": FloatDistribution(0.0, 1.0, step=0.25),
    "i": IntDistribution(0, 10),
    "ilog": IntDistribution(1, 64, log=True),
    "c": CategoricalDistribution(["a", None, 1, 2.5, True]),
}


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, request.param, tmp_path)


def _value(rng: random.Random) -> float:
    return rng.choice([rng.uniform(-5, 5), rng.uniform(-5, 5), math.inf, -math.inf, 0.0])


def _start_trial(storage: RDBStorage, study_id: int, rng: random.Random) -> int:
    """A RUNNING (sometimes WAITING) trial with random parameters, intermediate values and
    attributes."""
    if rng.random() < 0.1:
        template = FrozenTrial(
            number=0,
            state=TrialState.WAITING,
            value=None,
            values=None,
            datetime_start=None,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=0,
        )
        return storage.create_new_trial(study_id, template)
    trial_id = storage.create_new_trial(study_id)
    for name in rng.sample(sorted(_DISTRIBUTIONS), rng.randint(0, len(_DISTRIBUTIONS))):
        dist = _DISTRIBUTIONS[name]
        if isinstance(dist, CategoricalDistribution):
            internal = float(rng.randrange(len(dist.choices)))
        elif isinstance(dist, IntDistribution):
            internal = float(rng.randint(dist.low, dist.high))
        elif isinstance(dist, FloatDistribution) and dist.step is None:
            internal = rng.uniform(dist.low, dist.high)
        else:
            internal = rng.choice([0.0, 0.25, 0.5, 1.0])
        storage.set_trial_param(trial_id, name, internal, dist)
    for step in rng.sample(range(10), rng.randint(0, 3)):
        value = rng.choice([rng.random(), math.nan, math.inf, -math.inf])
        storage.set_trial_intermediate_value(trial_id, step, value)
    if rng.random() < 0.3:
        storage.set_trial_user_attr(trial_id, "u", {"k": [1, "x", None], "f": 0.5})
    if rng.random() < 0.2:
        storage.set_trial_system_attr(trial_id, "s", rng.random())
    return trial_id


def _finish(storage: RDBStorage, trial_id: int, n_objectives: int, rng: random.Random) -> None:
    state = rng.choice(
        [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]
    )
    values = [_value(rng) for _ in range(n_objectives)] if state == TrialState.COMPLETE else None
    if storage.get_trial(trial_id).state == TrialState.WAITING:
        storage.set_trial_state_values(trial_id, TrialState.RUNNING)
    storage.set_trial_state_values(trial_id, state, values)


class _Workload:
    """Random trials in several studies, some left unfinished (finished later), some
    deleted, through one storage."""

    def __init__(self, storage: RDBStorage, seed: int) -> None:
        self.storage = storage
        self.rng = random.Random(seed)
        self.studies = {
            storage.create_new_study(MIN, f"single-{seed}"): 1,
            storage.create_new_study(MIN * 2, f"multi-{seed}"): 2,
        }
        self.running: dict[int, list[int]] = {study_id: [] for study_id in self.studies}

    def step(self, n: int) -> None:
        """Start ``n`` trials per study, finish most of them and some left earlier, delete a
        few."""
        rng, storage = self.rng, self.storage
        for study_id, n_objectives in self.studies.items():
            running = self.running[study_id]
            for _ in range(n):
                trial_id = _start_trial(storage, study_id, rng)
                if rng.random() < 0.2:
                    running.append(trial_id)
                else:
                    _finish(storage, trial_id, n_objectives, rng)
            for trial_id in rng.sample(running, len(running) // 2):
                running.remove(trial_id)
                _finish(storage, trial_id, n_objectives, rng)
            live = [t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False)]
            gone = rng.sample(live, min(len(live), rng.randint(0, 2)))
            if gone:
                storage.delete_trials(study_id, gone)
                running[:] = [t for t in running if t not in gone]


def _rows_only(url: str) -> RDBStorage:
    """A storage that reads rows only (as if the database had no segments)."""
    storage = RDBStorage(url, snapshot_threshold=0)
    storage._cache.segments._available = False
    return storage


def _keys(storage: RDBStorage, study_id: int) -> list[Any]:
    return [trial_key(t) for t in storage.get_all_trials(study_id)]


def _assert_reads_agree(url: str, study_ids: list[int], *, through_segments: bool) -> None:
    """A fresh reader through the segments reads what a reader of rows reads (and, if
    ``through_segments``, took trials from segments)."""
    fresh = RDBStorage(url, snapshot_threshold=0)
    rows = _rows_only(url)
    try:
        for study_id in study_ids:
            base = fresh._cache.segments.first_read(study_id)
            assert (base is not None and len(base.trials) > 0) or not through_segments
            assert _keys(fresh, study_id) == _keys(rows, study_id), study_id
            assert fresh.get_n_trials(study_id) == rows.get_n_trials(study_id)
    finally:
        fresh.close()
        rows.close()


def _segment_rows(url: str, study_id: int | None = None) -> list[tuple[int, int, int, int]]:
    """(segment id, first, last, trial count) of the segments (of one study), by first."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            c = trial_segments.c
            query = sa.select(c.segment_id, c.first_trial_id, c.last_trial_id, c.n_trials)
            if study_id is not None:
                query = query.where(c.study_id == study_id)
            rows = connection.execute(query.order_by(c.first_trial_id)).all()
            return [(int(a), int(b), int(c_), int(d)) for a, b, c_, d in rows]
    finally:
        engine.dispose()


# -- reads through segments equal reads of rows ------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_reads_through_segments_equal_reads_of_rows(url: str, seed: int) -> None:
    """Random studies (parameters of every kind, infinite and NaN values, attributes,
    unfinished trials that finish after a segment was written, deleted trials), snapshots
    written between rounds: a fresh reader through the segments reads what a reader of the
    rows reads, and so does a reader that kept reading all along."""
    storage = RDBStorage(url, snapshot_threshold=0)
    work = _Workload(storage, seed)
    along = RDBStorage(url, snapshot_threshold=0)
    study_ids = list(work.studies)
    for round_ in range(4):
        work.step(12)
        written = storage.write_snapshot(study_ids[round_ % 2] if round_ == 1 else None)
        assert written > 0
        _assert_reads_agree(url, study_ids, through_segments=True)
        rows = _rows_only(url)
        for study_id in study_ids:
            assert _keys(along, study_id) == _keys(rows, study_id)
        rows.close()
    work.step(5)  # trials the segments do not hold
    _assert_reads_agree(url, study_ids, through_segments=True)
    for each in (storage, along):
        each.close()


def test_a_trial_unfinished_at_a_snapshot_is_read_by_id_until_a_later_one_holds_it(
    url: str,
) -> None:
    """A trial running when a segment is written is one of its holes: readers fetch it by id
    (RUNNING, then finished); the next segment holds it (an extra), and then no hole is left
    open. A hole that is deleted is settled instead."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "holes")
    first = storage.create_new_trial(study_id)
    doomed = storage.create_new_trial(study_id)
    for _ in range(3):
        storage.set_trial_state_values(
            storage.create_new_trial(study_id), TrialState.COMPLETE, [1.0]
        )
    assert storage.write_snapshot(study_id) == 3
    base = RDBStorage(url)._cache.segments.first_read(study_id)
    assert base is not None and base.holes == [first, doomed]
    assert [t.state for t in RDBStorage(url).get_all_trials(study_id)][:2] == [
        TrialState.RUNNING,
        TrialState.RUNNING,
    ]
    storage.set_trial_state_values(first, TrialState.COMPLETE, [0.5])
    storage.delete_trials(study_id, [doomed])
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.set_trial_state_values(storage.create_new_trial(study_id), TrialState.PRUNED)
    assert storage.write_snapshot(study_id) == 2  # the trial that finished, and the new one
    base = RDBStorage(url)._cache.segments.first_read(study_id)
    assert base is not None and base.holes == []
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


def test_a_first_read_through_segments_starts_the_waiting_probes(url: str) -> None:
    """A first read through segments leaves what a probe from the start would (the
    highest id, the WAITING ids, which the segments never hold): the first probe lists only
    newer trials, and still finds the WAITING ones."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "probes")
    waiting_template = FrozenTrial(
        number=0,
        state=TrialState.WAITING,
        value=None,
        values=None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )
    waiting = [storage.create_new_trial(study_id, waiting_template)]
    for _ in range(3):
        storage.set_trial_state_values(
            storage.create_new_trial(study_id), TrialState.COMPLETE, [1.0]
        )
    assert storage.write_snapshot(study_id) == 3
    top = _segment_rows(url, study_id)[-1][2]
    reader = RDBStorage(url, snapshot_threshold=0)
    reader.get_all_trials(study_id, deepcopy=False)
    assert reader._cache.probe(study_id) == (top, waiting)
    waiting.append(storage.create_new_trial(study_id, waiting_template))
    found = reader.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
    assert [t._trial_id for t in found] == waiting
    for each in (storage, reader):
        each.close()


def test_the_segments_of_a_study_merge_like_a_binary_counter(url: str) -> None:
    """Segments written after every few trials merge as the digits of a binary counter: a
    study has O(log n) of them, their trial counts decreasing, and reads stay right."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "counter")
    for round_ in range(1, 17):
        for _ in range(4):
            trial_id = storage.create_new_trial(study_id)
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(round_)])
        assert storage.write_snapshot(study_id) == 4
        counts = [n for _, _, _, n in _segment_rows(url, study_id)]
        assert sum(counts) == 4 * round_
        assert counts == sorted(counts, reverse=True) and len(set(counts)) == len(counts)
        assert len(counts) == bin(round_).count("1")
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


def test_a_large_snapshot_is_split_into_segments_of_bounded_size(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot larger than a segment may be (MySQL: a third of its packet limit) is
    written as several segments, each within the bound, that merge no further."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "split")
    now = datetime.datetime.now()
    for i in range(600):
        storage.create_new_trial(
            study_id,
            FrozenTrial(
                number=0,
                state=TrialState.COMPLETE,
                value=float(i),
                values=None,
                datetime_start=now,
                datetime_complete=now,
                params={"x": 0.5},
                distributions={"x": FloatDistribution(0, 1)},
                user_attrs={},
                system_attrs={},
                intermediate_values={0: 1.0},
                trial_id=0,
            ),
        )
    monkeypatch.setattr(_segments, "_MIN_PIECE", 50)
    storage._cache.segments._max_bytes = 20_000
    assert storage.write_snapshot(study_id) == 600
    segments = _segment_rows(url, study_id)
    assert len(segments) > 2
    assert [first for _, first, _, _ in segments[1:]] == [
        last + 1 for _, _, last, _ in segments[:-1]
    ]
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


def test_a_segment_with_a_large_meta_is_written(url: str) -> None:
    """A segment's ``meta`` holds its distributions' JSON: several large categorical ones
    (each within the 64 KB of a MySQL TEXT column, together beyond it) are written and read
    back."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "large-meta")
    trial_id = storage.create_new_trial(study_id)
    for k in range(5):
        choices = [f"choice-{k}-{i:05d}" for i in range(1500)]
        storage.set_trial_param(trial_id, f"c{k}", 7.0, CategoricalDistribution(choices))
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert storage.write_snapshot(study_id) == 1
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


def test_a_storage_writes_segments_in_the_background_past_its_threshold(url: str) -> None:
    """A storage object that has read ``snapshot_threshold`` finished trials of a study as
    rows writes a segment of them in a background thread."""
    storage = RDBStorage(url, snapshot_threshold=10)
    study = storage.create_new_study(MIN, "background")
    for i in range(25):
        trial_id = storage.create_new_trial(study)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        storage.get_all_trials(study, deepcopy=False)
    storage._cache.segments.wait()
    # What was read since the last segment's capture stays rows: fewer than the threshold.
    assert sum(n for _, _, _, n in _segment_rows(url, study)) >= 25 - 9
    _assert_reads_agree(url, [study], through_segments=True)
    quiet = RDBStorage(url, snapshot_threshold=0)
    quiet.get_all_trials(study)
    assert quiet._cache.segments._thread is None
    storage.close()
    quiet.close()


def test_snapshot_threshold_is_checked_and_pickled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="snapshot_threshold"):
            RDBStorage(url, snapshot_threshold=bad)  # type: ignore[arg-type]
    import pickle

    copy = pickle.loads(pickle.dumps(RDBStorage(url, snapshot_threshold=7)))
    assert copy._cache.segments.threshold == 7


# -- which segments a reader trusts -------------------------------------------------------


def _meta(
    segment_id: int, first: int, last: int, n: int = 1, size: int = 0, **lists: list[int]
) -> Meta:
    return Meta(
        segment_id,
        first,
        last,
        n,
        {},
        [],
        [],
        frozenset(lists.get("holes", [])),
        frozenset(lists.get("extras", [])),
        frozenset(lists.get("settled", [])),
        size,
    )


def test_the_chain_reaches_as_far_as_any_and_skips_abandoned_segments() -> None:
    """Of overlapping, duplicate and abandoned segments, the chain is the run of adjacent
    ranges from id 0 that reaches highest (fewest segments among equals); one not starting
    at 0 or after a gap is never used."""
    metas = [
        _meta(1, 0, 100),
        _meta(2, 0, 50),
        _meta(3, 51, 300),
        _meta(4, 101, 200),
        _meta(5, 400, 500),  # after a gap
        _meta(6, 10, 1000),  # not from 0
    ]
    assert [m.segment_id for m in _segments.chain_of(metas)] == [2, 3]
    assert [m.segment_id for m in _segments.chain_of([*metas, _meta(7, 0, 300)])] == [7]
    assert _segments.chain_of([_meta(1, 5, 9)]) == []


def test_open_holes_leave_out_those_held_or_settled_later() -> None:
    chain = [
        _meta(1, 0, 10, holes=[3, 4, 5]),
        _meta(2, 11, 20, holes=[15], extras=[3], settled=[4]),
    ]
    assert _segments.open_holes(chain) == {5, 15}


def test_a_merge_is_planned_while_the_one_before_holds_no_more() -> None:
    chain = [
        _meta(1, 0, 9, 8, 80),
        _meta(2, 10, 19, 4, 40),
        _meta(3, 20, 29, 2, 20),
        _meta(4, 30, 39, 2, 20),
    ]
    assert _segments.plan_merge(chain, 10**9) == (0, 4)
    assert _segments.plan_merge(chain[:3], 10**9) is None
    assert _segments.plan_merge(chain, 80) == (1, 4)  # no merge beyond 80 bytes
    assert _segments.plan_merge(chain, 30) is None


def test_a_broken_segment_is_ignored(url: str) -> None:
    """A segment whose data does not decode ends the chain there: the rest is read as
    rows."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "broken")
    for round_ in range(3):
        for _ in range(3):
            storage.set_trial_state_values(
                storage.create_new_trial(study_id), TrialState.COMPLETE, [float(round_)]
            )
        storage.write_snapshot(study_id)
    segments = _segment_rows(url, study_id)
    assert len(segments) == 2
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            trial_segments.update()
            .where(trial_segments.c.segment_id == segments[-1][0])
            .values(data=b"\x00" * 10)
        )
    engine.dispose()
    base = RDBStorage(url)._cache.segments.first_read(study_id)
    assert base is not None and len(base.trials) == segments[0][3]
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


# -- concurrent writers ------------------------------------------------------------------


def _thread_trials(url: str, study_id: int, seed: int, errors: list[BaseException]) -> None:
    storage = RDBStorage(url, snapshot_threshold=0)
    rng = random.Random(seed)
    try:
        for _ in range(40):
            trial_id = _start_trial(storage, study_id, rng)
            if rng.random() < 0.8:
                _finish(storage, trial_id, 1, rng)
    except BaseException as e:
        errors.append(e)


def _thread_snapshots(
    url: str, study_id: int, done: threading.Event, errors: list[BaseException]
) -> None:
    storage = RDBStorage(url, snapshot_threshold=0)
    try:
        while not done.is_set():
            storage.write_snapshot(study_id)
    except BaseException as e:
        errors.append(e)


def test_threads_writing_trials_and_snapshots_leave_reads_right(url: str) -> None:
    """Trials created and finished by two threads while two others write snapshots (each
    through its own storage object): reads through the segments equal reads of the rows."""
    setup = RDBStorage(url, snapshot_threshold=0)
    study_id = setup.create_new_study(MIN, "threads")
    done = threading.Event()
    errors: list[BaseException] = []
    writers = [
        threading.Thread(target=_thread_trials, args=(url, study_id, seed, errors))
        for seed in range(2)
    ]
    snapshotters = [
        threading.Thread(target=_thread_snapshots, args=(url, study_id, done, errors))
        for _ in range(2)
    ]
    for thread in writers + snapshotters:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    for thread in snapshotters:
        thread.join()
    assert not errors, errors
    setup.write_snapshot(study_id)
    _assert_reads_agree(url, [study_id], through_segments=True)
    setup.close()


def _process_workload(url: str, study_id: int, seed: int) -> None:
    storage = RDBStorage(url, snapshot_threshold=0)
    rng = random.Random(seed)
    for i in range(30):
        trial_id = _start_trial(storage, study_id, rng)
        if rng.random() < 0.8:
            _finish(storage, trial_id, 1, rng)
        if i % 7 == seed % 7:
            storage.write_snapshot(study_id)
    storage.close()


def test_processes_writing_trials_and_snapshots_leave_reads_right(url: str) -> None:
    setup = RDBStorage(url, snapshot_threshold=0)
    study_id = setup.create_new_study(MIN, "processes")
    processes = [
        _SPAWN.Process(target=_process_workload, args=(url, study_id, seed)) for seed in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        assert process.exitcode == 0
    _assert_reads_agree(url, [study_id], through_segments=True)
    setup.close()


def _die_in_transaction(url: str, study_id: int, at_call: int) -> None:
    """Write a snapshot, killing this process inside the ``at_call``-th write transaction
    (after its INSERT, before its COMMIT)."""
    calls = [0]
    drop = _segments._drop_redundant

    def die(*args: Any) -> None:
        calls[0] += 1
        if calls[0] == at_call:
            os.kill(os.getpid(), signal.SIGKILL)
        drop(*args)

    _segments._drop_redundant = die  # type: ignore[assignment]
    RDBStorage(url, snapshot_threshold=0).write_snapshot(study_id)


@pytest.mark.parametrize("at_call", [1, 2], ids=["insert", "merge"])
def test_a_snapshot_writer_killed_midway_leaves_reads_right(url: str, at_call: int) -> None:
    """A process killed inside a segment's insert, or inside the merge that follows it,
    leaves the segments as they were: each write is one transaction."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "killed")
    for batch in range(2):
        for _ in range(4):
            storage.set_trial_state_values(
                storage.create_new_trial(study_id), TrialState.COMPLETE, [float(batch)]
            )
        if batch == 0:
            storage.write_snapshot(study_id)
    before = _segment_rows(url, study_id)
    process = _SPAWN.Process(target=_die_in_transaction, args=(url, study_id, at_call))
    process.start()
    process.join()
    assert process.exitcode == -signal.SIGKILL
    after = _segment_rows(url, study_id)
    assert after == before if at_call == 1 else len(after) == 2
    _assert_reads_agree(url, [study_id], through_segments=True)
    assert storage.write_snapshot(study_id) == (4 if at_call == 1 else 0)
    assert len(_segment_rows(url, study_id)) == 1  # merged
    _assert_reads_agree(url, [study_id], through_segments=True)
    storage.close()


# -- Optuna, and databases without the table ---------------------------------------------


def test_a_study_deleted_by_optuna_or_trialstore_takes_its_segments(url: str) -> None:
    storage = RDBStorage(url, snapshot_threshold=0)
    kept = storage.create_new_study(MIN, "kept")
    for name in ("by-optuna", "by-trialstore"):
        study_id = storage.create_new_study(MIN, name)
        for _ in range(3):
            storage.set_trial_state_values(
                storage.create_new_trial(study_id), TrialState.COMPLETE, [1.0]
            )
    storage.set_trial_state_values(storage.create_new_trial(kept), TrialState.COMPLETE, [2.0])
    assert storage.write_snapshot() == 7
    optuna_storage = optuna.storages.RDBStorage(url)
    optuna.delete_study(study_name="by-optuna", storage=optuna_storage)
    optuna_storage.engine.dispose()
    storage.delete_study(storage.get_study_id_from_name("by-trialstore"))
    assert [n for _, _, _, n in _segment_rows(url)] == [1]
    _assert_reads_agree(url, [kept], through_segments=True)
    storage.close()


def test_a_study_deleted_while_its_segment_is_encoded_gets_none(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study deleted between a writer's read of its trials and its insert gets no segment
    (SQLite enforces no foreign key: the insert checks the study row)."""
    storage = RDBStorage(url, snapshot_threshold=0)
    study_id = storage.create_new_study(MIN, "deleted-meanwhile")
    storage.set_trial_state_values(storage.create_new_trial(study_id), TrialState.COMPLETE, [1.0])
    pieces = _segments._pieces

    def delete_then_encode(*args: Any) -> Any:
        other = RDBStorage(url, snapshot_threshold=0)
        other.delete_study(study_id)
        other.close()
        return pieces(*args)

    monkeypatch.setattr(_segments, "_pieces", delete_then_encode)
    assert storage.write_snapshot(study_id) == 0
    assert _segment_rows(url) == []
    storage.close()


def test_a_database_without_the_table_reads_rows_and_writes_no_segments(url: str) -> None:
    """A database Optuna made, opened with skip_table_creation=True, has no segments: reads
    go by rows and write_snapshot writes nothing; opened normally, it gets the table (on
    SQLite with the trigger that deletes a study's segments with it)."""
    optuna_storage = optuna.storages.RDBStorage(url)
    theirs = optuna.create_study(study_name="made-by-optuna", storage=optuna_storage)
    theirs.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    optuna_storage.engine.dispose()
    reader = RDBStorage(url, skip_table_creation=True)
    study_id = reader.get_study_id_from_name("made-by-optuna")
    assert len(reader.get_all_trials(study_id)) == 5
    assert reader.write_snapshot() == 0
    engine = sa.create_engine(url)
    assert SEGMENTS_TABLE not in sa.inspect(engine).get_table_names()
    engine.dispose()
    writer = RDBStorage(url)
    assert writer.write_snapshot() == 5
    assert len(RDBStorage(url, skip_table_creation=True).get_all_trials(study_id)) == 5
    _assert_reads_agree(url, [study_id], through_segments=True)
    optuna_storage = optuna.storages.RDBStorage(url)
    optuna.delete_study(study_name="made-by-optuna", storage=optuna_storage)
    optuna_storage.engine.dispose()
    assert _segment_rows(url) == []
    for each in (reader, writer):
        each.close()


_TZ_SCRIPT = """
import sys
from trialstore.storage.rdb import RDBStorage
from trialstore.trial import TrialState
url, mode = sys.argv[1], sys.argv[2]
storage = RDBStorage(url, snapshot_threshold=0)
if mode == "write":
    study_id = storage.create_new_study([1], "tz")
    for _ in range(3):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert storage.write_snapshot(study_id) == 3
else:
    study_id = storage.get_study_id_from_name("tz")
    assert storage._cache.segments.first_read(study_id) is not None
    rows = RDBStorage(url)
    rows._cache.segments._available = False
    ours = [(t.datetime_start, t.datetime_complete) for t in storage.get_all_trials(study_id)]
    theirs = [(t.datetime_start, t.datetime_complete) for t in rows.get_all_trials(study_id)]
    assert ours == theirs, (ours, theirs)
"""


def test_times_read_through_segments_are_local_whatever_the_writers_zone(url: str) -> None:
    """Segments keep times in UTC, as the tables do: a reader in another time zone reads the
    times a reader of the rows reads."""
    for tz, mode in (("America/New_York", "write"), ("Asia/Tokyo", "read"), ("UTC", "read")):
        subprocess.run(
            [sys.executable, "-c", _TZ_SCRIPT, url, mode],
            check=True,
            env={**os.environ, "TZ": tz},
        )
