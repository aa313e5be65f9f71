"""The data model (trialstore/_core/): FrozenTrial, FrozenStudy, TrialState and
StudyDirection, checked against Optuna 5.0."""

from __future__ import annotations

import copy
import datetime
import math
import pickle
from typing import Any

import optuna
import pytest

from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.study import FrozenStudy, StudyDirection
from trialstore.trial import FrozenTrial, TrialState

START = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)
END = START + datetime.timedelta(seconds=90)


def _trial(**overrides: Any) -> FrozenTrial:
    fields: dict[str, Any] = {
        "number": 3,
        "state": TrialState.COMPLETE,
        "value": None,
        "values": [1.5],
        "datetime_start": START,
        "datetime_complete": END,
        "params": {"x": 0.5, "n": 4, "c": "b"},
        "distributions": {
            "x": FloatDistribution(0, 1),
            "n": IntDistribution(1, 8),
            "c": CategoricalDistribution(["a", "b"]),
        },
        "user_attrs": {"u": [1]},
        "system_attrs": {"s": {"k": None}},
        "intermediate_values": {0: 2.0, 5: 1.0},
        "trial_id": 17,
    }
    fields.update(overrides)
    values = fields.pop("values")
    return FrozenTrial(**fields, values=values)


def test_enums_match_optuna() -> None:
    assert {s.name: int(s) for s in TrialState} == {
        s.name: int(s) for s in optuna.trial.TrialState
    }
    assert {d.name: int(d) for d in StudyDirection} == {
        d.name: int(d) for d in optuna.study.StudyDirection
    }
    for state in TrialState:
        assert state.is_finished() == optuna.trial.TrialState(int(state)).is_finished()
    assert repr(TrialState.WAITING) == str(TrialState.WAITING) == "TrialState.WAITING"
    assert str(StudyDirection.MAXIMIZE) == "StudyDirection.MAXIMIZE"


def test_fields() -> None:
    trial = _trial()
    assert trial.number == 3
    assert trial._trial_id == 17
    assert trial.state == TrialState.COMPLETE
    assert trial.value == 1.5
    assert trial.values == [1.5]
    assert trial.params == {"x": 0.5, "n": 4, "c": "b"}
    assert trial.last_step == 5
    assert trial.duration == datetime.timedelta(seconds=90)
    assert _trial(intermediate_values={}).last_step is None
    assert _trial(datetime_complete=None, state=TrialState.RUNNING).duration is None


def test_value_and_values_are_exclusive() -> None:
    with pytest.raises(ValueError):
        FrozenTrial(3, TrialState.COMPLETE, 1.0, START, END, {}, {}, {}, {}, {}, 1, values=[1.0])
    single = FrozenTrial(3, TrialState.COMPLETE, 2.0, START, END, {}, {}, {}, {}, {}, 1)
    assert single.values == [2.0]
    assert (
        FrozenTrial(3, TrialState.RUNNING, None, START, None, {}, {}, {}, {}, {}, 1).values is None
    )


def test_multi_objective_value_raises_runtime_error() -> None:
    trial = _trial(values=[1.0, 2.0])
    assert trial.values == [1.0, 2.0]
    with pytest.raises(RuntimeError):
        _ = trial.value
    with pytest.raises(RuntimeError):
        trial.value = 3.0


def test_setters() -> None:
    trial = _trial()
    trial.value = 4.0
    assert trial.values == [4.0]
    trial.values = (1.0, 2.0)
    assert trial.values == [1.0, 2.0]
    trial.values = None
    assert trial.value is None
    trial.number = 9
    trial.datetime_start = None
    trial.params = {}
    trial.distributions = {}
    trial.user_attrs = {"a": 1}
    trial.system_attrs = {"b": 2}
    assert (trial.number, trial.datetime_start, trial.params) == (9, None, {})
    assert (trial.user_attrs, trial.system_attrs) == ({"a": 1}, {"b": 2})
    trial.set_user_attr("c", 3)
    assert trial.user_attrs == {"a": 1, "c": 3}


def test_equality_ordering_and_hash() -> None:
    assert _trial() == _trial()
    assert _trial() != _trial(values=[2.0])
    assert _trial() != _trial(params={"x": 0.25, "n": 4, "c": "b"})
    assert _trial() != "trial"
    assert _trial(number=1) < _trial(number=2) <= _trial(number=2)
    assert sorted([_trial(number=5), _trial(number=0)])[0].number == 0
    assert hash(_trial()) == hash(_trial())


def test_copies_and_pickles() -> None:
    trial = _trial()
    assert copy.deepcopy(trial) == trial
    assert pickle.loads(pickle.dumps(trial)) == trial
    other = copy.deepcopy(trial)
    other.user_attrs["u"].append(2)
    assert trial.user_attrs == {"u": [1]}


