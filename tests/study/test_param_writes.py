"""Study.optimize with ``param_writes="at_tell"``: every trial's buffered parameters are
written (one set_trial_params call) before it finishes, whatever its outcome; the trials are
complete on every backend. (The round trips a trial costs in each mode are counted per
backend: tests/storage/rdb/test_rdb_round_trips.py, tests/storage/grpc/test_grpc_round_trips.py
and tests/storage/journal/test_journal_round_trips.py.)"""

from __future__ import annotations

import pathlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest
from _recording import Recording

import trialstore
from trialstore.distributions import IntDistribution
from trialstore.exceptions import TrialPruned
from trialstore.storage import BaseStorage, InMemoryStorage, RetryFailedTrialCallback
from trialstore.trial import Trial, TrialState

ParamWrites = Literal["immediate", "at_tell"]

N_PARAMS = 5


def _objective(trial: Trial) -> float:
    values = [trial.suggest_float(f"x{i}", -10.0, 10.0) for i in range(N_PARAMS)]
    return float(sum((value - i) ** 2 for i, value in enumerate(values)))


def _value(params: dict[str, Any]) -> float:
    return float(sum((params[f"x{i}"] - i) ** 2 for i in range(N_PARAMS)))


def _study(storage: BaseStorage | str, param_writes: ParamWrites = "at_tell", **kw: Any) -> Any:
    return trialstore.create_study(
        storage=storage,
        sampler=trialstore.samplers.RandomSampler(seed=0),
        param_writes=param_writes,
        **kw,
    )


# -- every final state ------------------------------------------------------------------------


