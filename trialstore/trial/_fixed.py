"""FixedTrial: run an objective with given parameter values, without a study (private;
public: ``trialstore.trial.FixedTrial``)."""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from trialstore._core import (
    constraint_attr,
    constraints_from_system_attrs,
    warn_constraint_already_set,
)
from trialstore.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    check_distribution_compatibility,
)
from trialstore.trial._base import BaseTrial
from trialstore.trial._trial import _check_name, _float_distribution, _int_distribution, _make

__all__ = ["FixedTrial"]


class FixedTrial(BaseTrial):
    """A trial whose ``suggest_*`` calls return the values in ``params``: to run an objective
    with chosen values (for example a study's ``best_params``) outside any study.

    Each ``suggest_*`` checks its arguments as :class:`~trialstore.trial.Trial` does, then
    returns ``params[name]``: as given for ``suggest_float`` and ``suggest_categorical``, as
    ``int(value)`` for ``suggest_int``. A value outside the suggested range is still returned,
    with a UserWarning. :attr:`params` and :attr:`distributions` hold only the names
    suggested so far. ``report`` records nothing, ``should_prune`` is always False, user
    attributes live in this object only. Nothing is stored anywhere. Not thread-safe.

    Raises:
        ValueError: ``params`` is not a mapping, or ``number`` is not an int.
    """

    def __init__(self, params: dict[str, Any], number: int = 0) -> None:
        if not isinstance(params, Mapping):
            raise ValueError(
                f"params must be a dict of parameter values by name, got {type(params).__name__}."
            )
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"number must be an int, got {number!r}.")
        self._given = dict(params)
        self._number = number
        self._params: dict[str, Any] = {}
        self._distributions: dict[str, BaseDistribution] = {}
        self._user_attrs: dict[str, Any] = {}
        self._system_attrs: dict[str, Any] = {}
        self._datetime_start = datetime.datetime.now()

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Return ``params[name]`` as given.

        Raises:
            ValueError: naming the parameter: the arguments are invalid (as for
                :meth:`Trial.suggest_float <trialstore.trial.Trial.suggest_float>`), ``name``
                is not in ``params``, its value is not a number, or ``name`` was suggested
                before with an incompatible distribution.
        """
        dist = _float_distribution(name, low, high, step, log)
        return self._suggest(name, dist)  # type: ignore[no-any-return]

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Return ``int(params[name])``.

        Raises:
            ValueError: as for :meth:`suggest_float`.
        """
        dist = _int_distribution(name, low, high, step, log)
        return int(self._suggest(name, dist))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """Return ``params[name]`` as given.

        Raises:
            ValueError: naming the parameter: ``choices`` is invalid, ``name`` is not in
                ``params``, its value is not one of ``choices``, or ``name`` was suggested
                before with other choices.
        """
        _check_name(name)
        dist = _make(name, lambda: CategoricalDistribution(choices))
        return self._suggest(name, dist)  # type: ignore[no-any-return]

    def _suggest(self, name: str, dist: BaseDistribution) -> Any:
        if name not in self._given:
            raise ValueError(
                f"The value of the parameter {name!r} is not found in the FixedTrial's params "
                f"(names: {sorted(map(str, self._given))}); pass it when constructing the "
                "FixedTrial."
            )
        known = self._distributions.get(name)
        if known is not None and known != dist:
            try:
                check_distribution_compatibility(known, dist)
            except ValueError as e:
                raise ValueError(f"Parameter {name!r}: {e}") from None
        value = self._given[name]
        try:
            internal = dist.to_internal_repr(value)
        except ValueError as e:
            raise ValueError(f"Parameter {name!r}: {e}") from None
        if not dist._contains(internal):
            warnings.warn(
                f"The value {value} of the parameter '{name}' is out of the range of the "
                f"distribution {dist}.",
                UserWarning,
                stacklevel=3,
            )
        self._params[name] = value
        self._distributions[name] = dist
        return value

    def report(self, value: float, step: int) -> None:
        """Do nothing: a FixedTrial has no pruner."""

    def should_prune(self) -> bool:
        """Return False: a FixedTrial is never pruned."""
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        """Keep a user attribute in this object."""
        self._user_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Keep constraint ``key`` in this object's system attributes, in Optuna's format; a
        key already set keeps its value, with a warning.

        Raises:
            ValueError: ``key`` is not a str, or ``value`` is NaN.
            TypeError: ``value`` does not convert to a float.
        """
        attr, number = constraint_attr(key, value)
        if attr in self._system_attrs:
            warn_constraint_already_set(key)
            return
        self._system_attrs[attr] = number

    @property
    def constraints(self) -> dict[str, float]:
        """The constraint values set so far, by key."""
        return constraints_from_system_attrs(self._system_attrs)

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the values suggested so far (as given), by name."""
        return dict(self._params)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """A copy of the distributions of the latest suggestion of each name."""
        return dict(self._distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """A copy of the user attributes set so far."""
        return dict(self._user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """Always empty: nothing sets system attributes on a FixedTrial."""
        return dict(self._system_attrs)

    @property
    def datetime_start(self) -> datetime.datetime | None:
        """When this object was made (local time, naive)."""
        return self._datetime_start

    @property
    def number(self) -> int:
        """The ``number`` given at construction (default 0)."""
        return self._number