def test_repr_names_the_fields() -> None:
    text = repr(_trial())
    for part in ("number=3", "TrialState.COMPLETE", "values=[1.5]", "trial_id=17", "'x': 0.5"):
        assert part in text


def test_suggest_returns_stored_values() -> None:
    trial = _trial()
    assert trial.suggest_float("x", 0, 1) == 0.5
    assert trial.suggest_int("n", 1, 8) == 4
    assert type(trial.suggest_int("n", 1, 8)) is int
    assert trial.suggest_categorical("c", ["a", "b"]) == "b"
    with pytest.raises(ValueError, match="not found"):
        trial.suggest_float("missing", 0, 1)
    with pytest.raises(ValueError, match="out of range"):
        trial.suggest_float("x", 0.6, 1)
    trial.report(1.0, 1)
    assert trial.should_prune() is False
    assert trial.intermediate_values == {0: 2.0, 5: 1.0}


def test_matches_optuna_frozen_trial() -> None:
    ours = _trial()
    theirs = optuna.trial.FrozenTrial(
        number=3,
        state=optuna.trial.TrialState.COMPLETE,
        value=None,
        values=[1.5],
        datetime_start=START,
        datetime_complete=END,
        params={"x": 0.5, "n": 4, "c": "b"},
        distributions={
            "x": optuna.distributions.FloatDistribution(0, 1),
            "n": optuna.distributions.IntDistribution(1, 8),
            "c": optuna.distributions.CategoricalDistribution(["a", "b"]),
        },
        user_attrs={"u": [1]},
        system_attrs={"s": {"k": None}},
        intermediate_values={0: 2.0, 5: 1.0},
        trial_id=17,
    )
    for name in ("number", "value", "values", "params", "user_attrs", "last_step", "duration"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert int(ours.state) == int(theirs.state)
    theirs._validate()
    ours._validate()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"state": TrialState.RUNNING, "datetime_start": None, "datetime_complete": None},
            "start",
        ),
        ({"datetime_complete": None}, "datetime_complete"),
        ({"state": TrialState.RUNNING}, "datetime_complete"),
        ({"values": None}, "values"),
        ({"values": [math.nan]}, "NaN"),
        ({"params": {"x": 0.5}}, "params"),
        ({"params": {"x": 2.0, "n": 4, "c": "b"}}, "param 'x'"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_validate_names_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _trial(**overrides)._validate()


def test_validate_accepts_consistent_trials() -> None:
    _trial()._validate()
    _trial(state=TrialState.WAITING, datetime_start=None, datetime_complete=None)._validate()
    _trial(state=TrialState.PRUNED, values=None)._validate()
    _trial(state=TrialState.FAIL, values=[math.nan])._validate()


def test_frozen_study() -> None:
    study = FrozenStudy("s", StudyDirection.MINIMIZE, {"u": 1}, {"s": 2}, 4)
    assert study.direction == StudyDirection.MINIMIZE
    assert study.directions == [StudyDirection.MINIMIZE]
    study.directions.append(StudyDirection.MAXIMIZE)
    assert study.directions == [StudyDirection.MINIMIZE]
    multi = FrozenStudy(
        "m", None, {}, {}, 5, directions=[StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]
    )
    assert multi.directions == [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]
    with pytest.raises(RuntimeError):
        _ = multi.direction
    for direction, directions in ((None, None), (StudyDirection.MINIMIZE, [])):
        with pytest.raises(ValueError):
            FrozenStudy("x", direction, {}, {}, 1, directions=directions)
    assert study < multi <= multi
    assert study == FrozenStudy("s", StudyDirection.MINIMIZE, {"u": 1}, {"s": 2}, 4)
    assert study != FrozenStudy("s", StudyDirection.MINIMIZE, {"u": 2}, {"s": 2}, 4)
    assert hash(study) == hash(FrozenStudy("t", StudyDirection.MAXIMIZE, {}, {}, 4))
    assert repr(multi) == (
        f"FrozenStudy(study_name='m', directions={multi.directions!r}, user_attrs={{}}, "
        "system_attrs={}, study_id=5)"
    )
    assert pickle.loads(pickle.dumps(multi)) == multi
    assert copy.deepcopy(multi) == multi


def test_frozen_study_has_optunas_attributes() -> None:
    ours = FrozenStudy("s", StudyDirection.MINIMIZE, {}, {}, 0)
    theirs = optuna.study._frozen.FrozenStudy("s", optuna.study.StudyDirection.MINIMIZE, {}, {}, 0)
    assert set(vars(ours)) == set(vars(theirs))
    for name in ("direction", "directions"):
        assert hasattr(ours, name), name
