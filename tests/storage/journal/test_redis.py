"""The journal Redis backend (trialstore/storage/journal/_redis.py) on the real server."""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

import pytest

from trialstore.conformance._base import assert_same_trial
from trialstore.distributions import CategoricalDistribution, FloatDistribution
from trialstore.exceptions import StorageInternalError
from trialstore.storage import get_storage
from trialstore.storage.journal import (
    CompactionResult,
    JournalRedisBackend,
    JournalStorage,
    compact_journal,
)
from trialstore.storage.journal._redis import STUB_RECORD
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

pytestmark = pytest.mark.redis
redis = pytest.importorskip("redis")


def appender(url: str, prefix: str, name: str, n: int) -> None:
    storage = JournalStorage(JournalRedisBackend(url, prefix=prefix))
    sid = storage.get_study_id_from_name("r")
    for i in range(n):
        tid = storage.create_new_trial(sid)
        storage.set_trial_user_attr(tid, "who", f"{name}-{i}")
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])


def test_processes_append_at_once(redis_url: str, redis_prefix: str) -> None:
    JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix)).create_new_study(
        [StudyDirection.MINIMIZE], "r"
    )
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=appender, args=(redis_url, redis_prefix, f"p{i}", 60)) for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    trials = storage.get_all_trials(0)
    assert [t.number for t in trials] == list(range(240))
    assert sorted(t.user_attrs["who"] for t in trials) == sorted(
        f"p{p}-{i}" for p in range(4) for i in range(60)
    )
    client = redis.Redis.from_url(redis_url)
    assert int(client.get(f"{redis_prefix}:log_number")) == 1 + 240 * 3 - 1
    client.close()


class Counting(JournalRedisBackend):
    records_read = 0

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        out = super().read_new()
        self.records_read += len(out)
        return out


def test_incremental_reads_and_snapshot(redis_url: str, redis_prefix: str) -> None:
    writer = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    sid = writer.create_new_study([StudyDirection.MINIMIZE], "r")
    for _ in range(30):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.FAIL)
    backend = Counting(redis_url, prefix=redis_prefix)
    reader = JournalStorage(backend)
    assert backend.records_read == 61
    reader.get_all_trials(sid)
    assert backend.records_read == 61
    writer.create_new_trial(sid)
    assert len(reader.get_all_trials(sid)) == 31
    assert backend.records_read == 62
    compact_journal(writer.backend)
    writer.create_new_trial(sid)
    backend2 = Counting(redis_url, prefix=redis_prefix)
    reopened = JournalStorage(backend2)
    assert backend2.records_read == 1  # snapshot plus one record
    assert [t.number for t in reopened.get_all_trials(sid)] == list(range(32))


def test_bad_records_name_the_key(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(f"{redis_prefix}:log_number", 0)
    client.set(f"{redis_prefix}:log:0", json.dumps({"op_code": 99, "worker_id": "w"}))
    with pytest.raises(StorageInternalError, match=rf"{redis_prefix}:log:0.*unknown op_code 99"):
        JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    client.set(f"{redis_prefix}:log_number", 1)
    client.set(f"{redis_prefix}:log:1", "{oops")
    client.set(f"{redis_prefix}:log:0", json.dumps({"op_code": 10, "worker_id": "w"}))
    with pytest.raises(StorageInternalError, match=rf"{redis_prefix}:log:1.*corrupt"):
        JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    client.close()


def test_journal_redis_url(redis_url: str, redis_prefix: str) -> None:
    rest = redis_url.split("://", 1)[1]
    storage = get_storage(f"journal+redis://{rest}?prefix={redis_prefix}")
    assert isinstance(storage, JournalStorage)
    storage.create_new_study([StudyDirection.MAXIMIZE], "via-url")
    backend = storage.backend
    assert isinstance(backend, JournalRedisBackend) and backend.prefix == redis_prefix
    client = redis.Redis.from_url(redis_url)
    assert client.exists(f"{redis_prefix}:log:0")
    client.close()
    with pytest.raises(ValueError, match="unknown parameters"):
        get_storage(f"journal+redis://{rest}?prefix=a&bogus=1")


# -- compaction ------------------------------------------------------------------------------


def rich_workload(storage: JournalStorage, n: int) -> int:
    """A study with ``n`` trials carrying params, intermediate values and attrs (most
    finished, some running, one failed), a deleted study and a second live study."""
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "rich")
    storage.set_study_user_attr(sid, "k", "v")
    storage.set_study_system_attr(sid, "s", [1, 2])
    gone = storage.create_new_study([StudyDirection.MAXIMIZE], "gone")
    storage.create_new_trial(gone)
    storage.delete_study(gone)
    for i in range(n):
        tid = storage.create_new_trial(sid)
        storage.set_trial_param(tid, "x", i / (n + 1), FloatDistribution(0, 1))
        storage.set_trial_param(tid, "c", i % 3, CategoricalDistribution(["a", "b", "c"]))
        for step in range(3):
            storage.set_trial_intermediate_value(tid, step, float(i * step))
        storage.set_trial_user_attr(tid, "note", f"t{i}")
        storage.set_trial_system_attr(tid, "sys", {"i": i})
        if i % 4 == 3:
            continue  # stays RUNNING
        state = TrialState.FAIL if i == 5 else TrialState.COMPLETE
        storage.set_trial_state_values(
            tid, state, None if state == TrialState.FAIL else [float(i)]
        )
    storage.create_new_study([StudyDirection.MAXIMIZE], "gone")
    return sid