def test_optimize_flushes_before_every_finish() -> None:
    storage = Recording()
    study = _study(storage)

    def objective(trial: Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_int("n", 0, 9)
        if trial.number % 3 == 1:
            raise TrialPruned("pruned")
        if trial.number % 3 == 2:
            raise ZeroDivisionError("boom")
        return x

    study.optimize(objective, n_trials=9, catch=(ZeroDivisionError,))
    states = {t.number: t.state for t in study.trials}
    assert Counter(states.values()) == {
        TrialState.COMPLETE: 3,
        TrialState.PRUNED: 3,
        TrialState.FAIL: 3,
    }
    for trial in study.trials:
        assert list(trial.params) == ["x", "n"], f"trial {trial.number} ({trial.state.name})"
        writes = [m for m, t in storage.writes if t == trial._trial_id]
        assert writes == ["set_trial_params", "set_trial_state_values"]
    assert study.param_batches.trial_ids() == []


def test_optimize_with_an_uncaught_error_still_writes_the_params() -> None:
    storage = Recording()
    study = _study(storage)

    def objective(trial: Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise KeyError("stop")

    with pytest.raises(KeyError, match="stop"):
        study.optimize(objective, n_trials=3)
    [trial] = study.trials
    assert trial.state == TrialState.FAIL and list(trial.params) == ["x"]


def test_a_batch_the_storage_rejects_fails_the_trial_like_an_objective_error() -> None:
    """The storage knows a distribution of "x" that this process does not (another process
    registered it): at the end of the objective the batch is rejected; the trial is FAIL
    without params and the ValueError is raised from optimize, unless caught."""
    storage = Recording()
    study = _study(storage)
    other = storage.create_new_trial(study._study_id)

    def objective(trial: Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 1:  # the other process wins the name meanwhile
            storage.set_trial_param(other, "x", 1.0, IntDistribution(0, 3))
        return x

    with pytest.raises(ValueError, match="'x'"):
        study.optimize(objective, n_trials=5)
    failed = study.trials[1]
    assert failed.state == TrialState.FAIL and failed.params == {}
    study.optimize(objective, n_trials=2, catch=(ValueError,))
    # This process did not learn the storage's distribution from the rejection; each new
    # trial is rejected the same way, and caught.
    assert [t.state for t in study.trials[2:]] == [TrialState.FAIL, TrialState.FAIL]


def test_enqueued_params_are_used_and_written_at_tell() -> None:
    storage = Recording()
    study = _study(storage)
    study.enqueue_trial({"x0": 0.5, "x3": 3.0})
    study.optimize(_objective, n_trials=1)
    [trial] = study.trials
    assert trial.params["x0"] == 0.5 and trial.params["x3"] == 3.0
    assert trial.system_attrs["fixed_params"] == {"x0": 0.5, "x3": 3.0}
    assert [m for m, _ in storage.writes] == [
        "set_trial_state_values",  # the claim
        "set_trial_params",
        "set_trial_state_values",
    ]


def test_a_dead_workers_buffered_params_are_lost_and_the_trial_is_retried() -> None:
    """What the docs promise for a crash with at_tell: the trial is failed by its heartbeat,
    without the parameters it had only buffered, and the retry callback re-enqueues it with
    those it had written (here none) and its fixed params (the enqueued ones)."""
    storage = InMemoryStorage(heartbeat_interval=0.05, grace_period=0.2)
    study = _study(storage, failed_trial_callback=RetryFailedTrialCallback())
    study.enqueue_trial({"x0": 1.5})
    crashed = study.ask()
    assert crashed.suggest_float("x0", -10.0, 10.0) == 1.5
    crashed.suggest_float("x1", -10.0, 10.0)
    storage.record_heartbeat(crashed._trial_id)  # then the worker "dies": no tell, no beat
    time.sleep(0.3)
    study.optimize(_objective, n_trials=1)
    first, retry = study.trials
    assert first.state == TrialState.FAIL and first.params == {}
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == first.number
    assert retry.params["x0"] == 1.5 and len(retry.params) == N_PARAMS


# -- complete trials on every backend ----------------------------------------------------------


def _journal(tmp_path: pathlib.Path) -> BaseStorage:
    return trialstore.storage.get_storage(f"journal:///{tmp_path / 'journal.log'}")


def _url_of(kind: str, request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> str | None:
    """The URL of a fresh store of backend ``kind`` (None: in-memory, one shared object)."""
    if kind == "journal":
        return f"journal:///{tmp_path / 'journal.log'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    if kind == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    if kind == "mysql":
        return str(request.getfixturevalue("mysql_url"))
    if kind == "redis":
        prefix = request.getfixturevalue("redis_prefix")
        url = request.getfixturevalue("redis_url").replace("redis://", "journal+redis://")
        return f"{url}?prefix={prefix}"
    return None


@pytest.fixture(
    params=["memory", "journal", "sqlite", "postgresql", "mysql", "redis", "grpc"],
)
def make_storage(
    request: pytest.FixtureRequest, tmp_path: pathlib.Path
) -> Iterator[Callable[[], BaseStorage]]:
    """A factory of handles on one fresh store of the given backend."""
    kind = request.param
    opened: list[BaseStorage] = []
    server: Any = None
    shared = InMemoryStorage()
    if kind == "grpc":
        pytest.importorskip("grpc")
        from trialstore.storage.grpc import GrpcProxyServer

        server = GrpcProxyServer(InMemoryStorage(), port=0)
        server.start()
        url: str | None = f"grpc://localhost:{server.port}"
    else:
        url = _url_of(kind, request, tmp_path)

    def make() -> BaseStorage:
        storage = shared if url is None else trialstore.storage.get_storage(url)
        opened.append(storage)
        return storage

    yield make
    for storage in opened:
        if storage is not (shared if url is None else None):
            storage.close()
    if server is not None:
        server.stop()


def test_optimize_at_tell_with_two_threads_gives_complete_trials(
    make_storage: Callable[[], BaseStorage],
) -> None:
    study = _study(make_storage(), study_name="threads")
    study.optimize(_objective, n_trials=12, n_jobs=2)
    # Read through another handle: what the store holds, not this object's cache.
    trials = trialstore.load_study(study_name="threads", storage=make_storage()).trials
    assert [t.number for t in trials] == list(range(12))
    for trial in trials:
        assert trial.state == TrialState.COMPLETE
        assert list(trial.params) == [f"x{i}" for i in range(N_PARAMS)]
        assert trial.value == _value(trial.params)
