"""PartialFixedSampler: fixed values for some parameters, another sampler for the rest
(private; public: ``trialstore.samplers.PartialFixedSampler``)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.samplers._base import BaseSampler

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["PartialFixedSampler"]


class PartialFixedSampler(BaseSampler):
    """Suggest the values of ``fixed_params`` for their names, and let ``base_sampler``
    choose every other parameter.

    ``base_sampler``'s joint (relative) sampling sees its search space without the fixed
    names; its ``before_trial``, ``after_trial`` and ``reseed_rng`` run as usual. A fixed
    value outside the range of its ``suggest_*`` call is returned as given, with a
    UserWarning (``suggest_*`` then stores it if the storage accepts it); a value the
    distribution cannot hold (not one of the categorical choices, not a number) raises
    ValueError from ``suggest_*``. Thread-safe when ``base_sampler`` is.

    Raises:
        ValueError: ``fixed_params`` is not a mapping with str keys, or ``base_sampler`` is
            not a :class:`BaseSampler`.
    """

    def __init__(self, fixed_params: Mapping[str, Any], base_sampler: BaseSampler) -> None:
        if not isinstance(fixed_params, Mapping) or not all(
            isinstance(name, str) for name in fixed_params
        ):
            raise ValueError(
                f"fixed_params must be a dict of parameter values by str name, got "
                f"{fixed_params!r}."
            )
        if not isinstance(base_sampler, BaseSampler):
            raise ValueError(
                "base_sampler must be a trialstore sampler (a trialstore.samplers.BaseSampler), "
                f"got {type(base_sampler).__name__}."
            )
        self._fixed_params = dict(fixed_params)
        self._base_sampler = base_sampler

    def reseed_rng(self) -> None:
        """Reseed ``base_sampler``."""
        self._base_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Return ``base_sampler``'s joint search space without the fixed names."""
        space = self._base_sampler.infer_relative_search_space(study, trial)
        return {name: d for name, d in space.items() if name not in self._fixed_params}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Return ``base_sampler``'s joint sample of ``search_space``."""
        return self._base_sampler.sample_relative(study, trial, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Return the fixed value of ``param_name`` if there is one, else ask
        ``base_sampler``.

        Raises:
            ValueError: naming the parameter, when the fixed value cannot be a value of
                ``param_distribution`` (a categorical value not among the choices, a
                non-number for a numeric distribution).
        """
        if param_name not in self._fixed_params:
            return self._base_sampler.sample_independent(
                study, trial, param_name, param_distribution
            )
        value = self._fixed_params[param_name]
        try:
            internal = param_distribution.to_internal_repr(value)
        except ValueError as e:
            raise ValueError(f"Fixed parameter {param_name!r}: {e}") from None
        if not param_distribution._contains(internal):
            warnings.warn(
                f"Fixed parameter '{param_name}' with value {value} is out of range for "
                f"distribution {param_distribution}.",
                UserWarning,
                stacklevel=2,
            )
        return value

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Run ``base_sampler.before_trial``."""
        self._base_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Run ``base_sampler.after_trial``."""
        self._base_sampler.after_trial(study, trial, state, values)
