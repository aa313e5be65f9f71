"""The workers' operation mix (trialstore/stress/_workload.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trialstore.storage import InMemoryStorage
from trialstore.stress._history import FAIL, OK, HistoryWriter, load_history
from trialstore.stress._workload import WorkloadConfig, run_workload
from trialstore.study import StudyDirection
from trialstore.trial import TrialState, create_trial

MIN = [StudyDirection.MINIMIZE]


class _NoStudyList(InMemoryStorage):
    def get_all_studies(self) -> Any:
        raise ConnectionError("cut off")


def _first_study_of_a_new_worker(storage: InMemoryStorage, tmp_path: Path) -> str:
    path = tmp_path / "w.jsonl"
    history = HistoryWriter(path, "w0")
    steps = iter(range(3))
    run_workload(
        storage, history, WorkloadConfig(run_id="r"), 1, lambda: next(steps, None) is None
    )
    history.close()
    invokes = [json.loads(line) for line in path.read_text().splitlines()]
    names = [r["a"]["name"] for r in invokes if r.get("op") in ("create_study", "get_study_id")]
    return str(names[0])


@pytest.mark.parametrize(
    ("existing", "joins"),
    [
        ([], "r-s0"),
        (["r-s0", "r-s1", "r-s3", "r-s2"], "r-s3"),
        (["r-s0", "r-s1", "rr-s7", "r-sx", "r-s1-old"], "r-s1"),
    ],
)
def test_a_new_worker_joins_the_runs_newest_study(
    tmp_path: Path, existing: list[str], joins: str
) -> None:
    """A worker that starts late (a replacement of a killed one) works in the newest study
    of its run, instead of walking every earlier one (each of which would keep growing)."""
    storage = InMemoryStorage()
    for name in existing:
        storage.create_new_study(MIN, name)
    assert _first_study_of_a_new_worker(storage, tmp_path) == joins


def test_a_worker_that_cannot_list_studies_starts_at_the_first(tmp_path: Path) -> None:
    storage = _NoStudyList()
    storage.create_new_study(MIN, "r-s4")
    assert _first_study_of_a_new_worker(storage, tmp_path) == "r-s0"


def test_half_of_the_creates_go_through_create_trial_or_list_waiting(tmp_path: Path) -> None:
    """A worker creates trials with create_new_trial and, as the study layer does, with
    create_trial_or_list_waiting. While a trial is WAITING the latter creates nothing: the
    worker records a clean failure (no effect for the checkers), not a create, and may claim
    the listed trial; once it is claimed, those calls create trials."""
    storage = InMemoryStorage()
    study_id = storage.create_new_study(MIN, "r-s0")
    waiting = storage.create_new_trial(study_id, create_trial(state=TrialState.WAITING))
    history = HistoryWriter(tmp_path / "w0.jsonl", "w0")
    steps = iter(range(80))
    weights = {"create_trial": 1.0, "claim": 0.2}
    config = WorkloadConfig(run_id="r", max_open=100, weights=weights)
    run_workload(storage, history, config, 3, lambda: next(steps, None) is None)
    history.close()
    ops = load_history(tmp_path)
    creates = [op for op in ops if op.op == "create_trial"]
    listed = [op for op in creates if op.args["or_list"] and op.outcome == FAIL]
    assert listed and all(str(op.error).startswith("WaitingListed") for op in listed)
    (claim,) = [op for op in ops if op.op == "claim"]
    assert claim.args["t"] == waiting and claim.result is True
    assert all(op.outcome == OK for op in creates if op not in listed)
    assert all(op.t1 < claim.t0 for op in listed)
    assert any(op.args["or_list"] and op.t0 > claim.t1 for op in creates if op not in listed)
    created = {t._trial_id for t in storage.get_all_trials(study_id)} - {waiting}
    assert created == {op.result for op in creates if op not in listed}
