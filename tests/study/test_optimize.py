"""Study.optimize: threads, catch, timeout, callbacks, progress bar, pruning."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import trialstore
from trialstore.exceptions import TrialPruned
from trialstore.study import _optimize
from trialstore.trial import FrozenTrial, TrialState


def _study(**kwargs: object) -> trialstore.Study:
    return trialstore.create_study(
        sampler=trialstore.samplers.RandomSampler(seed=0),
        **kwargs,  # type: ignore[arg-type]
    )


def test_n_jobs_4_failing_objective_with_catch_runs_every_trial() -> None:
    study = _study()
    names: set[str] = set()
    lock = threading.Lock()

    def objective(trial: trialstore.Trial) -> float:
        with lock:
            names.add(threading.current_thread().name)
        x = trial.suggest_float("x", 0, 1)
        time.sleep(0.002)
        if trial.number % 3 == 0:
            raise ZeroDivisionError("boom")
        return x

    study.optimize(objective, n_trials=40, n_jobs=4, catch=(ZeroDivisionError,))
    trials = study.trials
    assert [t.number for t in trials] == list(range(40))
    assert {t.number for t in trials if t.state == TrialState.FAIL} == set(range(0, 40, 3))
    assert all(t.state == TrialState.COMPLETE for t in trials if t.number % 3)
    assert len(names) > 1 and all(n.startswith("ThreadPoolExecutor-") for n in names)


@pytest.mark.parametrize("n_jobs", [2, 4])
def test_each_thread_runs_a_trial_when_there_are_enough(n_jobs: int) -> None:
    # A long switch interval lets the first thread past the start run every short trial
    # before the others are scheduled, unless each thread holds its first trial beforehand.
    threads: set[str] = set()
    lock = threading.Lock()

    def objective(trial: trialstore.Trial) -> float:
        with lock:
            threads.add(threading.current_thread().name)
        return trial.suggest_float("x", 0, 1)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    try:
        _study().optimize(objective, n_trials=3 * n_jobs, n_jobs=n_jobs)
    finally:
        sys.setswitchinterval(interval)
    assert len(threads) == n_jobs


def test_uncaught_error_is_reraised_and_stops_other_threads() -> None:
    study = _study()

    def objective(trial: trialstore.Trial) -> float:
        time.sleep(0.002)
        if trial.number == 5:
            raise KeyError("stop here")
        return 1.0

    with pytest.raises(KeyError, match="stop here"):
        study.optimize(objective, n_trials=1000, n_jobs=4)
    trials = study.trials
    assert len(trials) < 1000
    assert trials[5].state == TrialState.FAIL
    assert all(t.state.is_finished() for t in trials)


def test_catch_accepts_single_class_and_rejects_non_exceptions() -> None:
    study = _study()

    def objective(trial: trialstore.Trial) -> float:
        raise ValueError("x")

    study.optimize(objective, n_trials=2, catch=ValueError)
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    with pytest.raises(TypeError):
        study.optimize(objective, n_trials=1, catch=(1,))  # type: ignore[arg-type]


def test_invalid_n_jobs_and_n_trials() -> None:
    study = _study()
    with pytest.raises(ValueError):
        study.optimize(lambda t: 0.0, n_trials=1, n_jobs=0)
    with pytest.raises(ValueError):
        study.optimize(lambda t: 0.0, n_trials=-1)


def test_n_jobs_minus_one_uses_cpu_count() -> None:
    study = _study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=10, n_jobs=-1)
    assert len(study.trials) == 10


class _FakeClock:
    """Stands in for the ``time`` module of the optimize loop: a ``monotonic`` clock that
    only the objective moves."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> float:
        with self.lock:
            self.now += seconds
            return self.now


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_timeout_stops_starting_new_trials(monkeypatch: pytest.MonkeyPatch, n_jobs: int) -> None:
    clock = _FakeClock()
    monkeypatch.setattr(_optimize, "time", clock)
    study = _study()
    started: list[float] = []

    def objective(trial: trialstore.Trial) -> float:
        started.append(clock.monotonic())
        clock.advance(0.0625)  # exact in binary, as are the sums below
        return 0.0

    study.optimize(objective, timeout=0.25, n_jobs=n_jobs)
    # Each thread takes a trial while the clock is before the deadline (1000.25), and no
    # trial after it: 4 trials, plus at most one each for the other threads that took one in
    # the last step before the deadline.
    assert clock.monotonic() >= 1000.25
    assert 4 <= len(started) <= 4 + n_jobs - 1
    if n_jobs == 1:
        assert started == [1000.0, 1000.0625, 1000.125, 1000.1875]
    assert len(study.trials) == len(started)


def test_callbacks_get_finished_copies_and_gc_flag() -> None:
    study = _study()
    seen: list[FrozenTrial] = []
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1),
        n_trials=5,
        callbacks=[lambda s, t: seen.append(t)],
        gc_after_trial=True,
    )
    assert sorted(t.number for t in seen) == list(range(5))
    assert all(t.state == TrialState.COMPLETE for t in seen)


def test_progress_bar_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    study = _study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5, show_progress_bar=True)
    assert "5/5" in capsys.readouterr().err


def test_nested_optimize_is_rejected() -> None:
    study = _study()

    def objective(trial: trialstore.Trial) -> float:
        study.optimize(lambda t: 0.0, n_trials=1)
        return 0.0

    with pytest.raises(RuntimeError, match="Nested"):
        study.optimize(objective, n_trials=1)


def test_optimize_claims_enqueued_trials_first_in_threads() -> None:
    study = _study()
    for i in range(8):
        study.enqueue_trial({"x": i / 10})
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=10, n_jobs=4)
    trials = study.trials
    assert len(trials) == 10
    assert [t.params["x"] for t in trials[:8]] == [i / 10 for i in range(8)]
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_pruning_with_median_pruner() -> None:
    study = trialstore.create_study(
        sampler=trialstore.samplers.RandomSampler(seed=0),
        pruner=trialstore.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )

    def objective(trial: trialstore.Trial) -> float:
        bad = trial.number >= 3 and trial.number % 2 == 1
        for step in range(4):
            trial.report(10.0 + step if bad else 1.0 / (step + 1), step)
            if trial.should_prune():
                raise TrialPruned(f"step {step}")
        return 1.0

    study.optimize(objective, n_trials=8)
    states = [t.state for t in study.trials]
    assert states[:3] == [TrialState.COMPLETE] * 3
    for number in (3, 5, 7):
        assert states[number] == TrialState.PRUNED
        assert study.trials[number].value == 11.0
    assert states[4] == states[6] == TrialState.COMPLETE


def test_objective_returning_none_or_nan_fails_without_raising() -> None:
    study = _study()
    study.optimize(lambda t: None, n_trials=1)  # type: ignore[arg-type,return-value]
    study.optimize(lambda t: float("nan"), n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.FAIL]


def test_multi_objective_optimize() -> None:
    study = _study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=4, n_jobs=2)
    assert all(len(t.values or ()) == 2 for t in study.trials)
    assert study.best_trials


def test_max_trials_callback_counts_completed_trials() -> None:
    study = _study()

    def objective(trial: trialstore.Trial) -> float:
        if trial.number % 2:
            raise TrialPruned()
        return 0.0

    callback = trialstore.study.MaxTrialsCallback(3)
    study.optimize(objective, n_trials=100, callbacks=[callback])
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert len(study.trials) == 5
