"""PartialFixedSampler: fixed values for some names, the base sampler for the rest (joint
sampling without the fixed names, hooks passed through)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pytest

import trialstore
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.samplers import BaseSampler, PartialFixedSampler, RandomSampler, TPESampler
from trialstore.study import Study
from trialstore.trial import FrozenTrial, TrialState


def objective(trial: Any) -> float:
    x = trial.suggest_float("x", -1, 1)
    y = trial.suggest_int("y", -1, 1)
    c = trial.suggest_categorical("c", ["a", "b"])
    return float(x**2 + y + (c == "b"))


def test_fixed_names_get_their_values_and_the_rest_come_from_the_base_sampler() -> None:
    sampler = PartialFixedSampler({"y": 1, "c": "b"}, RandomSampler(seed=0))
    study = trialstore.create_study(sampler=sampler)
    study.optimize(objective, n_trials=20)
    assert all(t.params["y"] == 1 and t.params["c"] == "b" for t in study.trials)
    xs = {t.params["x"] for t in study.trials}
    assert len(xs) == 20 and all(-1 <= x <= 1 for x in xs)


def test_optunas_documented_use_refixes_the_best_value() -> None:
    study = trialstore.create_study(sampler=TPESampler(seed=0))
    study.optimize(objective, n_trials=10)
    best_y = study.best_params["y"]
    study.sampler = PartialFixedSampler({"y": best_y}, study.sampler)
    study.optimize(objective, n_trials=10)
    assert {t.params["y"] for t in study.trials[10:]} == {best_y}


class Spy(BaseSampler):
    """Records the calls it gets; proposes a joint space of x and y."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        self.calls.append(("infer",))
        return {"x": FloatDistribution(-1, 1), "y": IntDistribution(-1, 1)}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        self.calls.append(("relative", sorted(search_space)))
        return {"x": 0.5} if "x" in search_space else {}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, dist: BaseDistribution
    ) -> Any:
        self.calls.append(("independent", param_name))
        return "a"

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.calls.append(("before", trial.number))

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.calls.append(("after", trial.number, state, values))

    def reseed_rng(self) -> None:
        self.calls.append(("reseed",))


def test_the_base_sampler_samples_jointly_without_the_fixed_names_and_gets_every_hook() -> None:
    spy = Spy()
    sampler = PartialFixedSampler({"y": 1}, spy)
    study = trialstore.create_study(sampler=sampler)
    study.optimize(objective, n_trials=1)
    sampler.reseed_rng()
    assert spy.calls == [
        ("before", 0),
        ("infer",),
        ("relative", ["x"]),
        ("independent", "c"),
        ("after", 0, TrialState.COMPLETE, [1.25]),
        ("reseed",),
    ]
    assert study.trials[0].params == {"x": 0.5, "y": 1, "c": "a"}


@pytest.mark.parametrize(
    ("value", "distribution"),
    [
        (5.0, FloatDistribution(0, 1)),
        (0.3, FloatDistribution(0, 1, step=0.2)),
        (100, IntDistribution(0, 10)),
        (3, IntDistribution(0, 10, step=2)),
    ],
)
def test_a_fixed_value_outside_the_range_is_used_with_optunas_warning(
    value: Any, distribution: BaseDistribution
) -> None:
    sampler = PartialFixedSampler({"p": value}, RandomSampler())
    study = trialstore.create_study(sampler=sampler)
    trial = trialstore.create_trial(state=TrialState.RUNNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sampler.sample_independent(study, trial, "p", distribution) == value
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            UserWarning,
            f"Fixed parameter 'p' with value {value} is out of range for distribution "
            f"{distribution}.",
        )
    ]


def test_the_warning_text_is_optunas() -> None:
    optuna = pytest.importorskip("optuna")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = optuna.samplers.PartialFixedSampler({"p": 5.0}, optuna.samplers.RandomSampler())
        study = optuna.create_study(sampler=sampler)
        dist = optuna.distributions.FloatDistribution(0, 1)
        sampler.sample_independent(study, optuna.trial.create_trial(value=0.0), "p", dist)
    theirs = [str(w.message) for w in caught if w.category is UserWarning]
    ours = (
        "Fixed parameter 'p' with value 5.0 is out of range for distribution "
        f"{FloatDistribution(0, 1)}."
    )
    assert theirs == [ours]


def test_a_fixed_value_that_is_not_a_choice_raises_value_error_naming_the_parameter() -> None:
    study = trialstore.create_study(sampler=PartialFixedSampler({"c": "z"}, RandomSampler()))
    trial = study.ask()
    with pytest.raises(ValueError, match=r"Fixed parameter 'c'.*not one of the choices"):
        trial.suggest_categorical("c", ["a", "b"])
    assert trial.params == {}


def test_in_range_fixed_values_do_not_warn() -> None:
    sampler = PartialFixedSampler({"x": 0.5, "y": 0, "c": "b"}, RandomSampler())
    study = trialstore.create_study(sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study.optimize(objective, n_trials=2)
    assert [t.params for t in study.trials] == [{"x": 0.5, "y": 0, "c": "b"}] * 2
    assert study.trials[0].distributions["c"] == CategoricalDistribution(["a", "b"])


@pytest.mark.parametrize(
    ("fixed", "base", "match"),
    [
        ([("y", 1)], RandomSampler(), "fixed_params must be a dict"),
        ({1: 1}, RandomSampler(), "fixed_params must be a dict"),
        ({"y": 1}, None, "base_sampler must be a trialstore sampler"),
    ],
)
def test_bad_arguments_raise_value_error(fixed: Any, base: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PartialFixedSampler(fixed, base)


def test_fixed_params_are_copied() -> None:
    fixed = {"y": 1}
    study = trialstore.create_study(sampler=PartialFixedSampler(fixed, RandomSampler()))
    fixed["y"] = 0
    study.optimize(objective, n_trials=1)
    assert study.trials[0].params["y"] == 1
