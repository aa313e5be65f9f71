"""Journal snapshots kept by writers (trialstore/storage/journal/_snapshot.py, _keeper.py,
storage/_columns.py): a fresh opener replays a bounded number of records, segments plus head
load to the state a full replay builds, and crashed or concurrent snapshot writers never
leave anything a reader trusts wrongly."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialstore.conformance._base import make_template
from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import TrialDeletedError, UpdateFinishedTrialError
from trialstore.storage.journal import (
    JournalFileBackend,
    JournalRedisBackend,
    JournalStorage,
    compact_journal,
)
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

MIN = [StudyDirection.MINIMIZE]
THRESHOLD = 200


def picture(storage: JournalStorage) -> list[Any]:
    """Every study and trial as comparable values (NaN shown as a string)."""

    def plain(value: Any) -> Any:
        if isinstance(value, float) and math.isnan(value):
            return "nan"
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    out: list[Any] = []
    for study in storage.get_all_studies():
        sid = study._study_id
        out.append((sid, study.study_name, study.user_attrs, study.system_attrs))
        out.append(storage.get_study_directions(sid))
        for t in storage.get_all_trials(sid):
            out.append(
                (
                    t._trial_id,
                    t.number,
                    t.state,
                    plain(t.values),
                    t.datetime_start,
                    t.datetime_complete,
                    plain(t.params),
                    {k: repr(v) for k, v in t.distributions.items()},
                    plain(t.user_attrs),
                    plain(t.system_attrs),
                    plain(t.intermediate_values),
                )
            )
    return out


class Counting(JournalFileBackend):
    """Counts the records handed to the storage by read_new."""

    records_read = 0

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        out = super().read_new()
        self.records_read += len(out)
        return out


class CountingRedis(JournalRedisBackend):
    records_read = 0

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        out = super().read_new()
        self.records_read += len(out)
        return out


def state_records(storage: JournalStorage) -> list[str]:
    """The records compaction would write for the storage's state: they show every trial,
    deleted ones (an empty FAIL trial) included, and every heartbeat."""
    storage.get_all_studies()  # catch up with the log
    return [json.dumps(record, sort_keys=True) for record in storage._state.to_records()]


def segment_names(directory: Path) -> set[str]:
    return {p.name.split(".")[-2] for p in directory.glob("journal.log.snapshot.*.seg")}


def full_replay(backend: JournalFileBackend | JournalRedisBackend) -> JournalStorage:
    """A storage that ignores every snapshot (replays the whole log) and writes none."""

    class NoSnapshot(type(backend)):  # type: ignore[misc]
        def load_snapshot(self) -> None:
            return None

    copy = NoSnapshot.__new__(NoSnapshot)
    copy.__setstate__(backend.__getstate__())
    return JournalStorage(copy, snapshot_threshold=0)


# -- the bound on what an opener replays -------------------------------------------------------


def _worker(path: str, name: str, n: int) -> None:
    storage = JournalStorage(JournalFileBackend(path), snapshot_threshold=THRESHOLD)
    sid = storage.get_study_id_from_name("s")
    dist = FloatDistribution(0, 1)
    for i in range(n):
        tid = storage.create_new_trial(sid)
        storage.set_trial_params(tid, {"x": (0.5, dist), "y": (i / n, dist)})
        storage.set_trial_intermediate_value(tid, 0, float(i))
        if i % 10 == 3:
            storage.set_trial_user_attr(tid, "who", name)
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
        if i % 50 == 7:
            storage.delete_trials(sid, [tid])
    # A trial left running: it stays in the head until it finishes.
    storage.create_new_trial(sid)
    # No close(): the interpreter waits for a snapshot in progress at exit.


def test_a_fresh_opener_replays_fewer_than_the_threshold_after_writers_ran(
    tmp_path: Path,
) -> None:
    """Three processes write (and snapshot) at once; nobody ever opened the journal
    otherwise. A fresh opener then replays fewer than ``THRESHOLD`` records plus one append,
    and sees what a full replay sees."""
    path = str(tmp_path / "journal.log")
    JournalStorage(JournalFileBackend(path)).create_new_study(MIN, "s")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(path, f"w{i}", 300)) for i in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    total = len(Path(path).read_bytes().splitlines())
    assert total > 10 * THRESHOLD
    backend = Counting(path)
    opened = JournalStorage(backend, snapshot_threshold=0)
    assert backend.records_read < THRESHOLD + 2  # + the records of the last append
    assert picture(opened) == picture(full_replay(JournalFileBackend(path)))
    assert len(opened.get_all_trials(0)) == 900 + 3 - 18  # 18 deleted
    # The snapshot is a few segments, not one per snapshot written.
    segments = list(tmp_path.glob("journal.log.snapshot.*.seg"))
    assert 1 <= len(segments) <= 12


def test_an_opener_that_replays_more_than_the_threshold_writes_a_snapshot(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path), snapshot_threshold=0)
    sid = writer.create_new_study(MIN, "s")
    for _ in range(60):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.COMPLETE, [1.0])
    assert not Path(f"{path}.snapshot").exists()
    opener = JournalStorage(JournalFileBackend(path), snapshot_threshold=100)
    opener.close()
    assert Path(f"{path}.snapshot").exists()
    backend = Counting(path)
    JournalStorage(backend)
    assert backend.records_read == 0
    small = JournalStorage(JournalFileBackend(path), snapshot_threshold=1000)
    assert small._keeper.snapshots_written == 0


@pytest.mark.parametrize("bad", [-1, 1.5, "10", None, True])
def test_a_bad_snapshot_threshold_is_refused(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match="snapshot_threshold must be an int >= 0"):
        JournalStorage(JournalFileBackend(tmp_path / "journal.log"), snapshot_threshold=bad)


def test_snapshots_follow_compaction(tmp_path: Path) -> None:
    """A writer whose journal is compacted under it goes on snapshotting the new file."""
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path), snapshot_threshold=50)
    sid = writer.create_new_study(MIN, "s")
    for i in range(200):
        tid = writer.create_new_trial(sid)
        writer.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
        if i == 100:
            assert compact_journal(JournalFileBackend(path)).snapshot_written
    writer.close()
    backend = Counting(path)
    opened = JournalStorage(backend, snapshot_threshold=0)
    assert backend.records_read < 50 + 2
    assert picture(opened) == picture(full_replay(JournalFileBackend(path)))


def test_large_snapshots_are_split_and_merges_stop_at_the_size_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot of many finished trials is written as several segments of at most
    ``SEGMENT_TRIALS`` trials, and merges never make a segment larger than
    ``MAX_SEGMENT_BYTES`` (Redis takes at most 512 MB in one value)."""
    from trialstore.storage.journal import _snapshot

    monkeypatch.setattr(_snapshot, "SEGMENT_TRIALS", 7)
    monkeypatch.setattr(_snapshot, "MAX_SEGMENT_BYTES", 4000)
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path), snapshot_threshold=0)
    sid = writer.create_new_study(MIN, "s")
    for i in range(50):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.COMPLETE, [i])
    assert writer.write_snapshot()
    refs = json.loads(Path(f"{path}.snapshot").read_bytes())["segments"]
    assert len(refs) >= 50 // 7
    assert all(trials <= 7 or size <= 4000 for _, trials, size in refs)
    assert sum(trials for _, trials, _ in refs) == 50
    for i in range(20):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.COMPLETE, [i])
        assert writer.write_snapshot()
    refs = json.loads(Path(f"{path}.snapshot").read_bytes())["segments"]
    assert all(trials <= 7 or size <= 4000 for _, trials, size in refs)
    assert picture(JournalStorage(JournalFileBackend(path), snapshot_threshold=0)) == picture(
        full_replay(JournalFileBackend(path))
    )


