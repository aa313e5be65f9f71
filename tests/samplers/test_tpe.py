"""RandomSampler and TPESampler; MedianPruner and NopPruner arguments."""

from __future__ import annotations

import statistics

import pytest

import trialstore
from trialstore.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from trialstore.samplers._random import sample_uniform


def _params(sampler: trialstore.samplers.BaseSampler, n: int) -> list[dict[str, object]]:
    study = trialstore.create_study(sampler=sampler)

    def objective(trial: trialstore.Trial) -> float:
        trial.suggest_float("x", -1, 1)
        trial.suggest_int("n", 1, 100, log=True)
        trial.suggest_categorical("c", ["a", "b", "c"])
        return 0.0

    study.optimize(objective, n_trials=n)
    return [t.params for t in study.trials]


def test_random_sampler_seed_is_reproducible() -> None:
    a = _params(trialstore.samplers.RandomSampler(seed=7), 10)
    b = _params(trialstore.samplers.RandomSampler(seed=7), 10)
    c = _params(trialstore.samplers.RandomSampler(seed=8), 10)
    assert a == b and a != c


def test_tpe_seed_is_reproducible_after_startup() -> None:
    a = _params(trialstore.samplers.TPESampler(seed=1, n_startup_trials=3), 12)
    b = _params(trialstore.samplers.TPESampler(seed=1, n_startup_trials=3), 12)
    assert a == b


def test_sample_uniform_covers_each_distribution() -> None:
    import random

    rng = random.Random(0)
    floats = [sample_uniform(FloatDistribution(0, 1, step=0.5), rng) for _ in range(200)]
    assert set(floats) == {0.0, 0.5, 1.0}
    ints = [sample_uniform(IntDistribution(1, 3, log=True), rng) for _ in range(200)]
    assert set(ints) == {1, 2, 3}
    cats = [sample_uniform(CategoricalDistribution([None, "x"]), rng) for _ in range(50)]
    assert set(cats) == {None, "x"}
    logs = [sample_uniform(FloatDistribution(1e-3, 1e3, log=True), rng) for _ in range(400)]
    assert 0.3 < sum(v < 1 for v in logs) / len(logs) < 0.7  # uniform in log space


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_tpe_concentrates_near_the_optimum(direction: str) -> None:
    sign = 1.0 if direction == "minimize" else -1.0
    study = trialstore.create_study(
        direction=direction, sampler=trialstore.samplers.TPESampler(seed=0)
    )
    study.optimize(lambda t: sign * (t.suggest_float("x", -10, 10) - 2) ** 2, n_trials=60)
    xs = [t.params["x"] for t in study.trials]
    startup = statistics.median(abs(x - 2) for x in xs[:10])
    late = statistics.median(abs(x - 2) for x in xs[40:])
    assert late < startup / 2
    assert abs(study.best_params["x"] - 2) < 0.5


def test_tpe_handles_int_step_log_and_categorical() -> None:
    study = trialstore.create_study(
        sampler=trialstore.samplers.TPESampler(seed=0, n_startup_trials=5)
    )

    def objective(trial: trialstore.Trial) -> float:
        n = trial.suggest_int("n", 0, 20, step=2)
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        q = trial.suggest_float("q", 0, 1, step=0.1)
        c = trial.suggest_categorical("c", ["good", "bad"])
        assert n % 2 == 0 and 1e-4 <= lr <= 1.0 and 0 <= q <= 1
        return abs(n - 10) + abs(lr - 0.01) + (0 if c == "good" else 5)

    study.optimize(objective, n_trials=40)
    late = [t.params["c"] for t in study.trials[20:]]
    assert late.count("good") > late.count("bad")


def test_tpe_multi_objective_falls_back_to_random() -> None:
    study = trialstore.create_study(
        directions=["minimize", "minimize"], sampler=trialstore.samplers.TPESampler(seed=0)
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=15)
    assert len(study.trials) == 15


def test_pruner_arguments() -> None:
    with pytest.raises(ValueError):
        trialstore.pruners.MedianPruner(n_startup_trials=-1)
    with pytest.raises(ValueError):
        trialstore.pruners.MedianPruner(interval_steps=0)
    with pytest.raises(ValueError):
        trialstore.pruners.MedianPruner(n_min_trials=0)
    study = trialstore.create_study(pruner=trialstore.pruners.NopPruner())
    trial = study.ask()
    trial.report(1e9, 0)
    assert trial.should_prune() is False


def test_median_pruner_interval_and_nan() -> None:
    pruner = trialstore.pruners.MedianPruner(n_startup_trials=0, interval_steps=2)
    study = trialstore.create_study(pruner=pruner)
    done = study.ask()
    for step in range(4):
        done.report(1.0, step)
    study.tell(done, 1.0)
    trial = study.ask()
    trial.report(5.0, 0)
    assert trial.should_prune() is True
    trial.report(5.0, 1)
    assert trial.should_prune() is False  # step 1 is off the interval grid
    other = study.ask()
    other.report(float("nan"), 0)
    assert other.should_prune() is True
