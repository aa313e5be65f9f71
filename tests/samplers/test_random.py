"""RandomSampler and sample_uniform (trialstore/samplers/_random.py): seeded runs repeat,
every value lies in its distribution, draws are uniform (in log space when ``log``)."""

from __future__ import annotations

import collections
import math
import random
from typing import Any

import pytest
from _space import SPACE, assert_in_space, params_of

from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.samplers import RandomSampler
from trialstore.samplers._random import sample_uniform


def test_the_same_seed_repeats_the_run_and_another_seed_does_not() -> None:
    first = params_of(RandomSampler(seed=7), 10)
    assert first == params_of(RandomSampler(seed=7), 10)
    assert first != params_of(RandomSampler(seed=8), 10)


def test_reseed_rng_leaves_the_seeded_sequence() -> None:
    reseeded = RandomSampler(seed=7)
    reseeded.reseed_rng()
    assert params_of(reseeded, 10) != params_of(RandomSampler(seed=7), 10)


def test_every_value_lies_in_its_distribution() -> None:
    for params in params_of(RandomSampler(seed=0), 300):
        assert_in_space(params, SPACE)


def _draws(distribution: BaseDistribution, n: int, seed: int = 0) -> list[Any]:
    rng = random.Random(seed)
    return [sample_uniform(distribution, rng) for _ in range(n)]


@pytest.mark.parametrize(
    ("distribution", "values"),
    [
        (FloatDistribution(0.0, 1.0, step=0.25), {0.0, 0.25, 0.5, 0.75, 1.0}),
        (IntDistribution(-2, 2), {-2, -1, 0, 1, 2}),
        (IntDistribution(1, 5, log=True), {1, 2, 3, 4, 5}),
        (IntDistribution(0, 9, step=3), {0, 3, 6, 9}),
        (CategoricalDistribution([None, False, "x"]), {None, False, "x"}),
    ],
    ids=["float-step", "int", "int-log", "int-step", "categorical"],
)
def test_a_small_domain_is_covered_evenly(
    distribution: BaseDistribution, values: set[Any]
) -> None:
    counts = collections.Counter(_draws(distribution, 2000))
    assert set(counts) == values
    if not (isinstance(distribution, IntDistribution) and distribution.log):
        # Uniform over the points: each near 2000 / len(values) (4 standard deviations).
        expected = 2000 / len(values)
        assert all(abs(c - expected) < 4 * math.sqrt(expected) for c in counts.values()), counts


def test_int_log_draws_favour_small_values_as_a_log_scale_does() -> None:
    counts = collections.Counter(_draws(IntDistribution(1, 100, log=True), 4000))
    # Half the log range lies below 10: about half the draws, far more than 9 / 100.
    below_10 = sum(c for v, c in counts.items() if v < 10) / 4000
    assert 0.4 < below_10 < 0.6
    assert counts[1] > counts[50]


def test_float_log_draws_are_uniform_in_log_space() -> None:
    draws = _draws(FloatDistribution(1e-3, 1e3, log=True), 4000)
    assert all(1e-3 <= v <= 1e3 for v in draws)
    decades = collections.Counter(math.floor(math.log10(v)) for v in draws)
    assert sorted(decades) == [-3, -2, -1, 0, 1, 2]
    assert all(abs(c - 4000 / 6) < 4 * math.sqrt(4000 / 6) for c in decades.values()), decades


def test_float_draws_are_uniform_over_the_range() -> None:
    draws = _draws(FloatDistribution(-1.0, 3.0), 4000)
    assert all(-1.0 <= v <= 3.0 for v in draws)
    quarters = collections.Counter(math.floor(v + 1.0) for v in draws)
    assert all(abs(c - 1000) < 4 * math.sqrt(1000) for c in quarters.values()), quarters


@pytest.mark.parametrize(
    ("distribution", "value"),
    [
        (FloatDistribution(0.5, 0.5), 0.5),
        (FloatDistribution(2.0, 2.0, log=True), 2.0),
        (IntDistribution(3, 3), 3),
        (CategoricalDistribution(["only"]), "only"),
    ],
)
def test_a_single_value_distribution_gives_that_value(
    distribution: BaseDistribution, value: Any
) -> None:
    assert set(_draws(distribution, 20)) == {value}


def test_an_unknown_distribution_type_is_a_value_error() -> None:
    class Odd(BaseDistribution):
        def to_external_repr(self, param_value_in_internal_repr: float) -> Any:
            return param_value_in_internal_repr

        def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
            return float(param_value_in_external_repr)

        def single(self) -> bool:
            return False

        def _contains(self, param_value_in_internal_repr: float) -> bool:
            return True

    with pytest.raises(ValueError, match="unknown distribution type Odd"):
        sample_uniform(Odd(), random.Random(0))


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "7", True, [1]])
def test_a_bad_seed_is_a_value_error(seed: Any) -> None:
    with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 2\*\*32 - 1\]"):
        RandomSampler(seed=seed)


def test_numpy_seeds_are_ints() -> None:
    np = pytest.importorskip("numpy")
    assert params_of(RandomSampler(seed=np.uint32(3)), 3) == params_of(RandomSampler(seed=3), 3)