# -- segments + head equal a full replay ----------------------------------------------------

_DISTS = [
    FloatDistribution(0, 1),
    FloatDistribution(1e-3, 1.0, log=True),
    IntDistribution(0, 9),
    CategoricalDistribution(["a", None, 2, 2.5, True]),
]

_CREATE = st.tuples(st.just("create"), st.integers(0, 1), st.booleans())
_FINISH = st.tuples(
    st.just("finish"),
    st.integers(0, 30),
    st.sampled_from([TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED]),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.25)),
)
_SNAPSHOT = st.tuples(st.just("snapshot"), st.integers(0, 2))
# Creating, finishing and snapshotting come more often than the rest, so that most examples
# have finished trials in several segments before they are changed, deleted or read.
_OPS = st.one_of(
    _CREATE,
    _FINISH,
    _SNAPSHOT,
    _CREATE,
    _FINISH,
    st.tuples(st.just("param"), st.integers(0, 30), st.integers(0, 3), st.integers(0, 4)),
    st.tuples(st.just("claim"), st.integers(0, 30)),
    st.tuples(st.just("value"), st.integers(0, 30), st.integers(-3, 5), st.floats()),
    st.tuples(st.just("attr"), st.integers(0, 30), st.text(max_size=3)),
    st.tuples(st.just("delete"), st.integers(0, 30)),
    _SNAPSHOT,
    st.tuples(st.just("study_attr"), st.integers(0, 1)),
    st.tuples(st.just("new_study")),
    st.tuples(st.just("drop_study")),
)


