"""A search space of every kind of distribution, and the checks that a sampler's values
belong to it (shared by the sampler tests; not collected: no ``test_`` prefix)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import trialstore
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["SPACE", "assert_in_space", "objective_of", "params_of"]

#: One parameter of each kind: float (plain, log, step), int (plain, log, step), categorical.
SPACE: dict[str, BaseDistribution] = {
    "f": FloatDistribution(-1.5, 2.5),
    "f_log": FloatDistribution(1e-4, 10.0, log=True),
    "f_step": FloatDistribution(0.0, 1.0, step=0.1),
    "i": IntDistribution(-3, 4),
    "i_log": IntDistribution(1, 64, log=True),
    "i_step": IntDistribution(0, 20, step=5),
    "c": CategoricalDistribution([None, True, 2, 3.5, "s"]),
}


def _suggest(trial: trialstore.Trial, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    assert isinstance(distribution, CategoricalDistribution)
    return trial.suggest_categorical(name, distribution.choices)


def objective_of(
    space: Mapping[str, BaseDistribution], loss: Callable[[dict[str, Any]], float] | None = None
) -> Callable[[trialstore.Trial], float]:
    """An objective that suggests every parameter of ``space`` and returns ``loss(params)``
    (0 by default)."""

    def objective(trial: trialstore.Trial) -> float:
        params = {name: _suggest(trial, name, d) for name, d in space.items()}
        return 0.0 if loss is None else loss(params)

    return objective


def params_of(sampler: trialstore.samplers.BaseSampler, n_trials: int) -> list[dict[str, Any]]:
    """The params of ``n_trials`` trials of SPACE sampled by ``sampler``, loss ``f``."""
    study = trialstore.create_study(sampler=sampler)
    study.optimize(objective_of(SPACE, lambda p: float(p["f"])), n_trials=n_trials)
    return [t.params for t in study.trials]


def assert_in_space(params: dict[str, Any], space: Mapping[str, BaseDistribution]) -> None:
    """Check each value lies in its distribution: in range, on the step grid, of its type."""
    assert set(params) == set(space)
    for name, value in params.items():
        distribution = space[name]
        if isinstance(distribution, CategoricalDistribution):
            assert any(
                value is c or (value == c and type(value) is type(c)) for c in distribution.choices
            ), (name, value)
            continue
        assert isinstance(distribution, (FloatDistribution, IntDistribution))
        expected_type = int if isinstance(distribution, IntDistribution) else float
        assert type(value) is expected_type, (name, value)
        assert distribution.low <= value <= distribution.high, (name, value)
        if distribution.step is not None:
            k = (value - distribution.low) / distribution.step
            assert math.isclose(k, round(k), abs_tol=1e-9), (name, value)
