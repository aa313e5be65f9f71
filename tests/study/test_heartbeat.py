"""Heartbeats in optimize, failing stale trials, RetryFailedTrialCallback (InMemoryStorage)."""

from __future__ import annotations

import logging
import time

import pytest

import trialstore
from trialstore.exceptions import StorageInternalError
from trialstore.storage import (
    InMemoryStorage,
    RetryFailedTrialCallback,
    RetryHeartbeatStaleTrialCallback,
)
from trialstore.study._heartbeat import fail_stale_trials
from trialstore.trial import FrozenTrial, TrialState


def _abandoned_trial(study: trialstore.Study) -> trialstore.Trial:
    """A RUNNING trial that beat once and whose worker then 'died'."""
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.report(0.5, step=1)
    study._storage.record_heartbeat(trial._trial_id)
    return trial


def test_running_trial_keeps_beating_while_objective_runs() -> None:
    storage = InMemoryStorage(heartbeat_interval=0.02, grace_period=0.1)
    study = trialstore.create_study(storage=storage)
    stale_seen: list[list[int]] = []

    def objective(trial: trialstore.Trial) -> float:
        for _ in range(5):
            time.sleep(0.05)
            stale_seen.append(storage.get_stale_trial_ids(study._study_id))
        return 0.0

    study.optimize(objective, n_trials=1)
    assert stale_seen == [[]] * 5
    assert study.trials[0].state == TrialState.COMPLETE


def test_stale_trial_failed_before_next_trial_and_retried_by_study_callback() -> None:
    storage = InMemoryStorage(heartbeat_interval=0.01, grace_period=0.05)
    study = trialstore.create_study(
        storage=storage,
        sampler=trialstore.samplers.RandomSampler(seed=0),
        failed_trial_callback=RetryFailedTrialCallback(inherit_intermediate_values=True),
    )
    abandoned = _abandoned_trial(study)
    x = abandoned.params["x"]
    time.sleep(0.1)
    seen: list[FrozenTrial] = []
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1), n_trials=1, callbacks=[lambda s, t: seen.append(t)]
    )
    trials = study.trials
    assert trials[0].state == TrialState.FAIL
    retry = trials[1]
    assert retry.state == TrialState.COMPLETE
    assert retry.params == {"x": x}
    assert retry.system_attrs["failed_trial"] == 0
    assert retry.system_attrs["retry_history"] == [0]
    assert retry.intermediate_values == {1: 0.5}
    assert RetryFailedTrialCallback.retried_trial_number(retry) == 0
    assert RetryFailedTrialCallback.retry_history(retry) == [0]
    assert [t.number for t in seen] == [1]


def test_retry_chain_keeps_original_and_respects_max_retry() -> None:
    storage = InMemoryStorage(heartbeat_interval=0.01, grace_period=0.03)
    callback = RetryHeartbeatStaleTrialCallback(max_retry=1)
    study = trialstore.create_study(storage=storage, failed_trial_callback=callback)
    _abandoned_trial(study)
    time.sleep(0.06)
    fail_stale_trials(study)  # trial 0 fails, retry 1 enqueued
    retry = study.ask()  # claims trial 1 and abandons it too
    assert retry.number == 1
    storage.record_heartbeat(retry._trial_id)
    time.sleep(0.06)
    fail_stale_trials(study)  # max_retry reached: no new trial
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert trials[1].system_attrs["retry_history"] == [0]


def test_storage_attribute_callback_is_used() -> None:
    storage = InMemoryStorage(heartbeat_interval=0.01, grace_period=0.03)
    calls: list[int] = []
    storage.failed_trial_callback = lambda study, trial: calls.append(trial.number)  # type: ignore[attr-defined]
    study = trialstore.create_study(storage=storage)
    _abandoned_trial(study)
    time.sleep(0.06)
    study.optimize(lambda t: 0.0, n_trials=1)
    assert calls == [0]


def test_no_heartbeat_storage_never_fails_running_trials() -> None:
    study = trialstore.create_study()
    study.ask()
    study.optimize(lambda t: 0.0, n_trials=1)
    assert [t.state for t in study.trials] == [TrialState.RUNNING, TrialState.COMPLETE]


def test_optimize_goes_on_when_failing_stale_trials_has_an_unknown_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A fail_stale_trials call whose outcome is unknown (StorageInternalError: e.g. sent
    again to a restarted gRPC proxy) does not stop optimize: it logs a warning."""

    class Unsure(InMemoryStorage):
        def fail_stale_trials(self, study_id: int) -> list[int]:
            super().fail_stale_trials(study_id)
            raise StorageInternalError("which trials were failed is not known")

    storage = Unsure(heartbeat_interval=0.01, grace_period=0.05)
    study = trialstore.create_study(storage=storage)
    _abandoned_trial(study)
    time.sleep(0.1)
    with caplog.at_level(logging.WARNING, logger="trialstore"):
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAIL, *[TrialState.COMPLETE] * 2]
    assert "without their callback" in caplog.text
