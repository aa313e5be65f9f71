"""MedianPruner (trialstore/pruners/_median.py): what it prunes and when, on constructed
studies, and that it decides as Optuna 5.0's MedianPruner does on the same studies."""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

import trialstore
from trialstore.pruners import MedianPruner
from trialstore.study import Study
from trialstore.trial import TrialState

NAN = float("nan")


def _study(
    pruner: MedianPruner,
    completed: Sequence[Mapping[int, float]],
    *,
    direction: str = "minimize",
) -> Study:
    """A study whose COMPLETE trials reported ``completed`` (one dict of step -> value each)."""
    study = trialstore.create_study(direction=direction, pruner=pruner)
    for values in completed:
        study.add_trial(
            trialstore.create_trial(
                state=TrialState.COMPLETE, value=0.0, intermediate_values=dict(values)
            )
        )
    return study


def _verdicts(study: Study, reports: Sequence[tuple[int, float]]) -> list[bool]:
    """Start a trial, report each (step, value) in turn and ask ``should_prune`` after each."""
    trial = study.ask()
    verdicts = []
    for step, value in reports:
        trial.report(value, step)
        verdicts.append(trial.should_prune())
    return verdicts


def _at_step_0(*values: float) -> list[dict[int, float]]:
    return [{0: v} for v in values]


def _pruner(**kwargs: int) -> MedianPruner:
    kwargs.setdefault("n_startup_trials", 0)
    return MedianPruner(**kwargs)


def test_the_default_pruner_of_a_study_is_a_median_pruner() -> None:
    assert isinstance(trialstore.create_study().pruner, MedianPruner)


@pytest.mark.parametrize(
    ("direction", "value", "pruned"),
    [
        ("minimize", 2.5, True),
        ("minimize", 2.0, False),  # equal to the median: kept
        ("minimize", 1.5, False),
        ("maximize", 1.5, True),
        ("maximize", 2.0, False),
        ("maximize", 2.5, False),
    ],
)
def test_a_value_worse_than_the_median_is_pruned(
    direction: str, value: float, pruned: bool
) -> None:
    study = _study(_pruner(), _at_step_0(1.0, 2.0, 3.0), direction=direction)
    assert _verdicts(study, [(0, value)]) == [pruned]


@pytest.mark.parametrize(("value", "pruned"), [(2.6, True), (2.4, False)])
def test_the_median_of_an_even_count_is_the_middle_pair_s_mean(value: float, pruned: bool) -> None:
    study = _study(_pruner(), _at_step_0(4.0, 1.0, 3.0, 2.0))  # median 2.5
    assert _verdicts(study, [(0, value)]) == [pruned]


def test_nothing_is_pruned_before_n_startup_trials_have_completed() -> None:
    study = _study(_pruner(n_startup_trials=3), _at_step_0(1.0, 1.0))
    # Finished or running trials in other states do not count as completed.
    for state in (TrialState.PRUNED, TrialState.FAIL):
        study.add_trial(trialstore.create_trial(state=state, intermediate_values={0: 1.0}))
    study.ask().report(1.0, 0)  # a RUNNING trial
    assert _verdicts(study, [(0, 100.0)]) == [False]
    study.add_trial(trialstore.create_trial(value=0.0, intermediate_values={0: 1.0}))
    assert _verdicts(study, [(0, 100.0)]) == [True]


def test_only_complete_trials_make_the_median() -> None:
    study = _study(_pruner(), _at_step_0(5.0, 6.0, 7.0))
    for _ in range(5):  # were these counted, the median would be 0
        study.add_trial(
            trialstore.create_trial(state=TrialState.PRUNED, intermediate_values={0: 0.0})
        )
    assert _verdicts(study, [(0, 5.5)]) == [False]
    assert _verdicts(study, [(0, 6.5)]) == [True]


def test_no_completed_trial_means_no_pruning_even_of_nan() -> None:
    study = _study(_pruner(), [])
    assert _verdicts(study, [(0, NAN), (1, 1e9)]) == [False, False]