# The dispatcher of the random workloads: one branch per kind of operation drawn, read best
# side by side.
def _apply(  # noqa: C901
    storages: list[JournalStorage], studies: list[int], op: tuple[Any, ...]
) -> None:
    writer = storages[0]
    trial_ids = [t for s in studies for t in _trial_ids(writer, s)]

    def pick(i: int) -> int | None:
        return trial_ids[i % len(trial_ids)] if trial_ids else None

    kind = op[0]
    try:
        if kind == "create" and studies:
            template = make_template(TrialState.WAITING) if op[2] else None
            writer.create_new_trial(studies[op[1] % len(studies)], template)
        elif kind == "param" and (tid := pick(op[1])) is not None:
            dist = _DISTS[op[2]]
            internal = float(op[3] % 5) if not isinstance(dist, FloatDistribution) else 0.5
            if isinstance(dist, IntDistribution):
                internal = float(op[3])
            writer.set_trial_param(tid, f"p{op[2]}", internal, dist)
        elif kind == "finish" and (tid := pick(op[1])) is not None:
            state = op[2]
            writer.set_trial_state_values(
                tid, state, [op[3]] if state == TrialState.COMPLETE else None
            )
        elif kind == "claim" and (tid := pick(op[1])) is not None:
            writer.set_trial_state_values(tid, TrialState.RUNNING)
        elif kind == "value" and (tid := pick(op[1])) is not None:
            writer.set_trial_intermediate_value(tid, op[2], op[3])
        elif kind == "attr" and (tid := pick(op[1])) is not None:
            writer.set_trial_user_attr(tid, "a", {"text": op[2], "list": [1, op[2]]})
        elif kind == "delete" and (tid := pick(op[1])) is not None:
            writer.delete_trials(writer._state.trial_study[tid], [tid])
        elif kind == "study_attr" and studies:
            writer.set_study_user_attr(studies[op[1] % len(studies)], "k", [op[1]])
        elif kind == "snapshot":
            storages[op[1]].write_snapshot()  # by the writer or by a reader
        elif kind == "new_study":
            studies.append(writer.create_new_study(MIN, f"s{len(writer._state.studies)}"))
        elif kind == "drop_study" and len(studies) > 1:
            writer.delete_study(studies.pop(0))
    except (KeyError, UpdateFinishedTrialError, TrialDeletedError, ValueError):
        pass  # an operation the state refuses: nothing written


