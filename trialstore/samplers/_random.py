"""RandomSampler: independent uniform sampling (private; public entry: trialstore.samplers)."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.samplers._args import check_seed
from trialstore.samplers._base import BaseSampler

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["RandomSampler", "sample_uniform"]


def sample_uniform(distribution: BaseDistribution, rng: random.Random) -> Any:
    """Return an external value drawn uniformly from ``distribution``.

    Log-scale distributions are uniform in log space; stepped ones uniform over the grid.

    Raises:
        ValueError: ``distribution`` is of an unknown type.
    """
    if isinstance(distribution, FloatDistribution):
        low, high = distribution.low, distribution.high
        if distribution.log:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif distribution.step is not None:
            n_steps = round((high - low) / distribution.step)
            value = low + rng.randint(0, n_steps) * distribution.step
        else:
            value = rng.uniform(low, high)
        return min(max(value, low), high)
    if isinstance(distribution, IntDistribution):
        low_i, high_i = distribution.low, distribution.high
        if distribution.log:
            drawn = math.exp(rng.uniform(math.log(low_i - 0.5), math.log(high_i + 0.5)))
            return min(max(round(drawn), low_i), high_i)
        return low_i + rng.randint(0, (high_i - low_i) // distribution.step) * distribution.step
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[rng.randrange(len(distribution.choices))]
    raise ValueError(f"unknown distribution type {type(distribution).__name__}.")


class RandomSampler(BaseSampler):
    """Sample every parameter independently and uniformly (log-uniformly when ``log``).

    ``seed`` makes a single-threaded run reproducible. Thread-safe: one generator shared under
    the GIL (with ``n_jobs > 1`` the order in which threads draw is not reproducible).

    Raises:
        ValueError: ``seed`` is not None or an int in ``[0, 2**32 - 1]``.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(check_seed(seed))

    def reseed_rng(self) -> None:
        """Reseed from fresh entropy (used by worker processes forked from one sampler)."""
        self._rng.seed()

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Return a uniform draw from ``param_distribution``."""
        return sample_uniform(param_distribution, self._rng)
