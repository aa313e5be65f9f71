"""Heartbeats on journals (Optuna has none there): a killed worker's trial is failed within the
grace period, and Optuna still opens the journal."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.study import StudyDirection
from trialstore.trial import TrialState


def beating_worker(path: str, ready: multiprocessing.synchronize.Event) -> None:
    storage = JournalStorage(JournalFileBackend(path), heartbeat_interval=0.1)
    tid = storage.create_new_trial(0)
    while True:
        storage.record_heartbeat(tid)
        ready.set()
        time.sleep(0.1)


def test_killed_worker_trial_is_failed_within_grace_period(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    storage = JournalStorage(JournalFileBackend(path), heartbeat_interval=0.1, grace_period=0.5)
    storage.create_new_study([StudyDirection.MINIMIZE], "hb")
    idle = storage.create_new_trial(0)  # RUNNING but never beats: never stale
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=beating_worker, args=(path, ready))
    proc.start()
    assert ready.wait(30)
    time.sleep(0.6)
    assert storage.get_stale_trial_ids(0) == []  # alive and beating
    proc.kill()
    proc.join()
    killed_at = time.time()
    deadline = killed_at + 10
    failed: list[int] = []
    while not failed and time.time() < deadline:
        failed = storage.fail_stale_trials(0)
        time.sleep(0.05)
    assert len(failed) == 1
    assert time.time() - killed_at < 0.5 + 0.1 + 2.0  # grace period plus slack for a busy box
    assert storage.get_trial(failed[0]).state == TrialState.FAIL
    assert storage.get_trial(idle).state == TrialState.RUNNING
    other = JournalStorage(JournalFileBackend(path), heartbeat_interval=0.1, grace_period=0.5)
    assert other.fail_stale_trials(0) == []  # failed once, by one caller

    heartbeat_lines = [
        json.loads(line) for line in Path(path).read_text().splitlines() if "heartbeat" in line
    ]
    assert heartbeat_lines and all(r["op_code"] == 10 for r in heartbeat_lines)
    optuna = pytest.importorskip("optuna")
    theirs = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    states = [t.state.value for t in theirs.get_all_trials(0)]
    assert states == [int(t.state) for t in storage.get_all_trials(0)]
    assert all("trialstore" not in key for t in theirs.get_all_trials(0) for key in t.system_attrs)
