"""BaseTrial: the interface Trial and FixedTrial share (Optuna's names), and its deprecated
suggest_* spellings."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import pytest

import trialstore
from trialstore.distributions import FloatDistribution
from trialstore.trial import BaseTrial, FixedTrial, Trial


def test_trial_and_fixed_trial_are_base_trials() -> None:
    study = trialstore.create_study()
    assert isinstance(study.ask(), BaseTrial)
    assert isinstance(FixedTrial({}), BaseTrial)
    assert issubclass(Trial, BaseTrial) and issubclass(FixedTrial, BaseTrial)


def test_base_trial_is_abstract() -> None:
    with pytest.raises(TypeError):
        BaseTrial()  # type: ignore[abstract]

    class Partial(BaseTrial):
        def suggest_float(self, *a: Any, **k: Any) -> float:
            return 0.0

    with pytest.raises(TypeError):
        Partial()  # type: ignore[abstract]


def test_base_trial_has_optunas_public_members() -> None:
    optuna = pytest.importorskip("optuna")
    theirs = {n for n in dir(optuna.trial.BaseTrial) if not n.startswith("_")}
    ours = {n for n in dir(BaseTrial) if not n.startswith("_")}
    assert theirs <= ours
    for name in sorted(theirs & ours):
        member = getattr(BaseTrial, name)
        if callable(member):
            theirs_sig = inspect.signature(getattr(optuna.trial.BaseTrial, name))
            assert list(inspect.signature(member).parameters) == list(theirs_sig.parameters)


def test_abstract_members_are_optunas_minus_the_deprecated_ones() -> None:
    optuna = pytest.importorskip("optuna")
    deprecated = {"suggest_uniform", "suggest_loguniform", "suggest_discrete_uniform"}
    theirs = set(optuna.trial.BaseTrial.__abstractmethods__) - deprecated
    assert set(BaseTrial.__abstractmethods__) == theirs


@pytest.mark.parametrize("kind", ["Trial", "FixedTrial"])
def test_deprecated_suggest_methods_warn_and_suggest_a_float(kind: str) -> None:
    trial: BaseTrial
    if kind == "Trial":
        trial = trialstore.create_study(sampler=trialstore.samplers.RandomSampler(seed=0)).ask()
    else:
        trial = FixedTrial({"u": 0.5, "l": 0.5, "d": 0.5})
    with pytest.warns(FutureWarning, match="suggest_uniform is deprecated.*suggest_float"):
        u = trial.suggest_uniform("u", 0.0, 1.0)
    with pytest.warns(FutureWarning, match="suggest_loguniform is deprecated"):
        lg = trial.suggest_loguniform("l", 0.1, 1.0)
    with pytest.warns(FutureWarning, match="suggest_discrete_uniform is deprecated") as w:
        d = trial.suggest_discrete_uniform("d", 0.0, 1.0, 0.25)
    assert w[0].filename == __file__
    assert 0.0 <= u <= 1.0 and 0.1 <= lg <= 1.0 and d in (0.0, 0.25, 0.5, 0.75, 1.0)
    assert trial.distributions == {
        "u": FloatDistribution(0.0, 1.0),
        "l": FloatDistribution(0.1, 1.0, log=True),
        "d": FloatDistribution(0.0, 1.0, step=0.25),
    }


def test_number_is_not_implemented_unless_a_subclass_provides_it() -> None:
    with pytest.raises(NotImplementedError):
        BaseTrial.number.fget(FixedTrial({}))  # type: ignore[attr-defined]


def test_an_objective_typed_for_base_trial_runs_in_optimize() -> None:
    def objective(trial: BaseTrial) -> float:
        return trial.suggest_float("x", 0, 1)

    study = trialstore.create_study()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        study.optimize(objective, n_trials=2)
    assert len(study.trials) == 2
