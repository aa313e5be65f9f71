"""Study.delete_trials, and how the study layer lives with deleted trials (best trial, log
line, ask, tell, optimize with a RUNNING trial deleted under it)."""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import trialstore
from trialstore.exceptions import TrialDeletedError
from trialstore.storage import BaseStorage, InMemoryStorage
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.trial import TrialState


@pytest.fixture(params=["memory", "journal"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> BaseStorage:
    if request.param == "memory":
        return InMemoryStorage()
    return JournalStorage(JournalFileBackend(tmp_path / "journal.log"))


def _study(storage: BaseStorage, **kwargs: object) -> trialstore.Study:
    return trialstore.create_study(
        storage=storage,
        sampler=trialstore.samplers.RandomSampler(seed=0),
        **kwargs,  # type: ignore[arg-type]
    )


def _fill(study: trialstore.Study) -> None:
    """Trials 0-5: COMPLETE 3.0, FAIL, COMPLETE 1.0 (the best), PRUNED, FAIL, COMPLETE 2.0."""
    for outcome in (3.0, None, 1.0, "pruned", None, 2.0):
        trial = study.ask()
        if outcome is None:
            study.tell(trial, state=TrialState.FAIL)
        elif isinstance(outcome, str):
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, outcome)


def test_delete_by_state_and_by_number(storage: BaseStorage) -> None:
    study = _study(storage)
    _fill(study)
    assert study.delete_trials(states=[TrialState.FAIL]) == [1, 4]
    assert [t.number for t in study.trials] == [0, 2, 3, 5]
    assert study.best_trial.number == 2
    assert study.delete_trials([2, 5]) == [2, 5]
    assert study.best_trial.number == 0
    assert study.delete_trials(numbers=[0, 3], states=TrialState.PRUNED) == [3]
    assert [t.number for t in study.trials] == [0]
    assert study.delete_trials(3 - 3) == [0]
    with pytest.raises(ValueError, match="No trials are completed"):
        _ = study.best_trial
    assert study.ask().number == 6, "numbers keep counting"


def test_bad_selections_delete_nothing(storage: BaseStorage) -> None:
    study = _study(storage)
    _fill(study)
    study.delete_trials([4])
    for kwargs, error in (
        ({}, ValueError),
        ({"numbers": ["1"]}, ValueError),
        ({"numbers": [True]}, ValueError),
        ({"numbers": "12"}, ValueError),
        ({"states": ["FAIL"]}, ValueError),
        ({"numbers": [0, 99]}, KeyError),
        ({"numbers": [0, 4]}, TrialDeletedError),
    ):
        with pytest.raises(error):
            study.delete_trials(**kwargs)
        assert [t.number for t in study.trials] == [0, 1, 2, 3, 5]
    assert study.delete_trials(states=[TrialState.WAITING]) == []


def test_the_log_line_names_the_best_trial_left(
    storage: BaseStorage, caplog: pytest.LogCaptureFixture
) -> None:
    study = _study(storage)
    _fill(study)

    def objective(trial: trialstore.Trial) -> float:
        return 10.0 + trial.suggest_float("x", 0, 1)

    with caplog.at_level(logging.INFO, logger="trialstore"):
        study.optimize(objective, n_trials=1)  # the study object remembers the best: 2
        assert "Best is trial 2 with value: 1.0." in caplog.text
        caplog.clear()
        study.delete_trials([2])
        study.optimize(objective, n_trials=1)
    assert "Best is trial 5 with value: 2.0." in caplog.text


def test_a_deleted_waiting_trial_is_never_asked(storage: BaseStorage) -> None:
    study = _study(storage)
    study.enqueue_trial({"x": 0.25})
    study.enqueue_trial({"x": 0.75})
    study.delete_trials([0])
    trial = study.ask()
    assert trial.number == 1 and trial.suggest_float("x", 0, 1) == 0.75
    study.tell(trial, 1.0)
    assert study.ask().number == 2


def test_tell_of_a_deleted_trial_raises(storage: BaseStorage) -> None:
    study = _study(storage)
    trial = study.ask()
    study.delete_trials([0])
    with pytest.raises(TrialDeletedError):
        study.tell(0, 1.0)
    with pytest.raises(TrialDeletedError):
        study.tell(trial, 1.0)


@pytest.mark.parametrize("param_writes", ["immediate", "at_tell"])
@pytest.mark.parametrize("error", [None, ValueError])
def test_optimize_drops_a_running_trial_deleted_under_it(
    storage: BaseStorage,
    caplog: pytest.LogCaptureFixture,
    param_writes: str,
    error: type[Exception] | None,
) -> None:
    study = _study(storage, param_writes=param_writes)
    # Another handle on the same store deletes the trial; the in-memory storage has one.
    other = (
        storage if isinstance(storage, InMemoryStorage) else pickle.loads(pickle.dumps(storage))
    )
    other_study = trialstore.load_study(study_name=study.study_name, storage=other)
    seen: list[int] = []

    def objective(trial: trialstore.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        seen.append(trial.number)
        if trial.number == 1:
            other_study.delete_trials([1])
            if error is not None:
                raise error("the objective's own error")
            trial.report(x, 0)  # raises TrialDeletedError; optimize drops the trial
        return x

    callbacks: list[int] = []
    with caplog.at_level(logging.WARNING, logger="trialstore"):
        study.optimize(
            objective,
            n_trials=3,
            catch=(ValueError,),
            callbacks=[lambda s, t: callbacks.append(t.number)],
        )
    deleted = [r for r in caplog.records if "was deleted while it ran" in r.getMessage()]
    assert len(deleted) == 1 and "Trial 1 " in deleted[0].getMessage()
    assert seen == [0, 1, 2]
    assert callbacks == [0, 2]
    assert [(t.number, t.state) for t in study.trials] == [
        (0, TrialState.COMPLETE),
        (2, TrialState.COMPLETE),
    ]


def test_optimize_reraises_an_uncaught_error_of_a_deleted_trial(storage: BaseStorage) -> None:
    study = _study(storage)

    def objective(trial: trialstore.Trial) -> float:
        study.delete_trials([trial.number])
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError):
        study.optimize(objective, n_trials=2)
    assert study.trials == []


def test_storage_without_deletion_says_so() -> None:
    class Plain(InMemoryStorage):
        delete_trials: Callable[..., None] = BaseStorage.delete_trials

    study = _study(Plain())
    study.ask()
    with pytest.raises(NotImplementedError, match="Plain does not implement delete_trials"):
        study.delete_trials([0])


def test_a_study_with_deleted_trials_copies_with_numbers_from_zero(storage: BaseStorage) -> None:
    study = _study(storage, study_name="source")
    _fill(study)
    study.delete_trials([0, 3])
    trialstore.copy_study(
        from_study_name="source", from_storage=storage, to_storage=storage, to_study_name="copy"
    )
    copy = trialstore.load_study(study_name="copy", storage=storage)
    assert [t.number for t in copy.trials] == [0, 1, 2, 3]
    assert [t.values for t in copy.trials] == [t.values for t in study.trials]
