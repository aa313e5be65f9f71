"""Tests of trialstore.interop.optuna: Optuna studies on trialstore storages and back."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")

from optuna.storages import BaseStorage as OptunaBaseStorage  # noqa: E402
from optuna.storages import RetryHeartbeatStaleTrialCallback  # noqa: E402
from optuna.storages._heartbeat import BaseHeartbeat  # noqa: E402
from optuna.trial import TrialState as OptunaState  # noqa: E402

from trialstore import exceptions as ts_errors  # noqa: E402
from trialstore.distributions import FloatDistribution  # noqa: E402
from trialstore.interop.optuna import from_optuna, to_optuna  # noqa: E402
from trialstore.storage import BaseStorage, InMemoryStorage  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import FrozenTrial, TrialState  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings(
    "ignore::optuna.exceptions.ExperimentalWarning",
    "ignore:Heartbeat of storage is supposed to be used with Study.optimize:UserWarning",
)


def _objective(trial: Any) -> float:
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 8, log=True)
    c = trial.suggest_categorical("c", ["a", "b", None])
    for step in range(3):
        trial.report(x * step, step)
    trial.set_user_attr("c_is_none", c is None)
    return float((x - 2) ** 2 + n)


def test_optimize_with_threads_on_every_backend(ts_backend: Any) -> None:
    ts = ts_backend()
    storage = to_optuna(ts)
    study = optuna.create_study(storage=storage, study_name="threads")
    study.enqueue_trial({"x": 2.0, "n": 1, "c": "a"})
    study.optimize(_objective, n_trials=16, n_jobs=4)

    trials = study.get_trials()
    assert sorted(t.number for t in trials) == list(range(16))
    assert all(t.state == OptunaState.COMPLETE for t in trials)
    enqueued = trials[0]
    assert enqueued.params == {"x": 2.0, "n": 1, "c": "a"}
    assert enqueued.value == 1.0
    assert study.best_value == 1.0
    # Everything Optuna wrote is in the trialstore storage, in trialstore's types.
    study_id = ts.get_study_id_from_name("threads")
    stored = ts.get_all_trials(study_id)
    assert [t.number for t in stored] == list(range(16))
    assert stored[0].params == {"x": 2.0, "n": 1, "c": "a"}
    assert stored[0].intermediate_values == {0: 0.0, 1: 2.0, 2: 4.0}
    assert isinstance(stored[0].state, TrialState)
    assert stored[0].distributions["x"] == FloatDistribution(-10, 10)


#: Enqueued values, each outside the range (or grid) of the suggest_* call that reads it.
_OUT_OF_RANGE = {"x": 100.0, "n": 64, "k": 3, "s": 0.25, "i": 2.5}


def _out_of_range_objective(trial: Any) -> float:
    return float(
        trial.suggest_float("x", 0, 10)
        + trial.suggest_int("n", 1, 8, log=True)
        + trial.suggest_int("k", 0, 10, step=2)
        + trial.suggest_float("s", 0, 1, step=0.5)
        + trial.suggest_int("i", 0, 10)
    )


def _run_recording_warnings(study: Any) -> list[str]:
    study.enqueue_trial(_OUT_OF_RANGE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(_out_of_range_objective, n_trials=1)
    return [str(w.message) for w in caught if w.category is UserWarning]


def test_enqueued_values_outside_the_range_are_used_on_every_backend(ts_backend: Any) -> None:
    """Optuna's study layer on to_optuna(...) of each backend runs the enqueued values as
    given, as it does on its own storages, and the backend stores them."""
    reference = optuna.create_study()
    expected_warnings = _run_recording_warnings(reference)
    [expected] = reference.trials
    assert expected.params == {"x": 100.0, "n": 64, "k": 3, "s": 0.25, "i": 2}
    assert len(expected_warnings) == 5

    ts = ts_backend()
    study = optuna.create_study(storage=to_optuna(ts), study_name="out-of-range")
    assert _run_recording_warnings(study) == expected_warnings
    [trial] = study.trials
    assert trial.state == OptunaState.COMPLETE
    assert trial.params == expected.params and trial.value == expected.value
    [stored] = ts.get_all_trials(ts.get_study_id_from_name("out-of-range"))
    assert stored.state == TrialState.COMPLETE
    assert stored.params == expected.params
    assert [type(v) for v in stored.params.values()] == [float, int, int, float, int]


def test_trialstore_study_layer_warns_and_uses_values_as_optuna_does() -> None:
    """trialstore's study layer: the same values, the same warnings as Optuna's."""
    import trialstore

    reference = optuna.create_study()
    expected_warnings = _run_recording_warnings(reference)
    study = trialstore.create_study()
    assert _run_recording_warnings(study) == expected_warnings
    [trial] = study.trials
    assert trial.state == TrialState.COMPLETE
    assert trial.params == reference.trials[0].params
    assert trial.value == reference.trials[0].value


def test_study_features_and_exceptions() -> None:
    ts = InMemoryStorage()
    storage = to_optuna(ts)
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(storage=storage, study_name="s")
    again = optuna.create_study(storage=storage, study_name="s", load_if_exists=True)
    assert again._study_id == study._study_id

    def objective(trial: Any) -> float:
        if trial.number == 1:
            trial.report(1.0, 0)
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise RuntimeError("boom")
        return float(trial.number)

    study.optimize(objective, n_trials=4, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states == [
        OptunaState.COMPLETE,
        OptunaState.PRUNED,
        OptunaState.FAIL,
        OptunaState.COMPLETE,
    ]
    assert study.best_trial.number == 3
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    study.set_user_attr("k", {"a": [1, 2]})
    assert ts.get_study_user_attrs(study._study_id) == {"k": {"a": [1, 2]}}

    finished = study.trials[0]._trial_id
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_user_attr(finished, "k", 1)
    with pytest.raises(KeyError):
        storage.get_trial(10_000)
    with pytest.raises(ValueError):
        storage.create_new_study([optuna.study.StudyDirection.NOT_SET])

    multi = optuna.create_study(storage=storage, directions=["minimize", "maximize"])
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=3)
    assert len(multi.best_trials) >= 1
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == [
        "s",
        multi.study_name,
    ]
    optuna.delete_study(study_name="s", storage=storage)
    assert [s.study_name for s in ts.get_all_studies()] == [multi.study_name]


def test_heartbeats_fail_stale_trials_and_call_the_callback(ts_backend: Any) -> None:
    grace = 0.6
    ts = ts_backend(heartbeat_interval=0.1, grace_period=grace)
    storage = to_optuna(
        ts, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1)
    )
    assert isinstance(storage, BaseHeartbeat)
    study = optuna.create_study(storage=storage)
    # A worker that started a trial, beat once and died.
    dead = study.ask()
    dead.suggest_float("x", 0, 1)
    storage.record_heartbeat(dead._trial_id)

    stale_seen: list[list[int]] = []

    def objective(trial: Any) -> float:
        # Optuna's heartbeat thread beats while the objective runs: the trial never goes stale.
        time.sleep(grace + 0.3)
        stale_seen.append(ts.get_stale_trial_ids(study._study_id))
        return float(trial.suggest_float("x", 0, 1))

    time.sleep(grace + 0.3)
    # Before its first trial, optimize fails the stale trial 0; the callback enqueues a retry,
    # which is the trial this optimize then runs.
    study.optimize(objective, n_trials=1)
    trials = study.trials
    assert [t.state for t in trials] == [OptunaState.FAIL, OptunaState.COMPLETE]
    assert trials[1].system_attrs["failed_trial"] == 0
    assert trials[1].params == trials[0].params
    assert stale_seen == [[]]


def test_heartbeat_callback_needs_heartbeats() -> None:
    with pytest.raises(ValueError, match="heartbeats"):
        to_optuna(
            InMemoryStorage(), heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback()
        )
    assert not isinstance(to_optuna(InMemoryStorage()), BaseHeartbeat)


def test_late_heartbeat_of_a_finished_trial_is_ignored() -> None:
    storage = to_optuna(InMemoryStorage(heartbeat_interval=1))
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_state_values(trial_id, OptunaState.FAIL)
    storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
    with pytest.raises(KeyError):
        storage.record_heartbeat(trial_id + 1)  # type: ignore[attr-defined]


def test_to_optuna_pickles_and_accepts_urls() -> None:
    storage = to_optuna(InMemoryStorage())
    study = optuna.create_study(storage=storage, study_name="p")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    restored = pickle.loads(pickle.dumps(storage))
    assert len(restored.get_all_trials(study._study_id)) == 2
    with pytest.raises(ValueError, match="scheme"):
        to_optuna("nosuchscheme://x")


def test_shared_snapshots_of_finished_trials_never_change() -> None:
    storage = to_optuna(InMemoryStorage())
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    done = storage.create_new_trial(study_id)
    running = storage.create_new_trial(study_id)
    storage.set_trial_state_values(done, OptunaState.COMPLETE, [1.0])
    first = storage.get_all_trials(study_id, deepcopy=False)
    storage.set_trial_user_attr(running, "k", 1)
    second = storage.get_all_trials(study_id, deepcopy=False)
    assert second[0] is first[0]
    assert first[1].user_attrs == {} and second[1].user_attrs == {"k": 1}
    deep = storage.get_all_trials(study_id, deepcopy=True)
    assert deep[0] == first[0] and deep[0] is not first[0]


def test_from_optuna_runs_trialstore_calls_on_optuna_storage() -> None:
    inner = optuna.storages.InMemoryStorage()
    ts = from_optuna(inner)
    assert isinstance(ts, BaseStorage)
    study_id = ts.create_new_study([StudyDirection.MINIMIZE], "x")
    with pytest.raises(ts_errors.DuplicatedStudyError):
        ts.create_new_study([StudyDirection.MINIMIZE], "x")
    with pytest.raises(ValueError):
        ts.create_new_study([StudyDirection.MINIMIZE], "n" * 513)
    trial_id = ts.create_new_trial(study_id)
    ts.set_trial_param(trial_id, "p", 0.5, FloatDistribution(0, 1))
    ts.set_trial_param(trial_id, "q", 2.0, FloatDistribution(0, 1))  # outside: stored
    with pytest.raises(ValueError):
        ts.set_trial_param(trial_id, "r", math.inf, FloatDistribution(0, 1))
    assert ts.set_trial_state_values(trial_id, TrialState.COMPLETE, [3.0])
    with pytest.raises(ts_errors.UpdateFinishedTrialError):
        ts.set_trial_user_attr(trial_id, "k", 1)
    trial = ts.get_trial(trial_id)
    assert isinstance(trial, FrozenTrial)
    assert trial.state is TrialState.COMPLETE
    assert trial.params == {"p": 0.5, "q": 2.0}
    assert trial.distributions == {"p": FloatDistribution(0, 1), "q": FloatDistribution(0, 1)}
    # Optuna sees what trialstore wrote.
    assert inner.get_trial(trial_id).value == 3.0
    assert ts.get_heartbeat_interval() is None
    assert ts.get_stale_trial_ids(study_id) == []
    with pytest.raises(KeyError):
        ts.get_stale_trial_ids(study_id + 1)
    ts.close()


def test_from_optuna_maps_rdb_heartbeats(tmp_path: Any) -> None:
    inner = optuna.storages.RDBStorage(
        f"sqlite:///{tmp_path}/h.db", heartbeat_interval=1, grace_period=3
    )
    ts = from_optuna(inner)
    assert ts.get_heartbeat_interval() == 1.0
    assert ts.get_grace_period() == 3.0
    study_id = ts.create_new_study([StudyDirection.MINIMIZE])
    trial_id = ts.create_new_trial(study_id)
    ts.record_heartbeat(trial_id)
    assert ts.get_stale_trial_ids(study_id) == []
    ts.set_trial_state_values(trial_id, TrialState.FAIL)
    with pytest.raises(ts_errors.UpdateFinishedTrialError):
        ts.record_heartbeat(trial_id)
    inner.engine.dispose()


def test_wrappers_unwrap() -> None:
    ts = InMemoryStorage()
    assert from_optuna(to_optuna(ts)) is ts
    inner = optuna.storages.InMemoryStorage()
    assert to_optuna(from_optuna(inner)) is inner
    with pytest.raises(ValueError):
        from_optuna(ts)  # type: ignore[arg-type]


def test_views_are_thread_safe_as_the_backend() -> None:
    storage = to_optuna(InMemoryStorage())
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    waiting = optuna.trial.create_trial(state=OptunaState.WAITING)
    trial_id = storage.create_new_trial(study_id, waiting)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(storage.set_trial_state_values(trial_id, OptunaState.RUNNING))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_trialstore_imports_without_optuna() -> None:
    code = (
        "import sys; sys.modules['optuna'] = None\n"
        "import trialstore, trialstore.interop.optuna as m, trialstore.storage\n"
        "try:\n"
        "    m.to_optuna(trialstore.storage.InMemoryStorage())\n"
        "except ImportError as e:\n"
        "    print('ImportError', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "ImportError" in out and "trialstore[optuna]" in out


def test_storage_views_are_optuna_storages() -> None:
    assert isinstance(to_optuna(InMemoryStorage()), OptunaBaseStorage)


def test_a_deleted_trial_is_a_missing_trial_to_optuna() -> None:
    ts = InMemoryStorage()
    storage = to_optuna(ts)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    ts.delete_trials(study._study_id, [trial._trial_id])
    for call in (
        lambda: storage.get_trial(trial._trial_id),
        lambda: storage.set_trial_user_attr(trial._trial_id, "k", 1),
        lambda: storage.get_trial_id_from_study_id_trial_number(study._study_id, 0),
    ):
        with pytest.raises(KeyError) as raised:
            call()
        assert type(raised.value) is KeyError
    assert study.trials == []