def picture(storage: Any) -> list[Any]:
    """Every study and trial of a trialstore or Optuna storage, comparably."""
    out: list[Any] = []
    for study in sorted(storage.get_all_studies(), key=lambda s: s._study_id):
        out.append(
            (
                study._study_id,
                study.study_name,
                [int(d) for d in study.directions],
                study.user_attrs,
                study.system_attrs,
            )
        )
        for t in storage.get_all_trials(study._study_id):
            out.append(
                (
                    t._trial_id,
                    t.number,
                    int(t.state),
                    t.values,
                    t.datetime_start,
                    t.datetime_complete,
                    t.params,
                    t.user_attrs,
                    t.system_attrs,
                    t.intermediate_values,
                )
            )
    return out


def log_values(url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    last = int(client.get(f"{prefix}:log_number"))
    values: list[bytes] = client.mget([f"{prefix}:log:{n}" for n in range(last + 1)])
    client.close()
    return values


def test_compaction_shrinks_and_reads_identically(redis_url: str, redis_prefix: str) -> None:
    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    sid = rich_workload(storage, 40)
    before_values = log_values(redis_url, redis_prefix)
    expected = picture(storage)
    result = compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    after_values = log_values(redis_url, redis_prefix)
    # Every log number stays readable; the compacted part is minimal records plus stubs.
    assert len(after_values) == len(before_values)
    real = [v for v in after_values if v.decode() != STUB_RECORD]
    # 3 studies (one deleted: create + delete), 2 study attrs, 41 trials.
    assert len(real) == 3 + 1 + 2 + 41
    assert result.records_before == len(before_values)
    assert result.records_after == len(real)
    assert result.bytes_before == sum(map(len, before_values))
    assert result.bytes_after == sum(map(len, after_values)) < result.bytes_before * 0.7
    assert result.snapshot_written
    # The writer continues, and fresh readers (with and without the snapshot) agree.
    tid = storage.create_new_trial(sid)
    assert storage.get_trial(tid).number == 40
    expected = picture(storage)
    fresh = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert picture(fresh) == expected
    for got, want in zip(fresh.get_all_trials(sid), storage.get_all_trials(sid), strict=True):
        assert_same_trial(got, want)
    client = redis.Redis.from_url(redis_url)
    client.delete(f"{redis_prefix}:trialstore:snapshot")
    client.close()
    assert picture(JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))) == (
        expected
    )
    # Compacting again folds the new trial in; nothing else changes.
    again = compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert again.records_before == again.records_after == len(real) + 1
    assert picture(JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))) == (
        expected
    )


def test_optuna_opens_the_compacted_journal(redis_url: str, redis_prefix: str) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages import JournalStorage as OptunaJournalStorage
    from optuna.storages.journal import JournalRedisBackend as OptunaRedisBackend

    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    rich_workload(storage, 30)
    before = picture(OptunaJournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix)))
    assert before == picture(storage)
    compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert STUB_RECORD.encode() in log_values(redis_url, redis_prefix)
    reopened = OptunaJournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix))
    assert picture(reopened) == before
    # Optuna keeps appending to the compacted journal, and trialstore reads its writes.
    study = optuna.load_study(study_name="rich", storage=reopened)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert picture(storage) == picture(reopened)


