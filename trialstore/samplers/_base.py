"""The sampler interface (private; public entry: ``trialstore.samplers.BaseSampler``)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["BaseSampler"]


class BaseSampler(abc.ABC):
    """Chooses parameter values for trials; the hook names are Optuna's.

    A trial asks :meth:`sample_independent` for each parameter as the objective suggests it.
    Samplers that choose several parameters jointly override :meth:`infer_relative_search_space`
    and :meth:`sample_relative`, called once when a trial starts. A sampler object may be shared
    by the threads of ``Study.optimize(n_jobs=...)``: implementations must be thread-safe.
    The ``trial`` a hook receives is a read-only view: hooks must not mutate it.
    """

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Return the parameters to sample jointly at the start of ``trial`` (default: none)."""
        return {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Return external values for (some of) ``search_space`` (default: none)."""
        return {}

    @abc.abstractmethod
    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Return an external value of ``param_distribution`` for ``param_name``."""

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Called when ``trial`` starts, before any parameter is suggested."""
        return None

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Called when ``trial`` finishes, before its state is stored."""
        return None

    def reseed_rng(self) -> None:
        """Reseed the sampler's random number generator from fresh entropy."""
        return None