def _trial_ids(storage: JournalStorage, study_id: int) -> list[int]:
    return [t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False)]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_OPS, min_size=30, max_size=120))
def test_segments_and_head_load_to_what_a_full_replay_builds(ops: list[Any]) -> None:
    """Random workloads (trials created, claimed, given parameters of every kind, finished
    with NaN or infinite values, deleted; studies created and deleted) with snapshots written
    at random moments by the writer and by other readers: a fresh opener, which loads the
    newest snapshot and replays the tail, sees exactly what a full replay sees, and so do the
    readers that wrote the snapshots."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "journal.log")
        storages = [JournalStorage(JournalFileBackend(path), snapshot_threshold=0)]
        studies = [storages[0].create_new_study(MIN, "s0")]
        storages += [
            JournalStorage(JournalFileBackend(path), snapshot_threshold=0) for _ in range(2)
        ]
        for op in ops:
            _apply(storages, studies, op)
        full = full_replay(JournalFileBackend(path))
        expected = (picture(full), state_records(full))
        for storage in storages:
            assert (picture(storage), state_records(storage)) == expected
        for final in (False, True):
            if final:
                storages[1].write_snapshot()
            backend = Counting(path)
            fresh = JournalStorage(backend, snapshot_threshold=0)
            assert (picture(fresh), state_records(fresh)) == expected
            # The snapshot was used, not dropped for a full replay.
            total = len(Path(path).read_bytes().splitlines())
            head = Path(f"{path}.snapshot")
            covered = json.loads(head.read_bytes())["journal"]["lines"] if head.exists() else 0
            assert backend.records_read == total - covered
            if final:
                assert covered == total


# -- crashes and concurrency --------------------------------------------------------------

_STALLED_WRITER = """
import os, sys, time
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.storage.journal import _file

where = sys.argv[2]
real_write_segment = _file.FileSnapshotStore.write_segment
real_write_head = _file.FileSnapshotStore.write_head

def stall():
    print("stalled", flush=True)
    time.sleep(600)

def write_segment(self, data):
    if where == "segment":  # half a segment on the disk, then stuck
        with open(self._segment_path("deadbeef"), "wb") as f:
            f.write(data[: len(data) // 2])
        stall()
    return real_write_segment(self, data)

def write_head(self, head, position, keep):
    if where == "head":  # segments written, the head not yet
        stall()
    if where == "head-file":  # half a temporary head file, never renamed
        with open(self.head_path + ".cafe.tmp", "w") as f:
            f.write('{"format": "trialstore-journal-snapshot/5", "studies": [')
        stall()
    return real_write_head(self, head, position, keep)

_file.FileSnapshotStore.write_segment = write_segment
_file.FileSnapshotStore.write_head = write_head
storage = JournalStorage(JournalFileBackend(sys.argv[1]))
storage.write_snapshot()
"""


@pytest.mark.parametrize("where", ["segment", "head", "head-file"])
def test_a_writer_killed_mid_snapshot_leaves_nothing_trusted(tmp_path: Path, where: str) -> None:
    """A snapshot writer SIGKILLed in the middle (half a segment written; its segments
    written but not its head; half a temporary head): openers keep using the previous
    snapshot and see the journal's state; the next writer takes the lock the kernel released
    and removes the dead writer's segments."""
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path), snapshot_threshold=0)
    sid = writer.create_new_study(MIN, "s")
    for i in range(20):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.COMPLETE, [i])
    writer.write_snapshot()
    before = Path(f"{path}.snapshot").read_bytes()
    for _ in range(20):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.FAIL)
    expected = picture(writer)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", _STALLED_WRITER, str(path), where],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "stalled"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert Path(f"{path}.snapshot").read_bytes() == before  # the old head stays in place
    backend = Counting(path)
    assert picture(JournalStorage(backend, snapshot_threshold=0)) == expected
    assert backend.records_read == 40  # the old snapshot, then the tail
    old_names = {ref[0] for ref in json.loads(before)["segments"]}
    dead = segment_names(tmp_path) - old_names
    assert dead  # the dead writer's segment (half of one, or whole but named by no head)
    assert writer.write_snapshot()  # the lock is free again
    new_names = {ref[0] for ref in json.loads(Path(f"{path}.snapshot").read_bytes())["segments"]}
    assert segment_names(tmp_path) <= new_names | old_names
    assert not dead & segment_names(tmp_path)
    backend = Counting(path)
    assert picture(JournalStorage(backend, snapshot_threshold=0)) == expected
    assert backend.records_read == 0