def test_steps_before_n_warmup_steps_are_not_judged() -> None:
    study = _study(_pruner(n_warmup_steps=2), [dict.fromkeys(range(5), 1.0)] * 3)
    assert _verdicts(study, [(0, 9.0), (1, 9.0), (2, 9.0), (3, 9.0)]) == [
        False,
        False,
        True,
        True,
    ]


def test_steps_are_judged_every_interval_steps_counted_from_the_warm_up() -> None:
    study = _study(
        _pruner(n_warmup_steps=1, interval_steps=3), [dict.fromkeys(range(10), 1.0)] * 3
    )
    verdicts = _verdicts(study, [(step, 9.0) for step in range(10)])
    assert [step for step, pruned in enumerate(verdicts) if pruned] == [1, 4, 7]


def test_sparse_reports_are_judged_at_the_first_step_past_each_interval_boundary() -> None:
    study = _study(_pruner(interval_steps=3), [dict.fromkeys(range(10), 1.0)] * 3)
    # Boundaries 0, 3, 6, 9: steps 0, 5 and 7 are each the first report past one; 8 is not.
    assert _verdicts(study, [(0, 9.0), (5, 9.0), (7, 9.0), (8, 9.0)]) == [
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("direction", "first", "then"), [("minimize", 0.5, 5.0), ("maximize", 5.0, 0.5)]
)
def test_a_trial_is_judged_by_its_best_value_so_far(
    direction: str, first: float, then: float
) -> None:
    study = _study(_pruner(), [{0: 2.0, 1: 2.0}] * 3, direction=direction)
    # The value at step 1 is worse than the median, but the best so far (step 0) is not.
    assert _verdicts(study, [(0, first), (1, then)]) == [False, False]


def test_a_step_no_completed_trial_reported_is_not_judged() -> None:
    study = _study(_pruner(), [{0: 1.0, 1: 1.0, 2: 1.0}] * 3)
    assert _verdicts(study, [(5, 100.0)]) == [False]


def test_fewer_than_n_min_trials_reports_at_the_step_means_no_pruning() -> None:
    completed = [{0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0}, {0: 1.0}]
    three = _study(_pruner(n_min_trials=3), completed)
    assert _verdicts(three, [(0, 5.0)]) == [True]  # three trials reported step 0
    assert _verdicts(three, [(0, 0.5), (1, 5.0)]) == [False, False]
    assert _verdicts(three, [(1, 5.0)]) == [False]  # two reported step 1
    two = _study(_pruner(n_min_trials=2), completed)
    assert _verdicts(two, [(1, 5.0)]) == [True]


def test_a_trial_whose_values_are_all_nan_is_pruned() -> None:
    study = _study(_pruner(), [{0: 1.0, 1: 1.0}] * 3)
    assert _verdicts(study, [(0, NAN), (1, NAN)]) == [True, True]


def test_nan_during_the_warm_up_is_not_pruned() -> None:
    study = _study(_pruner(n_warmup_steps=1), [{0: 1.0, 1: 1.0}] * 3)
    assert _verdicts(study, [(0, NAN)]) == [False]


def test_a_nan_after_a_good_value_keeps_the_good_value() -> None:
    study = _study(_pruner(), [{0: 1.0, 1: 1.0}] * 3)
    assert _verdicts(study, [(0, 0.5), (1, NAN)]) == [False, False]


def test_nan_values_of_completed_trials_are_left_out_of_the_median() -> None:
    study = _study(_pruner(), _at_step_0(1.0, 3.0, NAN, NAN, NAN))  # median 2
    assert _verdicts(study, [(0, 2.5)]) == [True]
    assert _verdicts(study, [(0, 1.5)]) == [False]


def test_a_step_where_every_completed_value_is_nan_is_not_judged() -> None:
    study = _study(_pruner(), _at_step_0(NAN, NAN, NAN))
    assert _verdicts(study, [(0, 1e9)]) == [False]


