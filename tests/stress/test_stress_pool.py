"""The worker pool: workers forked by a zygote, or fresh processes; kills, exits, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import _pool, load_history
from trialstore.stress._pool import WorkerPool, WorkerSlot
from trialstore.stress._procs import gone, processes, state
from trialstore.stress._target import StorageTarget
from trialstore.stress._workload import WorkloadConfig
from trialstore.stress._zygote import ZYGOTE_MAIN, Zygote, ZygoteChild

pytestmark = pytest.mark.timeout(120)


def _config(run: Path, duration: float) -> dict[str, Any]:
    for sub in ("history", "ready"):
        (run / sub).mkdir(exist_ok=True)
    target = StorageTarget(f"journal://{run}/journal.log")
    return {
        "target": target.to_json(),
        "workload": asdict(WorkloadConfig(run_id="pool")),
        "history_dir": str(run / "history"),
        "duration_s": duration,
        "ready_dir": str(run / "ready"),
        "start_file": str(run / "start"),
    }


def _until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _ready(pool: WorkerPool, slot: WorkerSlot) -> bool:
    assert slot.proc is not None
    return (pool.run_dir / "ready" / f"{slot.name}.{slot.proc.pid}").exists()


def _start_clock(run: Path) -> None:
    (run / "start").write_text(str(time.monotonic_ns()))


def _acknowledged(run: Path) -> set[str]:
    """Workers with an acknowledged operation in their history."""
    return {op.worker for op in load_history(run / "history") if op.outcome == "ok"}


def _holds_a_lock(pid: int) -> bool:
    """Whether ``pid`` holds a file lock (``flock`` or POSIX), as /proc/locks lists them."""
    return any(
        line.split()[4] == str(pid)
        for line in Path("/proc/locks").read_text().splitlines()
        if "->" not in line  # a waiter, not a holder
    )


def _stop_outside_the_lock(pid: int) -> None:
    """SIGSTOP ``pid`` at a moment it holds no lock (the journal's append lock).

    A worker stopped while it appends would block every other worker on the lock until the
    end of the test, so a stop that lands inside the lock is undone and tried again.
    """
    for _ in range(1000):
        os.kill(pid, signal.SIGSTOP)
        _until(lambda: state(pid) == "T")
        if not _holds_a_lock(pid):
            return
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.001)
    raise AssertionError(f"worker {pid} held a lock at each of 1000 stops")


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def test_zygote_workers_are_processes_that_run_die_and_stop(tmp_path: Path) -> None:
    pool = WorkerPool(tmp_path, [_config(tmp_path, duration=4.0)], [[]], 2, seed=1, zygote=True)
    try:
        pool.start_all()
        (zygote,) = pool.zygote_pids().values()
        _until(lambda: all(_ready(pool, s) for s in pool.slots))
        for slot in pool.slots:
            assert isinstance(slot.proc, ZygoteChild)
            assert slot.proc.pid not in (os.getpid(), zygote)
            assert _ppid(slot.proc.pid) == zygote  # forked by the zygote: a process of its own
        _start_clock(tmp_path)
        victim, stopped = pool.slots
        assert victim.proc is not None and stopped.proc is not None
        old, old_name = victim.proc, victim.name
        _until(lambda: _acknowledged(tmp_path) >= {old_name, stopped.name})
        _stop_outside_the_lock(stopped.proc.pid)  # stays stopped past the run's end
        pool.kill(victim)
        assert old.poll() == -9 and old.wait(timeout=0) == -9 and old.returncode == -9
        assert victim.name != old_name and victim.proc is not old
        _until(lambda: _ready(pool, victim))  # the replacement
        assert victim.proc.wait(timeout=30) == 0  # ran to the run's end (start + 4 s)
        with pytest.raises(subprocess.TimeoutExpired):
            stopped.proc.wait(timeout=0.05)
        assert stopped.proc.poll() is None
        assert pool.stop_all() == []  # SIGCONT, SIGTERM: its handler ends it with 0
        assert pool.exits == {old_name: -9, victim.name: 0, stopped.name: 0}
    finally:
        pool.kill_all()
        pool.kill_all()  # idempotent (the runner calls it after stop_all)
    assert (tmp_path / "history" / f"{victim.name}.jsonl").exists()
    assert not processes(cmdline=str(tmp_path))
    assert gone(zygote)


def test_exit_codes_of_zygote_children_and_death_with_the_zygote(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_config(tmp_path, duration=1.0)))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # a worker reading its configuration from it blocks before any handler
    (tmp_path / "bad.json").write_text("{}")
    with open(tmp_path / "log", "ab") as log:
        zygote = Zygote([sys.executable, "-c", ZYGOTE_MAIN, str(config)], log)
        try:
            zygote.wait_ready()
            crash = zygote.start([str(tmp_path / "bad.json"), "bad", "1"])
            assert crash.wait(timeout=30) == 1  # an uncaught exception, as the interpreter
            term = zygote.start([str(fifo), "term", "1"])
            with pytest.raises(subprocess.TimeoutExpired):
                term.wait(timeout=0.2)
            assert term.poll() is None
            term.terminate()
            assert term.wait(timeout=30) == -signal.SIGTERM
            kill = zygote.start([str(fifo), "kill", "1"])
            kill.kill()
            assert kill.wait(timeout=30) == -signal.SIGKILL
            # The zygote dies (as if SIGKILLed with the harness): its children die with it.
            orphans = [zygote.start([str(fifo), f"orphan{i}", "1"]) for i in range(2)]
            os.kill(zygote.pid, signal.SIGKILL)
            for child in orphans:
                assert child.wait(timeout=30) == -signal.SIGKILL
                assert gone(child.pid)
            assert not zygote.alive
        finally:
            zygote.close()
    assert "KeyError" in (tmp_path / "log").read_text()
    assert not processes(cmdline=str(config))


def test_fresh_processes_without_zygote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_pool.ZYGOTE_ENV, "0")
    pool = WorkerPool(tmp_path, [_config(tmp_path, duration=60.0)], [[]], 1, seed=3)
    assert pool.zygote is False
    try:
        pool.start_all()
        (slot,) = pool.slots
        assert isinstance(slot.proc, subprocess.Popen) and not pool.zygote_pids()
        _until(lambda: _ready(pool, slot))
        old = slot.proc
        pool.kill(slot, respawn=False)
        assert old.returncode == -9
    finally:
        pool.kill_all()
    assert not processes(cmdline=str(tmp_path))


def test_a_zygote_that_does_not_start_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_pool, "ZYGOTE_MAIN", "import sys; sys.exit(3)")
    pool = WorkerPool(tmp_path, [_config(tmp_path, duration=60.0)], [[]], 1, seed=4, zygote=True)
    try:
        pool.start_all()
        (slot,) = pool.slots
        assert isinstance(slot.proc, subprocess.Popen) and not pool.zygote_pids()
    finally:
        pool.kill_all()
    assert "no zygote" in (tmp_path / "workers.log").read_text()
    assert not processes(cmdline=str(tmp_path))


def test_a_worker_that_dies_on_its_own_is_logged(tmp_path: Path) -> None:
    """A worker killed by something other than the pool is not replaced; workers.log says so,
    with the signal (an aborted journal full tier once lost 30 workers at one instant, and
    nothing recorded how)."""
    pool = WorkerPool(tmp_path, [_config(tmp_path, duration=30.0)], [[]], 1, seed=1, zygote=True)
    try:
        pool.start_all()
        (slot,) = pool.slots
        _until(lambda: _ready(pool, slot))
        assert slot.proc is not None
        os.kill(slot.proc.pid, signal.SIGKILL)
        _until(lambda: slot.proc is not None and slot.proc.poll() is not None)
        pool.reap()
        pool.reap()  # once
        assert pool.exits == {slot.name: -9}
        log = (tmp_path / "workers.log").read_text()
        assert log.count(f"worker {slot.name} exited on its own (signal SIGKILL)") == 1
    finally:
        pool.kill_all()