def _snapshot_loop(path: str) -> None:
    storage = JournalStorage(JournalFileBackend(path), snapshot_threshold=0)
    sid = storage.get_study_id_from_name("s")
    i = 0
    while True:
        tid = storage.create_new_trial(sid)
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
        if i % 3 == 0:
            storage.write_snapshot()
        i += 1


def test_sigkill_loop_of_snapshot_writers(tmp_path: Path) -> None:
    """Writers that snapshot all the time, SIGKILLed at random moments (40 kills): after
    each kill, a fresh opener sees what a full replay sees."""
    import random
    import time

    path = str(tmp_path / "journal.log")
    JournalStorage(JournalFileBackend(path)).create_new_study(MIN, "s")
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(7)
    for _ in range(40):
        proc = ctx.Process(target=_snapshot_loop, args=(path,), daemon=True)
        proc.start()
        time.sleep(rng.uniform(0.05, 0.3))
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert picture(JournalStorage(JournalFileBackend(path), snapshot_threshold=0)) == (
            picture(full_replay(JournalFileBackend(path)))
        )
    assert len(list(Path(tmp_path).glob("journal.log.snapshot.*.seg"))) < 40


def test_threads_snapshotting_at_once_agree(tmp_path: Path) -> None:
    """Four storage objects in four threads append and write snapshots at once (they take
    turns on the snapshot lock; each extends the newest head)."""
    path = tmp_path / "journal.log"
    JournalStorage(JournalFileBackend(path)).create_new_study(MIN, "s")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            storage = JournalStorage(JournalFileBackend(path), snapshot_threshold=20)
            for i in range(60):
                tid = storage.create_new_trial(0)
                storage.set_trial_user_attr(tid, "k", k)
                storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
                if i % 15 == 0:
                    storage.write_snapshot()
            storage.close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    backend = Counting(path)
    opened = JournalStorage(backend, snapshot_threshold=0)
    assert backend.records_read < 20 + 2
    assert picture(opened) == picture(full_replay(JournalFileBackend(path)))
    assert len(opened.get_all_trials(0)) == 240


# -- Redis ----------------------------------------------------------------------------------


def _redis_worker(url: str, prefix: str, n: int) -> None:
    storage = JournalStorage(JournalRedisBackend(url, prefix=prefix), snapshot_threshold=THRESHOLD)
    sid = storage.get_study_id_from_name("s")
    for i in range(n):
        tid = storage.create_new_trial(sid)
        storage.set_trial_param(tid, "x", 0.5, FloatDistribution(0, 1))
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
        if i % 40 == 5:
            storage.delete_trials(sid, [tid])
    storage.close()


