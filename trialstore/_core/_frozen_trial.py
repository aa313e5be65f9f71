"""FrozenTrial: a snapshot of one trial as a storage returned it."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any

from trialstore._core._constraints import (
    constraint_attr,
    constraints_from_system_attrs,
    warn_constraint_already_set,
)
from trialstore._core._state import TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["FrozenTrial"]


class FrozenTrial:
    """A trial's state, parameters, values, attributes and timestamps.

    Objects returned by a storage are snapshots: later writes to the storage never change them.
    A caller that mutates one (which the fields allow, for building templates) owns the result;
    a storage never shares a caller's object with its own state.

    ``params`` holds external values (what ``suggest_*`` returned) and ``distributions`` the
    distribution of each; both keep insertion order. Exactly one of ``value`` and ``values``
    may be given.
    """

    def __init__(
        self,
        number: int,
        state: TrialState,
        value: float | None,
        datetime_start: datetime.datetime | None,
        datetime_complete: datetime.datetime | None,
        params: dict[str, Any],
        distributions: dict[str, BaseDistribution],
        user_attrs: dict[str, Any],
        system_attrs: dict[str, Any],
        intermediate_values: dict[int, float],
        trial_id: int,
        *,
        values: Sequence[float] | None = None,
    ) -> None:
        if value is not None and values is not None:
            raise ValueError("FrozenTrial: give at most one of value and values.")
        self._number = number
        self.state = state
        self._values: list[float] | None
        if value is not None:
            self._values = [value]
        elif values is not None:
            self._values = list(values)
        else:
            self._values = None
        self._datetime_start = datetime_start
        self.datetime_complete = datetime_complete
        self._params = params
        self._distributions = distributions
        self._user_attrs = user_attrs
        self._system_attrs = system_attrs
        self.intermediate_values = intermediate_values
        self._trial_id = trial_id

    # -- comparison -----------------------------------------------------------------------

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self._number < other._number

    def __le__(self, other: Any) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self._number <= other._number

    def __hash__(self) -> int:
        return hash((self._trial_id, self._number))

    def __repr__(self) -> str:
        return (
            f"FrozenTrial(number={self._number!r}, state={self.state!r}, values={self._values!r}, "
            f"datetime_start={self._datetime_start!r}, "
            f"datetime_complete={self.datetime_complete!r}, params={self._params!r}, "
            f"distributions={self._distributions!r}, user_attrs={self._user_attrs!r}, "
            f"system_attrs={self._system_attrs!r}, "
            f"intermediate_values={self.intermediate_values!r}, trial_id={self._trial_id!r})"
        )

    # -- the Trial-like reading interface --------------------------------------------------

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Return the stored value of ``name`` (it must lie in the given range)."""
        return float(self._suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Return the stored value of ``name`` (it must lie in the given range)."""
        return int(self._suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """Return the stored value of ``name`` (it must be one of ``choices``)."""
        return self._suggest(name, CategoricalDistribution(choices))  # type: ignore[no-any-return]

    def report(self, value: float, step: int) -> None:
        """Do nothing: a frozen trial takes no reports (kept for interface compatibility)."""

    def should_prune(self) -> bool:
        """Return False: a frozen trial is never pruned."""
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        """Set ``key`` in this snapshot's user attributes (not in any storage)."""
        self._user_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Set constraint ``key`` in this snapshot's system attributes (not in any storage;
        see :attr:`constraints`). A key already set keeps its value, with a warning.

        Raises:
            ValueError: ``key`` is not a str, or ``value`` is NaN.
            TypeError: ``value`` does not convert to a float.
        """
        attr, number = constraint_attr(key, value)
        if attr in self._system_attrs:
            warn_constraint_already_set(key)
            return
        self._system_attrs[attr] = number

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        if name not in self._params:
            raise ValueError(
                f"The value of the parameter '{name}' is not found. Please set it at the "
                "construction of the FrozenTrial object."
            )
        value = self._params[name]
        if not distribution._contains(distribution.to_internal_repr(value)):
            raise ValueError(f"The value {value!r} of the parameter '{name}' is out of range.")
        return value

    def _validate(self) -> None:
        """Check the snapshot's fields agree with each other and with its state.

        Raises:
            ValueError: naming the field that is wrong.
        """
        self._validate_against_state()
        self._validate_params()

    def _validate_against_state(self) -> None:
        """Check the datetimes and values are what the state requires."""
        if self.state != TrialState.WAITING and self._datetime_start is None:
            raise ValueError("datetime_start is required unless the state is WAITING.")
        if self.state.is_finished():
            if self.datetime_complete is None:
                raise ValueError("datetime_complete is required for a finished trial.")
        elif self.datetime_complete is not None:
            raise ValueError("datetime_complete must be None for an unfinished trial.")
        if self.state == TrialState.COMPLETE:
            if self._values is None:
                raise ValueError("values are required for a COMPLETE trial.")
            if any(math.isnan(v) for v in self._values):
                raise ValueError("values must not contain NaN for a COMPLETE trial.")

    def _validate_params(self) -> None:
        """Check params and distributions have the same names and each value is in range."""
        if set(self._params) != set(self._distributions):
            raise ValueError(
                "params and distributions must have the same keys, got "
                f"{sorted(self._params)} and {sorted(self._distributions)}."
            )
        for name, param in self._params.items():
            dist = self._distributions[name]
            if not dist._contains(dist.to_internal_repr(param)):
                raise ValueError(f"param {name!r}: {param!r} is not in {dist!r}.")

    # -- fields ------------------------------------------------------------------------------

    @property
    def number(self) -> int:
        """The trial's number: its 0-based index within its study, in creation order."""
        return self._number

    @number.setter
    def number(self, value: int) -> None:
        self._number = value

    @property
    def value(self) -> float | None:
        """The single objective value. Raises RuntimeError for a multi-objective trial."""
        if self._values is None:
            return None
        if len(self._values) > 1:
            raise RuntimeError(
                "This attribute is not available during multi-objective optimization."
            )
        return self._values[0]

    @value.setter
    def value(self, v: float | None) -> None:
        if self._values is not None and len(self._values) > 1:
            raise RuntimeError(
                "This attribute is not available during multi-objective optimization."
            )
        self._values = None if v is None else [v]

    @property
    def values(self) -> list[float] | None:
        """The objective values, one per direction, or None."""
        return self._values

    @values.setter
    def values(self, v: Sequence[float] | None) -> None:
        self._values = None if v is None else list(v)

    @property
    def datetime_start(self) -> datetime.datetime | None:
        """When the trial became RUNNING (None while WAITING)."""
        return self._datetime_start

    @datetime_start.setter
    def datetime_start(self, value: datetime.datetime | None) -> None:
        self._datetime_start = value

    @property
    def params(self) -> dict[str, Any]:
        """Parameter values in their external representation, in insertion order."""
        return self._params

    @params.setter
    def params(self, params: dict[str, Any]) -> None:
        self._params = params

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """The distribution of each parameter."""
        return self._distributions

    @distributions.setter
    def distributions(self, value: dict[str, BaseDistribution]) -> None:
        self._distributions = value

    @property
    def user_attrs(self) -> dict[str, Any]:
        """User attributes (JSON values)."""
        return self._user_attrs

    @user_attrs.setter
    def user_attrs(self, value: dict[str, Any]) -> None:
        self._user_attrs = value

    @property
    def system_attrs(self) -> dict[str, Any]:
        """System attributes (JSON values), used by the library itself."""
        return self._system_attrs

    @system_attrs.setter
    def system_attrs(self, value: dict[str, Any]) -> None:
        self._system_attrs = value

    @property
    def constraints(self) -> dict[str, float]:
        """The constraint values by key, read from :attr:`system_attrs` in Optuna's format
        (``"constraints:<key>"`` attributes, and the list under ``"constraints"``, whose
        entries read as keys ``"0"``, ``"1"``, ...). The trial is feasible when every value is
        ``<= 0``; a trial without constraints is feasible."""
        return constraints_from_system_attrs(self._system_attrs)

    @property
    def last_step(self) -> int | None:
        """The largest step with an intermediate value, or None."""
        if not self.intermediate_values:
            return None
        return max(self.intermediate_values)

    @property
    def duration(self) -> datetime.timedelta | None:
        """``datetime_complete - datetime_start`` when both are set, else None."""
        if self._datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self._datetime_start
