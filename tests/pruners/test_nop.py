"""NopPruner (trialstore/pruners/_nop.py) and the BasePruner interface
(trialstore/pruners/_base.py): what ``Trial.should_prune`` hands a pruner and returns."""

from __future__ import annotations

import pytest

import trialstore
from trialstore.pruners import BasePruner, NopPruner
from trialstore.study import Study
from trialstore.trial import FrozenTrial, TrialState


def test_nop_pruner_keeps_every_trial() -> None:
    study = trialstore.create_study(pruner=NopPruner())
    for _ in range(5):
        study.add_trial(trialstore.create_trial(value=0.0, intermediate_values={0: 0.0, 1: 0.0}))
    trial = study.ask()
    for step, value in enumerate([1e9, float("nan"), float("inf")]):
        trial.report(value, step)
        assert trial.should_prune() is False


def test_nop_pruner_answers_for_several_objectives_too() -> None:
    study = trialstore.create_study(directions=["minimize", "maximize"], pruner=NopPruner())
    running = trialstore.create_trial(state=TrialState.RUNNING, intermediate_values={0: 1.0})
    assert NopPruner().prune(study, running) is False


class _Recording(BasePruner):
    """Prunes at the steps it is given; records what it was asked."""

    def __init__(self, prune_at: set[int]) -> None:
        self.prune_at = prune_at
        self.seen: list[tuple[str, int, dict[int, float]]] = []

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        self.seen.append((study.study_name, trial.number, dict(trial.intermediate_values)))
        return trial.last_step in self.prune_at


def test_should_prune_returns_the_pruners_verdict_on_the_reported_values() -> None:
    pruner = _Recording({2})
    study = trialstore.create_study(study_name="s", pruner=pruner)
    study.add_trial(trialstore.create_trial(value=0.0))
    trial = study.ask()
    verdicts = []
    for step in range(3):
        trial.report(float(step), step)
        verdicts.append(trial.should_prune())
    assert verdicts == [False, False, True]
    assert pruner.seen == [
        ("s", 1, {0: 0.0}),
        ("s", 1, {0: 0.0, 1: 1.0}),
        ("s", 1, {0: 0.0, 1: 1.0, 2: 2.0}),
    ]


def test_a_pruner_verdict_ends_the_trial_as_pruned_in_optimize() -> None:
    study = trialstore.create_study(pruner=_Recording({1}))

    def objective(trial: trialstore.Trial) -> float:
        for step in range(3):
            trial.report(1.0, step)
            if trial.should_prune():
                raise trialstore.TrialPruned()
        return 1.0

    study.optimize(objective, n_trials=2)
    assert [(t.state, t.last_step) for t in study.trials] == [(TrialState.PRUNED, 1)] * 2


def test_base_pruner_cannot_be_instantiated() -> None:
    with pytest.raises(TypeError, match="abstract"):
        BasePruner()  # type: ignore[abstract]