def test_compaction_refuses_while_optunas_snapshot_exists(
    redis_url: str, redis_prefix: str
) -> None:
    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    rich_workload(storage, 3)
    before = log_values(redis_url, redis_prefix)
    client = redis.Redis.from_url(redis_url)
    client.set(f"{redis_prefix}:snapshot", b"an optuna pickle")
    with pytest.raises(StorageInternalError, match="Optuna's snapshot key"):
        compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert client.get(f"{redis_prefix}:snapshot") == b"an optuna pickle"
    client.close()
    assert log_values(redis_url, redis_prefix) == before


def test_reader_inside_the_rewritten_range_reloads(redis_url: str, redis_prefix: str) -> None:
    writer = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    sid = writer.create_new_study([StudyDirection.MINIMIZE], "r")
    for i in range(5):
        writer.set_trial_state_values(writer.create_new_trial(sid), TrialState.COMPLETE, [i])
    reader = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert len(reader.get_all_trials(sid)) == 5
    position = reader.backend.position  # type: ignore[attr-defined]
    for i in range(5, 20):
        tid = writer.create_new_trial(sid)
        writer.set_trial_user_attr(tid, "i", i)
        writer.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
    compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    writer.create_new_trial(sid)  # a record after the compacted range
    # The reader had read only the first records: without resetting it would read stubs
    # instead of trials 5..19 and then the new trial with a wrong number.
    assert reader.backend.position == position  # type: ignore[attr-defined]
    assert picture(reader) == picture(writer)
    assert [t.number for t in reader.get_all_trials(sid)] == list(range(21))
    # A reader whose position is past the rewritten range keeps it (no reset).
    backend = reader.backend
    assert isinstance(backend, JournalRedisBackend)
    kept = backend.position[0]
    compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    writer.create_new_trial(sid)
    assert len(reader.get_all_trials(sid)) == 22
    assert backend.position[0] == kept + 1


def test_writer_behind_the_rewritten_range_gets_its_outcome(
    redis_url: str, redis_prefix: str
) -> None:
    first = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    sid = first.create_new_study([StudyDirection.MINIMIZE], "r")
    tid = first.create_new_trial(sid)
    for i in range(5):  # records that compaction folds into one
        first.set_trial_user_attr(tid, "i", i)
    second = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    expected_number = 1
    # A small gap (the append script sees the invalid position), a gap of more than one
    # reading batch (the writer's catch-up sees it), then a large gap without compaction.
    for trials, compact in ((100, True), (2500, True), (2500, False)):
        for _ in range(trials):
            second.create_new_trial(sid)
        expected_number += trials
        if compact:
            compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
        # ``first`` stands inside the rewritten keys; its write lands after them, and it
        # must reload instead of reading the rewritten keys after its position as new.
        tid = first.create_new_trial(sid)
        assert first.get_trial(tid).number == expected_number
        expected_number += 1
        assert picture(first) == picture(second)


class CompactedAfterAppend(JournalRedisBackend):
    """A backend whose appends are followed by a compaction before the writer reads on."""

    armed = False

    def append(self, records: list[dict[str, Any]]) -> bool:
        appended = super().append(records)
        if self.armed:
            compact_journal(JournalRedisBackend(self._url, prefix=self.prefix))
        return appended


def test_write_compacted_before_its_writer_read_it(redis_url: str, redis_prefix: str) -> None:
    backend = CompactedAfterAppend(redis_url, prefix=redis_prefix)
    first = JournalStorage(backend)
    sid = first.create_new_study([StudyDirection.MINIMIZE], "r")
    second = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    for i in range(30):
        second.set_trial_state_values(second.create_new_trial(sid), TrialState.COMPLETE, [i])
    backend.armed = True
    # The record and the 60 before it are rewritten right after the append: the writer got
    # them with its append and still learns its trial's id, then reloads for the next read.
    tid = first.create_new_trial(sid)
    backend.armed = False
    assert first.get_trial(tid).number == 30
    second.create_new_trial(sid)
    assert picture(first) == picture(second)
    assert [t.number for t in first.get_all_trials(sid)] == list(range(32))