def test_optimize_prunes_the_trials_worse_than_the_median() -> None:
    study = trialstore.create_study(pruner=MedianPruner(n_startup_trials=2))

    def objective(trial: trialstore.Trial) -> float:
        value = 10.0 if trial.number % 2 else 0.0
        for step in range(3):
            trial.report(value, step)
            if trial.should_prune():
                raise trialstore.TrialPruned()
        return value

    study.optimize(objective, n_trials=8)
    # Trials 0 and 1 start the study; then the median at step 0 is 5 (0 and 10) or below.
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3 + [
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.PRUNED,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert all(t.last_step == 0 for t in study.trials if t.state == TrialState.PRUNED)


def test_several_objectives_are_refused() -> None:
    pruner = _pruner()
    study = trialstore.create_study(directions=["minimize", "maximize"], pruner=pruner)
    running = trialstore.create_trial(state=TrialState.RUNNING, intermediate_values={0: 1.0})
    with pytest.raises(RuntimeError, match="does not support multi-objective"):
        pruner.prune(study, running)
    with pytest.raises(NotImplementedError, match="multi-objective"):
        study.ask().should_prune()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_startup_trials": -1}, "n_startup_trials must be an int >= 0, got -1"),
        ({"n_warmup_steps": -1}, "n_warmup_steps must be an int >= 0, got -1"),
        ({"interval_steps": 0}, "interval_steps must be an int >= 1, got 0"),
        ({"n_min_trials": 0}, "n_min_trials must be an int >= 1, got 0"),
        ({"n_startup_trials": "5"}, "n_startup_trials must be an int >= 0, got '5'"),
        ({"interval_steps": 1.5}, "interval_steps must be an int >= 1, got 1.5"),
        ({"n_warmup_steps": True}, "n_warmup_steps must be an int >= 0, got True"),
        ({"n_min_trials": None}, "n_min_trials must be an int >= 1, got None"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        MedianPruner(**kwargs)


def test_numpy_integers_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    pruner = MedianPruner(n_startup_trials=np.int64(0), interval_steps=np.int32(2))
    study = _study(pruner, [{0: 1.0, 1: 1.0, 2: 1.0}] * 3)
    assert _verdicts(study, [(0, 9.0), (1, 9.0), (2, 9.0)]) == [True, False, True]


# -- the same decisions as Optuna's MedianPruner ---------------------------------------------


def _scenario(seed: int) -> dict[str, Any]:
    """A random study (COMPLETE trials reporting random steps, values in [0, 1], some NaN,
    some equal) and a trial whose values lean to the worse side, so that both verdicts come."""
    rng = random.Random(seed)
    direction = rng.choice(["minimize", "maximize"])
    lean = 0.3 if direction == "minimize" else -0.3

    def values(n_steps: int, shift: float) -> dict[int, float]:
        steps = sorted(rng.sample(range(8), n_steps))
        return {
            s: NAN if rng.random() < 0.1 else shift + rng.choice([rng.random(), 0.5])
            for s in steps
        }

    return {
        "direction": direction,
        "kwargs": {
            "n_startup_trials": rng.randint(0, 4),
            "n_warmup_steps": rng.randint(0, 3),
            "interval_steps": rng.randint(1, 4),
            "n_min_trials": rng.randint(1, 3),
        },
        "completed": [values(rng.randint(2, 8), 0.0) for _ in range(rng.randint(0, 8))],
        "trial": values(rng.randint(1, 6), lean),
    }


@pytest.mark.parametrize("seed", range(150))
def test_decisions_are_optunas(seed: int) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    case = _scenario(seed)
    ours = _study(MedianPruner(**case["kwargs"]), case["completed"], direction=case["direction"])
    theirs = optuna.create_study(
        direction=case["direction"], pruner=optuna.pruners.MedianPruner(**case["kwargs"])
    )
    for intermediate in case["completed"]:
        theirs.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE, value=0.0, intermediate_values=intermediate
            )
        )
    # Judge the trial after each of its reports, as should_prune after each report does.
    reported: dict[int, float] = {}
    for step, value in case["trial"].items():
        reported[step] = value
        ours_verdict = ours.pruner.prune(
            ours,
            trialstore.create_trial(state=TrialState.RUNNING, intermediate_values=reported),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's on all-NaN slices
            theirs_verdict = theirs.pruner.prune(
                theirs,
                optuna.trial.create_trial(
                    state=optuna.trial.TrialState.RUNNING, intermediate_values=dict(reported)
                ),
            )
        assert ours_verdict == theirs_verdict, (case, reported)
