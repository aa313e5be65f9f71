"""BaseTrial: the interface an objective function sees (private; public:
``trialstore.trial.BaseTrial``)."""

from __future__ import annotations

import abc
import datetime
import warnings
from collections.abc import Sequence
from typing import Any

from trialstore.distributions import BaseDistribution, CategoricalChoiceType

__all__ = ["BaseTrial"]


class BaseTrial(abc.ABC):
    """What :class:`~trialstore.trial.Trial` (a trial of a study) and
    :class:`~trialstore.trial.FixedTrial` (given values, no study) have in common, with
    Optuna's names: an objective written against this interface runs with either.

    Subclasses implement the abstract methods and properties. ``suggest_uniform``,
    ``suggest_loguniform`` and ``suggest_discrete_uniform`` (Optuna's deprecated spellings)
    are provided here: each warns with a FutureWarning and calls :meth:`suggest_float`.
    """

    @abc.abstractmethod
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Return a value of parameter ``name`` in ``[low, high]`` (on a log scale with
        ``log``, on the grid ``low + k * step`` with ``step``).

        Raises:
            ValueError: naming the parameter, for invalid arguments.
        """

    @abc.abstractmethod
    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Return an int value of parameter ``name`` in ``[low, high]``.

        Raises:
            ValueError: naming the parameter, for invalid arguments.
        """

    @abc.abstractmethod
    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """Return one of ``choices`` for parameter ``name``.

        Raises:
            ValueError: naming the parameter, for invalid ``choices``.
        """

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Deprecated spelling of ``suggest_float(name, low, high)`` (FutureWarning)."""
        _deprecated("suggest_uniform", "suggest_float(name, low, high)")
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Deprecated spelling of ``suggest_float(name, low, high, log=True)``
        (FutureWarning)."""
        _deprecated("suggest_loguniform", "suggest_float(name, low, high, log=True)")
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Deprecated spelling of ``suggest_float(name, low, high, step=q)``
        (FutureWarning)."""
        _deprecated("suggest_discrete_uniform", "suggest_float(name, low, high, step=q)")
        return self.suggest_float(name, low, high, step=q)

    @abc.abstractmethod
    def report(self, value: float, step: int) -> None:
        """Record an intermediate objective value at ``step`` (for pruners)."""

    @abc.abstractmethod
    def should_prune(self) -> bool:
        """Return whether the trial should stop early (raise ``TrialPruned``)."""

    @abc.abstractmethod
    def set_user_attr(self, key: str, value: Any) -> None:
        """Record a user attribute of the trial."""

    @abc.abstractmethod
    def set_constraint(self, key: str, value: float) -> None:
        """Record constraint ``key`` (feasible when every constraint value is ``<= 0``).

        Raises:
            ValueError: ``key`` is not a str, or ``value`` is NaN.
            TypeError: ``value`` does not convert to a float.
        """

    @property
    def constraints(self) -> dict[str, float]:
        """The constraint values set so far, by key.

        Raises:
            NotImplementedError: the subclass keeps no constraints (``Trial`` and
                ``FixedTrial`` do).
        """
        raise NotImplementedError(f"{type(self).__name__} does not keep constraints.")

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """A copy of the parameters suggested so far, by name."""

    @property
    @abc.abstractmethod
    def distributions(self) -> dict[str, BaseDistribution]:
        """A copy of the distributions of the parameters suggested so far, by name."""

    @property
    @abc.abstractmethod
    def user_attrs(self) -> dict[str, Any]:
        """A copy of the user attributes set so far."""

    @property
    @abc.abstractmethod
    def datetime_start(self) -> datetime.datetime | None:
        """When the trial started."""

    @property
    def number(self) -> int:
        """The trial's 0-based number within its study.

        Raises:
            NotImplementedError: the subclass does not provide it.
        """
        raise NotImplementedError


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated (since Optuna 3.0, to be removed in Optuna 6.0); use {new} instead.",
        FutureWarning,
        stacklevel=3,
    )
