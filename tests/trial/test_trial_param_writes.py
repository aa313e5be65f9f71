"""Trial with ``param_writes="at_tell"``: suggestions are checked and buffered, and written
with one set_trial_params call before any other write on the trial and before its finish;
``"immediate"`` (the default) writes each suggestion at once, as before."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from _recording import Recording

import trialstore
from trialstore.distributions import FloatDistribution, IntDistribution
from trialstore.storage import InMemoryStorage
from trialstore.trial import Trial, TrialState

ParamWrites = Literal["immediate", "at_tell"]


def _study(param_writes: ParamWrites = "at_tell") -> tuple[trialstore.Study, Recording]:
    storage = Recording()
    study = trialstore.create_study(
        storage=storage,
        sampler=trialstore.samplers.RandomSampler(seed=1),
        param_writes=param_writes,
    )
    return study, storage


def _suggest_three(trial: Trial) -> dict[str, Any]:
    return {
        "x": trial.suggest_float("x", -1.0, 1.0),
        "n": trial.suggest_int("n", 0, 10),
        "c": trial.suggest_categorical("c", ["a", "b", None]),
    }


def test_at_tell_buffers_suggestions_and_shows_them_at_once() -> None:
    study, storage = _study()
    trial = study.ask()
    values = _suggest_three(trial)
    assert trial.params == values and list(trial.params) == ["x", "n", "c"]
    assert trial.distributions["n"] == IntDistribution(0, 10)
    assert trial.suggest_float("x", -1.0, 1.0) == values["x"]  # the chosen value again
    assert storage.get_trial(trial._trial_id).params == {}, "written before the flush"
    assert storage.writes == []
    study.tell(trial, 1.0)
    assert storage.methods() == ["set_trial_params", "set_trial_state_values"]
    stored = storage.get_trial(trial._trial_id)
    assert stored.params == values and list(stored.params) == ["x", "n", "c"]
    assert stored.state == TrialState.COMPLETE


def test_immediate_writes_each_suggestion_at_once() -> None:
    study, storage = _study("immediate")
    assert study.param_writes == "immediate"
    assert study.param_batches is None
    trial = study.ask()
    values = _suggest_three(trial)
    assert storage.methods() == ["set_trial_param"] * 3
    assert storage.get_trial(trial._trial_id).params == values
    study.tell(trial, 1.0)
    assert storage.methods() == ["set_trial_param"] * 3 + ["set_trial_state_values"]


def test_default_is_immediate() -> None:
    study = trialstore.create_study()
    assert study.param_writes == "immediate"
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    assert study._storage.get_trial(trial._trial_id).params == trial.params


@pytest.mark.parametrize(
    ("write", "method"),
    [
        (lambda t, i: t.report(0.5, i), "set_trial_intermediate_value"),
        (lambda t, i: t.set_user_attr("k", i), "set_trial_user_attr"),
        (lambda t, i: t.set_system_attr("k", i), "set_trial_system_attr"),
    ],
    ids=["report", "set_user_attr", "set_system_attr"],
)
def test_other_trial_writes_flush_the_buffer_first(write: Any, method: str) -> None:
    study, storage = _study()
    trial = study.ask()
    values = _suggest_three(trial)
    write(trial, 1)
    assert storage.methods() == ["set_trial_params", method]
    assert storage.get_trial(trial._trial_id).params == values
    write(trial, 2)  # nothing buffered: no second batch
    y = trial.suggest_float("y", 0.0, 1.0)
    study.tell(trial, 1.0)
    assert storage.methods() == [
        "set_trial_params",
        method,
        method,
        "set_trial_params",
        "set_trial_state_values",
    ]
    assert storage.get_trial(trial._trial_id).params == {**values, "y": y}


def test_a_report_of_a_known_step_writes_nothing() -> None:
    study, storage = _study()
    trial = study.ask()
    trial.report(1.0, 0)
    trial.suggest_float("x", 0, 1)
    with pytest.warns(UserWarning, match="already reported"):
        trial.report(2.0, 0)
    assert storage.methods() == ["set_trial_intermediate_value"]


@pytest.mark.parametrize(
    ("state", "values"),
    [(TrialState.COMPLETE, 1.0), (TrialState.PRUNED, None), (TrialState.FAIL, None)],
    ids=str,
)
@pytest.mark.parametrize("by_number", [False, True], ids=["by trial", "by number"])
def test_tell_flushes_before_the_finish(state: TrialState, values: Any, by_number: bool) -> None:
    study, storage = _study()
    trial = study.ask()
    params = _suggest_three(trial)
    told = study.tell(trial.number if by_number else trial, values, state=state)
    assert storage.methods() == ["set_trial_params", "set_trial_state_values"]
    assert told.state == state
    assert told.params == params
    batches = study.param_batches
    assert batches is not None
    assert batches.trial_ids() == []


def test_the_sampler_sees_the_buffered_params_at_tell() -> None:
    seen: list[dict[str, Any]] = []

    class Sampler(trialstore.samplers.RandomSampler):
        def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
            seen.append(dict(trial.params))

    storage = Recording()
    study = trialstore.create_study(storage=storage, sampler=Sampler(), param_writes="at_tell")
    trial = study.ask()
    params = _suggest_three(trial)
    study.tell(trial.number, 1.0)
    assert seen == [params]


def test_suggestions_are_checked_before_they_are_buffered() -> None:
    study, storage = _study()
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    with pytest.raises(ValueError, match="'x'"):
        trial.suggest_int("x", 0, 3)  # the trial's own earlier suggestion
    with pytest.raises(ValueError, match="param_name"):
        trial.suggest_float("p" * 513, 0.0, 1.0)
    assert list(trial.params) == ["x"]
    batches = study.param_batches
    assert batches is not None
    assert list(batches.pending(trial._trial_id)) == ["x"]
    study.tell(trial, 1.0)
    # The study's distribution of "x" is known here now: a conflict is raised at once.
    second = study.ask()
    with pytest.raises(ValueError, match="'x'"):
        second.suggest_int("x", 0, 3)
    assert second.params == {}
    assert storage.methods() == ["set_trial_params", "set_trial_state_values"]


def test_a_batch_the_storage_rejects_fails_the_trial_at_tell() -> None:
    """Another process registers "x" with another distribution kind while the trial holds
    its buffered "x": tell raises the storage's ValueError, and the trial is FAIL without
    any of the buffered params."""
    study, storage = _study()
    trial = study.ask()
    trial.suggest_float("y", 0.0, 1.0)
    trial.suggest_float("x", 0.0, 1.0)
    elsewhere = storage.create_new_trial(study._study_id)
    storage.set_trial_param(elsewhere, "x", 1.0, IntDistribution(0, 3))
    with pytest.raises(ValueError, match="'x'"):
        study.tell(trial, 1.0)
    stored = storage.get_trial(trial._trial_id)
    assert stored.state == TrialState.FAIL
    assert stored.params == {}
    assert trial.params == {}
    batches = study.param_batches
    assert batches is not None
    assert batches.trial_ids() == []


def test_a_batch_the_storage_rejects_raises_from_report() -> None:
    study, storage = _study()
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    storage.set_trial_param(
        storage.create_new_trial(study._study_id), "x", 1.0, IntDistribution(0, 3)
    )
    with pytest.raises(ValueError, match="'x'"):
        trial.report(0.5, 0)
    assert storage.get_trial(trial._trial_id).intermediate_values == {}
    assert trial.params == {}
    study.tell(trial, state=TrialState.FAIL)
    assert storage.get_trial(trial._trial_id).state == TrialState.FAIL


def test_buffer_of_a_trial_finished_elsewhere_is_dropped() -> None:
    study, storage = _study()
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(trial, 1.0)
    batches = study.param_batches
    assert batches is not None
    assert batches.trial_ids() == []
    assert storage.get_trial(trial._trial_id).params == {}


def test_ask_with_fixed_distributions_buffers_them() -> None:
    study, storage = _study()
    trial = study.ask({"x": FloatDistribution(0.0, 1.0), "n": IntDistribution(1, 3)})
    assert set(trial.params) == {"x", "n"}
    assert storage.writes == []
    study.tell(trial, 0.0)
    assert storage.get_trial(trial._trial_id).params == trial.params


@pytest.mark.parametrize("value", ["later", "IMMEDIATE", None, True])
def test_bad_param_writes_is_rejected_everywhere(value: Any) -> None:
    storage = InMemoryStorage()
    with pytest.raises(ValueError, match=r"param_writes.*'immediate', 'at_tell'"):
        trialstore.create_study(storage=storage, study_name="s", param_writes=value)
    assert storage.get_all_studies() == [], "create_study created a study before the check"
    trialstore.create_study(storage=storage, study_name="s")
    with pytest.raises(ValueError, match="param_writes"):
        trialstore.load_study(study_name="s", storage=storage, param_writes=value)
    with pytest.raises(ValueError, match="param_writes"):
        trialstore.Study("s", storage, param_writes=value)


def test_load_study_and_study_take_param_writes() -> None:
    storage = InMemoryStorage()
    trialstore.create_study(storage=storage, study_name="s")
    loaded = trialstore.load_study(study_name="s", storage=storage, param_writes="at_tell")
    assert loaded.param_writes == "at_tell"
    direct = trialstore.Study("s", storage, param_writes="at_tell")
    trial = direct.ask()
    trial.suggest_float("x", 0.0, 1.0)
    assert storage.get_trial(trial._trial_id).params == {}
    direct.tell(trial, 1.0)
    assert storage.get_trial(trial._trial_id).params == trial.params
