"""The journal Redis backend (trialstore/storage/journal/_redis.py) on the real server."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import pytest

from trialstore.exceptions import StorageInternalError
from trialstore.storage import get_storage
from trialstore.storage.journal import JournalRedisBackend, JournalStorage, compact_journal
from trialstore.study._direction import StudyDirection
from trialstore.trial._state import TrialState

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