def _busy_redis_writer(url: str, prefix: str, name: str, n: int, acks: Any) -> None:
    storage = JournalStorage(JournalRedisBackend(url, prefix=prefix))
    sid = storage.get_study_id_from_name("load")
    done = []
    for i in range(n):
        tid = storage.create_new_trial(sid)
        storage.set_trial_param(tid, "x", i / n, FloatDistribution(0, 1))
        storage.set_trial_user_attr(tid, "token", f"{name}-{i}")
        storage.set_trial_intermediate_value(tid, 0, float(i))
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i)])
        done.append((tid, f"{name}-{i}", float(i)))
        if i % 10 == 0:
            storage.get_all_trials(sid, deepcopy=False)
    acks.put(done)


def test_compaction_while_writers_run_loses_nothing(redis_url: str, redis_prefix: str) -> None:
    JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix)).create_new_study(
        [StudyDirection.MINIMIZE], "load"
    )
    reader = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    ctx = multiprocessing.get_context("spawn")
    acks = ctx.Queue()
    procs = [
        ctx.Process(target=_busy_redis_writer, args=(redis_url, redis_prefix, f"w{i}", 150, acks))
        for i in range(3)
    ]
    for p in procs:
        p.start()
    client = redis.Redis.from_url(redis_url)
    while int(client.get(f"{redis_prefix}:log_number") or -1) < 200:
        time.sleep(0.01)
    compactions: list[CompactionResult] = []
    while_running = 0
    while any(p.is_alive() for p in procs) or len(compactions) < 3:
        running = all(p.is_alive() for p in procs)
        compactions.append(compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix)))
        while_running += running and all(p.is_alive() for p in procs)
        reader.get_all_trials(0, deepcopy=False)
        time.sleep(0.05)
    done = [acks.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    client.close()
    fresh = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    trials = fresh.get_all_trials(0)
    assert [t.number for t in trials] == list(range(450))  # dense, nothing created twice
    by_id = {t._trial_id: t for t in trials}
    for tid, token, value in (item for batch in done for item in batch):
        trial = by_id[tid]
        assert trial.user_attrs == {"token": token}
        assert trial.values == [value] and trial.intermediate_values == {0: value}
        assert trial.state == TrialState.COMPLETE
    assert picture(reader) == picture(fresh)
    assert while_running >= 2, "the workers finished before the compactions"
    assert any(c.records_after < c.records_before for c in compactions)
    final = compact_journal(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert final.records_after == 1 + 450
    assert picture(JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))) == (
        picture(fresh)
    )


def test_cli_compacts_a_redis_journal(
    redis_url: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from trialstore.cli import main

    url = f"journal+redis://{redis_url.split('://', 1)[1]}?prefix={redis_prefix}"
    assert main(["journal", "compact", "--storage", url]) == 1  # nothing there: none created
    assert "no storage at" in capsys.readouterr().err
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"{redis_prefix}*")) == []
    client.close()
    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    rich_workload(storage, 5)
    expected = picture(storage)
    assert main(["journal", "compact", "--storage", url]) == 0
    out = capsys.readouterr().out
    assert (
        f"{len(log_values(redis_url, redis_prefix))} records (" in out and "-> 12 records" in out
    )
    assert picture(JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))) == expected


def test_a_failed_read_keeps_the_records_its_append_fetched(
    redis_url: str, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An append returns, atomically, the records other writers appended since this object's
    last read; if the read that applies them then fails (a network partition in the stress
    suite), the next read must still deliver them, or this object's view loses them forever."""
    ours = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    theirs = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    study_id = ours.create_new_study([StudyDirection.MINIMIZE], "cut")
    for _ in range(3):
        theirs.create_new_trial(study_id)
    real = JournalRedisBackend._read_into
    cuts: list[int] = []

    def cut_once(self: JournalRedisBackend, out: Any, limit: Any) -> bool:
        if not cuts:
            cuts.append(1)
            raise redis.exceptions.ConnectionError("the link was cut")
        return real(self, out, limit)

    monkeypatch.setattr(JournalRedisBackend, "_read_into", cut_once)
    with pytest.raises(StorageInternalError, match="the link was cut"):
        ours.create_new_trial(study_id)
    monkeypatch.undo()
    assert cuts
    expected = theirs.get_all_trials(study_id)
    assert len(expected) == 4
    got = ours.get_all_trials(study_id)
    assert [t._trial_id for t in got] == [t._trial_id for t in expected]
    assert ours.create_new_trial(study_id) == theirs.create_new_trial(study_id) - 1
