"""FixedTrial: given values returned by suggest_*, Optuna 5.0's warnings and errors, no study."""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import trialstore
from trialstore.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from trialstore.trial import BaseTrial, FixedTrial


def _objective(trial: BaseTrial) -> float:
    x = trial.suggest_float("x", -10, 10)
    n = trial.suggest_int("n", 1, 100, log=True)
    c = trial.suggest_categorical("c", ["a", "bb", None])
    return x * x + n + (len(c) if isinstance(c, str) else 0)


def test_runs_an_objective_with_the_given_values() -> None:
    trial = FixedTrial({"x": 2.0, "n": 10, "c": "bb", "unused": 1})
    assert _objective(trial) == 4.0 + 10 + 2
    assert trial.params == {"x": 2.0, "n": 10, "c": "bb"}  # suggested names only
    assert trial.distributions == {
        "x": FloatDistribution(-10, 10),
        "n": IntDistribution(1, 100, log=True),
        "c": CategoricalDistribution(["a", "bb", None]),
    }
    assert trial.number == 0
    assert FixedTrial({}, number=7).number == 7


def test_best_params_of_a_study_reproduce_its_best_value() -> None:
    study = trialstore.create_study(sampler=trialstore.samplers.RandomSampler(seed=1))
    study.optimize(_objective, n_trials=10)
    assert _objective(FixedTrial(study.best_params)) == study.best_value


def test_values_are_returned_as_given_except_suggest_int() -> None:
    trial = FixedTrial({"f": 1, "i": 3.0, "c": True})
    f = trial.suggest_float("f", 0, 2)
    assert f == 1 and type(f) is int
    i = trial.suggest_int("i", 0, 5)
    assert i == 3 and type(i) is int
    assert trial.suggest_categorical("c", [True, False]) is True
    assert trial.params == {"f": 1, "i": 3.0, "c": True}


def test_a_name_suggested_again_returns_the_value_and_keeps_the_latest_distribution() -> None:
    trial = FixedTrial({"x": 1.0})
    assert trial.suggest_float("x", 0, 2) == 1.0
    assert trial.suggest_float("x", 0, 5) == 1.0
    assert trial.distributions == {"x": FloatDistribution(0, 5)}


def test_name_not_in_params_raises_value_error_naming_it() -> None:
    trial = FixedTrial({"x": 1.0})
    with pytest.raises(ValueError, match="'y' is not found"):
        trial.suggest_float("y", 0, 1)
    assert trial.params == {} and trial.distributions == {}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: t.suggest_float("x", 1, 0), "'x'.*low.*high"),
        (lambda t: t.suggest_float("x", 0, 1, log=True), "'x'.*log"),
        (lambda t: t.suggest_int("x", 0, 3, step=0), "'x'.*step"),
        (lambda t: t.suggest_categorical("x", []), "'x'"),
        (lambda t: t.suggest_categorical("c", ["a", "b"]), "'c'.*not one of the choices"),
        (lambda t: t.suggest_float("c", 0, 1), "'c'"),
    ],
    ids=["low > high", "log with low 0", "step 0", "no choices", "not a choice", "not a number"],
)
def test_invalid_suggestions_raise_value_error_naming_the_parameter(
    call: Callable[[FixedTrial], Any], match: str
) -> None:
    trial = FixedTrial({"x": 1, "c": "z"})
    with pytest.raises(ValueError, match=match):
        call(trial)
    assert trial.params == {}


def test_incompatible_distribution_for_a_suggested_name_raises_value_error() -> None:
    trial = FixedTrial({"x": 1})
    trial.suggest_float("x", 0, 2)
    with pytest.raises(ValueError, match="'x'"):
        trial.suggest_int("x", 0, 2)
    with pytest.raises(ValueError, match="'x'"):
        trial.suggest_float("x", 0.5, 2, log=True)
    assert trial.distributions == {"x": FloatDistribution(0, 2)}


