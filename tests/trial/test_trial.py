"""Trial: suggestions, invalid arguments (ValueError naming the parameter, nothing stored),
reports, attributes; create_trial."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

import trialstore
from trialstore.distributions import FloatDistribution, IntDistribution
from trialstore.trial import Trial, TrialState, create_trial


def _trial() -> tuple[trialstore.Study, Trial]:
    study = trialstore.create_study(sampler=trialstore.samplers.RandomSampler(seed=3))
    return study, study.ask()


def test_suggest_float_int_categorical_ranges() -> None:
    study, trial = _trial()
    for i in range(30):
        x = trial.suggest_float(f"f{i}", -2.0, 3.0)
        assert -2.0 <= x <= 3.0
        lg = trial.suggest_float(f"l{i}", 1e-5, 1.0, log=True)
        assert 1e-5 <= lg <= 1.0
        st = trial.suggest_float(f"s{i}", 0.0, 1.0, step=0.25)
        assert st in (0.0, 0.25, 0.5, 0.75, 1.0)
        n = trial.suggest_int(f"i{i}", -3, 9, step=3)
        assert isinstance(n, int) and n in (-3, 0, 3, 6, 9)
        ln = trial.suggest_int(f"li{i}", 1, 1000, log=True)
        assert 1 <= ln <= 1000
        c = trial.suggest_categorical(f"c{i}", [None, True, 2, 3.5, "s"])
        assert c in (None, True, 2, 3.5, "s")
    stored = study._storage.get_trial(trial._trial_id)
    assert stored.params == trial.params
    assert stored.distributions["s0"] == FloatDistribution(0.0, 1.0, step=0.25)
    assert stored.distributions["i0"] == IntDistribution(-3, 9, step=3)


def test_suggest_same_name_returns_same_value() -> None:
    _, trial = _trial()
    x = trial.suggest_float("x", 0, 1)
    assert trial.suggest_float("x", 0, 1) == x
    assert trial.suggest_float("x", 0, 2) == x  # compatible distribution: same value


def test_number_params_user_attrs() -> None:
    study, trial = _trial()
    assert trial.number == 0 and study.ask().number == 1
    trial.set_user_attr("k", [1, "a"])
    trial.suggest_int("n", 0, 5)
    assert trial.user_attrs == {"k": [1, "a"]}
    stored = study._storage.get_trial(trial._trial_id)
    assert stored.user_attrs == {"k": [1, "a"]} and stored.params == trial.params
    assert trial.datetime_start is not None
    assert set(trial.distributions) == {"n"}


INVALID: list[tuple[str, Callable[[Trial], Any], str]] = [
    ("low>high float", lambda t: t.suggest_float("p", 2.0, 1.0), "low"),
    ("low>high int", lambda t: t.suggest_int("p", 5, 1), "low"),
    ("step not dividing float", lambda t: t.suggest_float("p", 0, 1, step=0.3), "divisible"),
    ("step does not divide int", lambda t: t.suggest_int("p", 0, 10, step=3), "divisible"),
    ("step <= 0", lambda t: t.suggest_float("p", 0.0, 1.0, step=0.0), "step"),
    ("log low <= 0 float", lambda t: t.suggest_float("p", 0.0, 1.0, log=True), "log"),
    ("log low <= 0 int", lambda t: t.suggest_int("p", 0, 10, log=True), "log"),
    ("log with step", lambda t: t.suggest_float("p", 0.1, 1.0, log=True, step=0.1), "log"),
    ("unhashable choice", lambda t: t.suggest_categorical("p", [[1], [2]]), "choice"),  # type: ignore[list-item]  # on purpose
    ("empty choices", lambda t: t.suggest_categorical("p", []), "choices"),
    ("infinite bound", lambda t: t.suggest_float("p", 0.0, math.inf), "finite"),
]


@pytest.mark.parametrize(("case", "call", "word"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_suggest_names_parameter_and_stores_nothing(
    case: str, call: Callable[[Trial], Any], word: str
) -> None:
    study, trial = _trial()
    trial.suggest_float("ok", 0, 1)
    before = study._storage.get_trial(trial._trial_id)
    with pytest.raises(ValueError, match="'p'") as info:
        call(trial)
    assert word in str(info.value).lower()
    after = study._storage.get_trial(trial._trial_id)
    assert after == before and after.state == TrialState.RUNNING
    assert trial.params == {"ok": before.params["ok"]}
    assert trial.suggest_float("p2", 0, 1) is not None  # the trial is still usable
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE


@pytest.mark.parametrize(
    "second",
    [
        lambda t: t.suggest_int("p", 0, 10),
        lambda t: t.suggest_float("p", 0.1, 1.0, log=True),
        lambda t: t.suggest_categorical("p", ["a"]),
    ],
)
def test_name_reused_with_other_distribution(second: Callable[[Trial], Any]) -> None:
    study, trial = _trial()
    trial.suggest_float("p", 0.1, 1.0)
    with pytest.raises(ValueError, match="'p'"):
        second(trial)
    # Across trials of one study the storage enforces it; the message names the parameter.
    other = study.ask()
    with pytest.raises(ValueError, match="'p'"):
        second(other)
    assert other.params == {}
    assert study._storage.get_trial(other._trial_id).params == {}


def test_categorical_choice_change_in_same_trial() -> None:
    _, trial = _trial()
    trial.suggest_categorical("c", ["a", "b"])
    with pytest.raises(ValueError, match="'c'"):
        trial.suggest_categorical("c", ["b", "a"])


def test_report_and_should_prune() -> None:
    study, trial = _trial()
    trial.report(1.5, 0)
    trial.report(2, 1)
    with pytest.warns(UserWarning, match="already reported"):
        trial.report(9.0, 1)
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {0: 1.5, 1: 2.0}
    with pytest.raises(TypeError):
        trial.report("x", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        trial.report(1.0, -1)
    assert trial.should_prune() is False
    multi = trialstore.create_study(directions=["minimize", "minimize"]).ask()
    with pytest.raises(NotImplementedError):
        multi.report(1.0, 0)
    with pytest.raises(NotImplementedError):
        multi.should_prune()


def test_create_trial() -> None:
    dist = FloatDistribution(0, 1)
    trial = create_trial(params={"x": 0.5}, distributions={"x": dist}, value=1.0)
    assert trial.state == TrialState.COMPLETE and trial.value == 1.0
    assert trial.datetime_start is not None and trial.datetime_complete is not None
    waiting = create_trial(state=TrialState.WAITING)
    assert waiting.datetime_start is None and waiting.datetime_complete is None
    with pytest.raises(ValueError):
        create_trial(params={"x": 2.0}, distributions={"x": dist}, value=1.0)
    with pytest.raises(ValueError):
        create_trial(value=1.0, values=[1.0])
