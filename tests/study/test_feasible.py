"""Constrained studies: best_trial, best_trials and the log line consider only feasible trials
(every constraint <= 0), as Optuna 5.0 does; Optuna's NSGA-II reads trialstore's constraints."""

from __future__ import annotations

import re
from typing import Any

import pytest

import trialstore
from trialstore.distributions import FloatDistribution
from trialstore.storage import InMemoryStorage
from trialstore.trial import create_trial

#: (value, constraints) of single-objective trials 0..4, in number order.
SINGLE = [
    (1.0, {"c": 1.0}),  # the best value, infeasible
    (2.0, {"c": -1.0, "d": 0.0}),  # the best feasible
    (3.0, {}),  # no constraints: feasible
    (2.0, {"c": -2.0}),  # ties with 1 (higher number)
    (0.5, {"c": 0.0, "d": 0.25}),  # infeasible
]


def _add(study: Any, specs: list[tuple[Any, dict[str, float]]], create: Any) -> None:
    for number, (value, constraints) in enumerate(specs):
        values = value if isinstance(value, list) else [value]
        study.add_trial(
            create(
                values=values,
                params={"x": number / 10},
                distributions={"x": _float_dist(create)},
                constraints=constraints,
            )
        )


def _float_dist(create: Any) -> Any:
    if create is create_trial:
        return FloatDistribution(0, 1)
    import optuna

    return optuna.distributions.FloatDistribution(0, 1)


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_best_trial_is_the_best_feasible_one(direction: str) -> None:
    study = trialstore.create_study(direction=direction)
    specs = SINGLE if direction == "minimize" else [(-v, c) for v, c in SINGLE]
    _add(study, specs, create_trial)
    assert study.best_trial.number == 1
    assert study.best_value == specs[1][0]
    assert study.best_params == {"x": 0.1}
    assert [t.number for t in study.best_trials] == [1, 3]


def test_best_trial_when_the_best_value_is_feasible_is_the_storages() -> None:
    study = trialstore.create_study()
    _add(study, [(1.0, {"c": -1.0}), (0.5, {}), (0.5, {"c": 0.0})], create_trial)
    assert study.best_trial.number == 1
    assert [t.number for t in study.best_trials] == [1, 2]


def test_no_feasible_trial_raises_value_error() -> None:
    study = trialstore.create_study()
    _add(study, [(1.0, {"c": 1.0}), (0.5, {"c": 0.1})], create_trial)
    with pytest.raises(ValueError, match="No feasible trials are completed yet"):
        _ = study.best_trial
    assert study.best_trials == []


def test_best_trials_pareto_front_of_feasible_trials() -> None:
    study = trialstore.create_study(directions=["minimize", "minimize"])
    _add(
        study,
        [([1.0, 1.0], {"c": 1.0}), ([2.0, 2.0], {}), ([3.0, 1.5], {"c": -1.0})],
        create_trial,
    )
    assert [t.number for t in study.best_trials] == [1, 2]


def test_best_trial_and_trials_are_optunas() -> None:
    optuna = pytest.importorskip("optuna")
    from trialstore.interop.optuna import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = InMemoryStorage()
    study = trialstore.create_study(storage=storage, study_name="s")
    _add(study, SINGLE, create_trial)
    native = optuna.create_study()
    _add(native, SINGLE, optuna.trial.create_trial)
    view = optuna.load_study(study_name="s", storage=to_optuna(storage))
    for other in (native, view):
        assert other.best_trial.number == study.best_trial.number
        assert [t.number for t in other.best_trials] == [t.number for t in study.best_trials]
        assert [t.system_attrs for t in other.trials] == [t.system_attrs for t in study.trials]


def test_the_log_line_names_the_best_feasible_trial(capsys: pytest.CaptureFixture[str]) -> None:
    study = trialstore.create_study(sampler=trialstore.samplers.RandomSampler(seed=0))
    specs = iter(SINGLE)

    def objective(trial: trialstore.Trial) -> float:
        value, constraints = next(specs)
        for key, constraint in constraints.items():
            trial.set_constraint(key, constraint)
        return value

    study.optimize(objective, n_trials=len(SINGLE))
    finished = [line for line in capsys.readouterr().err.splitlines() if "finished with" in line]
    best = [re.search(r"Best is trial (\d+) with value: (\S+)\.$", line) for line in finished]
    # Trial 0 (infeasible, the only one) has no "Best is"; then trial 1 stays the best.
    assert [m.groups() if m else None for m in best] == [None] + [("1", "2.0")] * 4


def test_optuna_nsga2_selects_the_same_elite_from_trialstore_constraints() -> None:
    optuna = pytest.importorskip("optuna")
    # Optuna's NSGA-II elite selection (the step that ranks by constrained domination) is not
    # exported; optuna is pinned (==5.0.0) in the test extra.
    from optuna.samplers.nsgaii._elite_population_selection_strategy import (
        NSGAIIElitePopulationSelectionStrategy,
    )

    from trialstore.interop.optuna import to_optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Two objectives to minimize. Feasible: 1, 2, 4, 6 (no constraint), 7. Trial 0 dominates
    # every feasible one, 3 and 5 are on the unconstrained front: none may be in the elite.
    specs = [
        ([1.0, 1.0], {"c": 1.0}),
        ([2.0, 2.0], {"c": -1.0}),
        ([3.0, 1.5], {"c": 0.0}),
        ([0.5, 5.0], {"c": 2.0}),
        ([4.0, 4.0], {"c": -0.5}),
        ([5.0, 0.5], {"c": 0.1, "d": -1.0}),
        ([2.5, 2.5], {}),
        ([6.0, 6.0], {"c": -1.0}),
    ]

    def run(study: Any) -> None:
        # The same calls in both libraries: enqueue, ask, suggest, set_constraint, tell.
        for number, (values, constraints) in enumerate(specs):
            study.enqueue_trial({"x": number / 10})
            trial = study.ask()
            trial.suggest_float("x", 0, 1)
            for key, value in constraints.items():
                trial.set_constraint(key, value)
            study.tell(trial, values)

    storage = InMemoryStorage()
    directions = ["minimize", "minimize"]
    run(trialstore.create_study(storage=storage, study_name="s", directions=directions))
    native = optuna.create_study(directions=directions)
    run(native)
    view = optuna.load_study(study_name="s", storage=to_optuna(storage))
    assert [t.system_attrs for t in view.trials] == [t.system_attrs for t in native.trials]

    select = NSGAIIElitePopulationSelectionStrategy(population_size=4)
    elite = sorted(t.number for t in select(view, view.get_trials()))
    assert elite == sorted(t.number for t in select(native, native.get_trials()))
    assert elite == [1, 2, 4, 6]
    ts_study = trialstore.load_study(study_name="s", storage=storage)
    feasible = [all(v <= 0 for v in t.constraints.values()) for t in ts_study.trials]
    assert feasible == [all(v <= 0 for v in t.constraints.values()) for t in view.trials]
    assert [t.number for t in view.best_trials] == [1, 2]
    assert [t.number for t in ts_study.best_trials] == [1, 2]

    # Optuna's NSGA-II sampler goes on with the study that trialstore wrote.
    view.sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    view.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=4)
    assert len(ts_study.trials) == len(specs) + 4
