"""The journal file backend: the appends of one trial, and the system calls that write,
flush and read for them, counted exactly in both ``param_writes`` modes
(docs/performance.md, "Round trips per trial").

A trial of the bench's shape (5 float parameters, then ``tell``; and the same with 2
intermediate values reported) runs in a study that already has trials. Each append is one
``write`` of its records (all of a batch's in one), after a one-byte read that checks the
file ends with a whole line (a writer that died mid-line is cut off first), and one
``fsync`` when the backend was opened with ``fsync=True``. No other reads: a single
writer's own appends are already in its state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from _one_trial import N_PARAMS, objective

import trialstore
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.storage.journal._records import JournalOp

CREATE = JournalOp.CREATE_TRIAL
PARAM = JournalOp.SET_TRIAL_PARAM
INTERMEDIATE = JournalOp.SET_TRIAL_INTERMEDIATE_VALUE
FINISH = JournalOp.SET_TRIAL_STATE_VALUES
#: (param_writes, intermediate values reported) -> the records of each append: the create,
#: then (immediate) one per parameter and intermediate value, and the finish; with at_tell
#: the parameters in one append, written before the first report or the finish.
EXPECTED = {
    ("immediate", 0): [[CREATE]] + [[PARAM]] * N_PARAMS + [[FINISH]],
    ("at_tell", 0): [[CREATE], [PARAM] * N_PARAMS, [FINISH]],
    ("immediate", 2): [[CREATE]] + [[PARAM]] * N_PARAMS + [[INTERMEDIATE]] * 2 + [[FINISH]],
    ("at_tell", 2): [[CREATE], [PARAM] * N_PARAMS, [INTERMEDIATE], [INTERMEDIATE], [FINISH]],
}


class Calls:
    """The appends (each a list of its records' kinds) and system calls of one trial."""

    def __init__(self) -> None:
        self.appends: list[list[JournalOp]] = []
        self.writes = 0
        self.fsyncs = 0
        self.reads = 0


def _count(monkeypatch: pytest.MonkeyPatch, calls: Calls) -> None:
    append = JournalFileBackend.append
    write, fsync, pread, read = os.write, os.fsync, os.pread, os.read

    def counted_append(self: JournalFileBackend, records: list[dict[str, Any]]) -> bool:
        calls.appends.append([JournalOp(r["op_code"]) for r in records])
        return append(self, records)

    def counted_write(fd: int, data: Any) -> int:
        calls.writes += 1
        return write(fd, data)

    def counted_fsync(fd: Any) -> None:
        calls.fsyncs += 1
        fsync(fd)

    def counted_pread(fd: int, n: int, offset: int) -> bytes:
        calls.reads += 1
        return pread(fd, n, offset)

    def counted_read(fd: int, n: int) -> bytes:
        calls.reads += 1
        return read(fd, n)

    monkeypatch.setattr(JournalFileBackend, "append", counted_append)
    monkeypatch.setattr(os, "write", counted_write)
    monkeypatch.setattr(os, "fsync", counted_fsync)
    monkeypatch.setattr(os, "pread", counted_pread)
    monkeypatch.setattr(os, "read", counted_read)


@pytest.mark.usefixtures("quiet")
@pytest.mark.parametrize("fsync", [False, True])
@pytest.mark.parametrize(("mode", "reports"), sorted(EXPECTED))
def test_appends_of_one_trial(tmp_path: Path, fsync: bool, mode: str, reports: int) -> None:
    backend = JournalFileBackend(str(tmp_path / "journal.log"), fsync=fsync)
    study = trialstore.create_study(
        storage=JournalStorage(backend),
        sampler=trialstore.samplers.RandomSampler(seed=0),
        param_writes=mode,  # type: ignore[arg-type]  # one of the two, from EXPECTED
    )
    run_trial = objective(reports)
    study.optimize(run_trial, n_trials=3)  # a study that has trials
    calls = Calls()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _count(monkeypatch, calls)
        study.optimize(run_trial, n_trials=1)
    trial = study.trials[-1]
    assert len(trial.params) == N_PARAMS and len(trial.intermediate_values) == reports
    expected = EXPECTED[(mode, reports)]
    assert calls.appends == expected
    assert calls.writes == len(expected)
    assert calls.reads == len(expected)
    assert calls.fsyncs == (len(expected) if fsync else 0)