#: (given value, suggest call, expected return value) for values outside the range.
OUT_OF_RANGE: list[tuple[Any, Callable[[Any], Any], Any]] = [
    (5.0, lambda t: t.suggest_float("p", 0, 1), 5.0),
    (0.3, lambda t: t.suggest_float("p", 0, 1, step=0.2), 0.3),
    (0.001, lambda t: t.suggest_float("p", 0.01, 1, log=True), 0.001),
    (7, lambda t: t.suggest_int("p", 0, 3), 7),
    (3, lambda t: t.suggest_int("p", 0, 10, step=2), 3),
    (2.5, lambda t: t.suggest_int("p", 0, 3), 2),
]


@pytest.mark.parametrize(("given", "call", "expected"), OUT_OF_RANGE)
def test_value_out_of_range_is_returned_with_a_user_warning(
    given: Any, call: Callable[[Any], Any], expected: Any
) -> None:
    trial = FixedTrial({"p": given})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert call(trial) == expected
    (warning,) = caught
    assert warning.category is UserWarning
    assert str(warning.message) == (
        f"The value {given} of the parameter 'p' is out of the range of the distribution "
        f"{trial.distributions['p']}."
    )
    assert warning.filename == __file__  # points at the suggest_* call
    assert trial.params == {"p": given}


@pytest.mark.parametrize(("given", "call", "expected"), OUT_OF_RANGE)
def test_out_of_range_behaviour_is_optunas(
    given: Any, call: Callable[[Any], Any], expected: Any
) -> None:
    optuna = pytest.importorskip("optuna")

    def run(trial: Any) -> tuple[Any, list[str], dict[str, Any]]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = call(trial)
        return value, [str(w.message) for w in caught], trial.params

    assert run(FixedTrial({"p": given})) == run(optuna.trial.FixedTrial({"p": given}))


def test_in_range_values_do_not_warn() -> None:
    trial = FixedTrial({"x": 0.4, "n": 4, "c": None})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trial.suggest_float("x", 0, 1, step=0.2)
        trial.suggest_int("n", 0, 10, step=2)
        trial.suggest_categorical("c", [None, 1])


def test_report_prune_and_attributes() -> None:
    before = datetime.datetime.now()
    trial = FixedTrial({})
    assert trial.datetime_start is not None and before <= trial.datetime_start
    trial.report(1.0, 0)
    assert trial.should_prune() is False
    trial.set_user_attr("k", [1, 2])
    assert trial.user_attrs == {"k": [1, 2]}
    assert trial.system_attrs == {}
    trial.user_attrs["k"] = "changed"  # a copy
    assert trial.user_attrs == {"k": [1, 2]}


def test_params_are_copied_at_construction() -> None:
    given = {"x": 1.0}
    trial = FixedTrial(given)
    given["x"] = 2.0
    assert trial.suggest_float("x", 0, 5) == 1.0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([("x", 1.0)],), "params must be a dict"),
        (({}, "1"), "number must be an int"),
        (({}, True), "number must be an int"),
    ],
)
def test_bad_constructor_arguments_raise_value_error(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FixedTrial(*args)


def test_constraints_are_kept_as_optunas_fixed_trial_keeps_them() -> None:
    optuna = pytest.importorskip("optuna")
    ours, theirs = FixedTrial({}), optuna.trial.FixedTrial({})
    for trial in (ours, theirs):
        trial.set_constraint("memory", 1.5)
        trial.set_constraint("time", -2)
        with pytest.warns(UserWarning):
            trial.set_constraint("memory", 0.0)  # already set: kept, with a warning
    assert ours.constraints == theirs.constraints == {"memory": 1.5, "time": -2.0}
    assert ours.system_attrs == theirs.system_attrs
    with pytest.raises(ValueError, match="NaN"):
        ours.set_constraint("x", float("nan"))
    with pytest.raises(TypeError):
        ours.set_constraint("x", "not a number")  # type: ignore[arg-type]