@pytest.mark.redis
def test_redis_fresh_opener_replays_fewer_than_the_threshold(
    redis_url: str, redis_prefix: str
) -> None:
    import redis

    JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix)).create_new_study(MIN, "s")
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_redis_worker, args=(redis_url, redis_prefix, 200)) for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    backend = CountingRedis(redis_url, prefix=redis_prefix)
    opened = JournalStorage(backend, snapshot_threshold=0)
    assert backend.records_read < THRESHOLD + 2
    assert picture(opened) == picture(full_replay(JournalRedisBackend(redis_url, redis_prefix)))
    assert len(opened.get_all_trials(0)) == 600 - 15
    client = redis.Redis.from_url(redis_url)
    try:
        segments = client.smembers(f"{redis_prefix}:trialstore:segments")
        assert 1 <= len(segments) <= 12
        for name in segments:
            assert client.exists(f"{redis_prefix}:trialstore:segment:{name.decode()}")  # type: ignore[union-attr]
        assert not client.exists(f"{redis_prefix}:snapshot")  # Optuna's key: never ours
        assert not client.exists(f"{redis_prefix}:trialstore:snapshot_lock")
    finally:
        client.close()


@pytest.mark.redis
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(_OPS, min_size=20, max_size=60))
def test_redis_segments_and_head_load_to_what_a_full_replay_builds(
    redis_url: str, ops: list[Any]
) -> None:
    import uuid

    import redis

    prefix = f"ts-test-{uuid.uuid4().hex[:12]}"
    try:
        storages = [
            JournalStorage(JournalRedisBackend(redis_url, prefix=prefix), snapshot_threshold=0)
            for _ in range(3)
        ]
        studies = [storages[0].create_new_study(MIN, "s0")]
        for op in ops:
            _apply(storages, studies, op)
        full = full_replay(JournalRedisBackend(redis_url, prefix=prefix))
        expected = (picture(full), state_records(full))
        client = redis.Redis.from_url(redis_url)
        for step in ("as written", "compacted", "snapshot after compaction"):
            if step == "compacted":
                compact_journal(JournalRedisBackend(redis_url, prefix=prefix))
            elif step == "snapshot after compaction":
                storages[2].write_snapshot()  # under the generation after the compaction
            backend = CountingRedis(redis_url, prefix=prefix)
            fresh = JournalStorage(backend, snapshot_threshold=0)
            assert (picture(fresh), state_records(fresh)) == expected, step
            total = int(client.get(f"{prefix}:log_number") or -1) + 1
            raw = client.get(f"{prefix}:trialstore:snapshot")
            covered = 0 if raw is None else json.loads(raw)["journal"]["log_number"]
            assert backend.records_read == total - covered, step
        client.close()
    finally:
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.mark.redis
def test_redis_head_of_a_writer_whose_lock_expired_is_refused(
    redis_url: str, redis_prefix: str
) -> None:
    """A head write checks, in the same script, that its writer still holds the lock: a
    writer stalled past the lock's expiry (another one took over) writes nothing."""
    import redis

    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    sid = storage.create_new_study(MIN, "s")
    storage.set_trial_state_values(storage.create_new_trial(sid), TrialState.COMPLETE, [1.0])
    store = storage.backend.snapshot_store()
    assert store is not None
    client = redis.Redis.from_url(redis_url)
    try:
        with store.exclusive() as held:
            assert held
            client.set(f"{redis_prefix}:trialstore:snapshot_lock", "someone else")
            _, _, position = storage.backend.snapshot_position()
            assert not store.write_head({"format": "x"}, position, set())
        assert client.get(f"{redis_prefix}:trialstore:snapshot_lock") == b"someone else"
        assert not client.exists(f"{redis_prefix}:trialstore:snapshot")
    finally:
        client.close()


def test_a_child_forked_while_another_thread_holds_the_lock_can_use_the_storage(
    tmp_path: Path,
) -> None:
    """The parent's snapshot thread may hold the storage's lock when a worker forks: the
    child gets a lock of its own (it would wait forever for the old one)."""
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with storage._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    pid = os.fork()
    if pid == 0:  # the child: a create that would hang on the parent's lock
        signal.alarm(20)
        try:
            storage.create_new_trial(study_id)
            os._exit(0)
        except BaseException:
            os._exit(1)
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert len(storage.get_all_trials(study_id)) == 1
