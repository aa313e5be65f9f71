"""Constraints of a trial (Trial.set_constraint, Trial.constraints, FrozenTrial.constraints,
create_trial(constraints=...)), stored as Optuna 5.0 stores them."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest
from _recording import Recording

import trialstore
from trialstore.distributions import FloatDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage import InMemoryStorage
from trialstore.trial import FrozenTrial, TrialState, create_trial


def _study(storage: Any = None, **kwargs: Any) -> trialstore.Study:
    return trialstore.create_study(
        storage=storage, sampler=trialstore.samplers.RandomSampler(seed=0), **kwargs
    )


def test_set_constraint_stores_a_float_system_attr_per_key() -> None:
    study = _study()
    trial = study.ask()
    trial.set_constraint("memory", 3)
    trial.set_constraint("latency", -0.5)
    assert trial.constraints == {"memory": 3.0, "latency": -0.5}
    assert isinstance(trial.constraints["memory"], float)
    study.tell(trial, 1.0)
    stored = study.trials[0]
    assert stored.system_attrs == {"constraints:memory": 3.0, "constraints:latency": -0.5}
    assert stored.constraints == {"memory": 3.0, "latency": -0.5}


def test_infinite_constraints_round_trip(tmp_path: Any) -> None:
    storage = trialstore.storage.get_storage(f"journal://{tmp_path}/c.log")
    study = _study(storage, study_name="s")
    trial = study.ask()
    trial.set_constraint("up", math.inf)
    trial.set_constraint("down", -math.inf)
    study.tell(trial, 1.0)
    reopened = trialstore.load_study(
        study_name="s", storage=trialstore.storage.get_storage(f"journal://{tmp_path}/c.log")
    )
    assert reopened.trials[0].constraints == {"up": math.inf, "down": -math.inf}


def test_a_key_set_twice_keeps_its_first_value_with_a_warning_and_no_write() -> None:
    storage = Recording()
    study = _study(storage)
    trial = study.ask()
    trial.set_constraint("c", 1.0)
    writes = len(storage.writes)
    with pytest.warns(UserWarning, match="constraint 'c' is already set"):
        trial.set_constraint("c", -1.0)
    assert len(storage.writes) == writes
    assert trial.constraints == {"c": 1.0}
    study.tell(trial, 0.0)
    assert study.trials[0].constraints == {"c": 1.0}


@pytest.mark.parametrize(
    ("key", "value", "error", "match"),
    [
        ("c", math.nan, ValueError, "Constraint 'c': the value must not be NaN"),
        ("c", "high", TypeError, "Constraint 'c': the value must be a float, got 'high'"),
        ("c", None, TypeError, "Constraint 'c': the value must be a float, got None"),
        (3, 1.0, ValueError, "constraint key must be a str, got 3"),
    ],
)
def test_bad_constraints_raise_and_write_nothing(
    key: Any, value: Any, error: type[Exception], match: str
) -> None:
    storage = Recording()
    study = _study(storage, param_writes="at_tell")
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    with pytest.raises(error, match=match):
        trial.set_constraint(key, value)
    assert storage.writes == []  # not even the buffered parameter
    assert trial.constraints == {}
    frozen = create_trial(value=1.0)
    with pytest.raises(error, match=match):
        frozen.set_constraint(key, value)
    with pytest.raises(error, match=match):
        create_trial(value=1.0, constraints={key: value})


def test_a_key_too_long_for_the_storage_is_rejected_by_it() -> None:
    study = _study()
    trial = study.ask()
    with pytest.raises(ValueError):
        trial.set_constraint("k" * 600, 1.0)
    assert trial.constraints == {}


def test_a_finished_trial_takes_no_constraint() -> None:
    study = _study()
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(UpdateFinishedTrialError):
        trial.set_constraint("c", 1.0)
    assert study.trials[0].constraints == {}


def test_at_tell_set_constraint_writes_the_buffered_params_first() -> None:
    storage = Recording()
    study = _study(storage, param_writes="at_tell")
    trial = study.ask()
    x = trial.suggest_float("x", 0, 1)
    assert storage.writes == []
    trial.set_constraint("c", x - 0.5)
    assert storage.methods() == ["set_trial_params", "set_trial_system_attr"]
    # Another reader sees the parameter and the constraint before the trial is told.
    running = storage.get_trial(trial._trial_id)
    assert running.state == TrialState.RUNNING
    assert running.params == {"x": x}
    assert running.constraints == {"c": x - 0.5}
    study.tell(trial, x)
    assert storage.methods() == [
        "set_trial_params",
        "set_trial_system_attr",
        "set_trial_state_values",
    ]


def test_constraints_of_a_claimed_trial_are_known_to_the_trial() -> None:
    study = _study()
    study.add_trial(create_trial(state=TrialState.WAITING, constraints={"c": 2.0}))
    trial = study.ask()
    assert trial.number == 0
    assert trial.constraints == {"c": 2.0}
    with pytest.warns(UserWarning, match="already set"):
        trial.set_constraint("c", -1.0)
    trial.set_constraint("d", -1.0)
    study.tell(trial, 1.0)
    assert study.trials[0].constraints == {"c": 2.0, "d": -1.0}


def test_create_trial_and_frozen_set_constraint() -> None:
    frozen = create_trial(
        value=1.0,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        constraints={"a": 1, "b": -2.5},
    )
    assert frozen.system_attrs == {"constraints:a": 1.0, "constraints:b": -2.5}
    assert frozen.constraints == {"a": 1.0, "b": -2.5}
    frozen.set_constraint("c", 0)
    assert frozen.constraints == {"a": 1.0, "b": -2.5, "c": 0.0}
    with pytest.warns(UserWarning, match="already set"):
        frozen.set_constraint("a", 5.0)
    assert frozen.constraints["a"] == 1.0
    # A constraint already in system_attrs keeps its value.
    with pytest.warns(UserWarning, match="already set"):
        kept = create_trial(value=1.0, system_attrs={"constraints:a": 3.0}, constraints={"a": 4})
    assert kept.constraints == {"a": 3.0}


def test_the_list_format_reads_as_numbered_keys() -> None:
    def frozen(system_attrs: dict[str, Any]) -> FrozenTrial:
        return create_trial(value=1.0, system_attrs=system_attrs)

    assert frozen({}).constraints == {}
    assert frozen({"constraints": [0.5, -1.0]}).constraints == {"0": 0.5, "1": -1.0}
    assert frozen({"constraints": [0.5], "constraints:x": 2.0, "other": 1}).constraints == {
        "0": 0.5,
        "x": 2.0,
    }
    with pytest.warns(UserWarning, match="in both formats"):
        both = frozen({"constraints": [0.5, 1.0], "constraints:1": -3.0}).constraints
    assert both == {"0": 0.5, "1": -3.0}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frozen({"constraints": None}).constraints == {}


def test_optuna_reads_trialstore_constraints_and_the_reverse() -> None:
    optuna = pytest.importorskip("optuna")
    from trialstore.interop.optuna import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = InMemoryStorage()
    study = _study(storage, study_name="s", directions=["minimize", "minimize"])
    trial = study.ask()
    trial.set_constraint("a", 1.0)
    study.tell(trial, [1.0, 2.0])
    view = optuna.load_study(study_name="s", storage=to_optuna(storage))
    assert view.trials[0].constraints == {"a": 1.0}

    optuna_trial = view.ask()
    optuna_trial.set_constraint("b", -2.0)
    view.tell(optuna_trial, [2.0, 1.0])
    assert study.trials[1].constraints == {"b": -2.0}
    assert study.trials[1].system_attrs == view.trials[1].system_attrs

    # Optuna's deprecated constraints_func writes the list format.
    with pytest.warns(FutureWarning):
        sampler = optuna.samplers.NSGAIISampler(constraints_func=lambda t: [0.5, -1.0], seed=0)
    listed = optuna.load_study(study_name="s", storage=to_optuna(storage), sampler=sampler)
    listed.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)
    assert study.trials[2].constraints == {"0": 0.5, "1": -1.0}
