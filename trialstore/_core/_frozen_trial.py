"""FrozenTrial: a snapshot of one trial as a storage returned it."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from typing import Any

from trialstore._core._constraints import (
    constraint_attr,
    constraints_from_system_attrs,
    warn_constraint_already_set,
)
from trialstore._core._state import TrialState
from trialstore._core._trial_source import TrialSource
from trialstore.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = ["FrozenTrial"]

#: The keys of the state a FrozenTrial pickles as (those of its ``__dict__`` in earlier
#: versions, so pickles are read both ways), in the order :meth:`FrozenTrial._fields` gives.
_STATE_KEYS = (
    "_number",
    "state",
    "_values",
    "_datetime_start",
    "datetime_complete",
    "_params",
    "_distributions",
    "_user_attrs",
    "_system_attrs",
    "intermediate_values",
    "_trial_id",
)


class FrozenTrial:
    """A trial's state, parameters, values, attributes and timestamps.

    Objects returned by a storage are snapshots: later writes to the storage never change them.
    A caller that mutates one (which the fields allow, for building templates) owns the result;
    a storage never shares a caller's object with its own state.

    ``params`` holds external values (what ``suggest_*`` returned) and ``distributions`` the
    distribution of each; both keep insertion order. Exactly one of ``value`` and ``values``
    may be given.

    Sharing and compact trials (what storages do with the trials they hold):

    * Trials a storage returns with ``deepcopy=False`` are its own: they, and the containers
      they hold, may be shared with the storage's state and with other trials (trials with
      equal distributions typically share one ``distributions`` dict). They must not be
      mutated: a change could show in other trials and in what the storage returns or
      writes later. Trials returned with ``deepcopy=True`` (and ``get_trial``) own every
      container they hold: mutating one changes nothing else.
    * A storage may build finished trials *compact*: parameters and intermediate values are
      decoded from a shared, immutable :class:`~trialstore._core.TrialSource` when first
      read, and empty attribute dicts are created when first read. This is invisible
      through the API: a field read twice returns the same dict (which the trial then keeps),
      equality, hashing, ``repr``, pickling and copying see the decoded values, and a compact
      trial equals the eagerly built one. ``copy.deepcopy`` and unpickling give a trial that
      is not compact; a storage's ``deepcopy=True`` copy may stay compact, sharing nothing
      but the immutable source. Threads may read a shared trial at once (two first reads of
      one field may each decode a dict: both are equal, and the trial keeps one).
    * Instances have ``__slots__`` (no ``__dict__``); a subclass may add attributes (its
      instances get a ``__dict__``, which equality, pickling and copying include).
    """

    __slots__ = (
        "_datetime_start",
        "_distributions",
        "_iv_dict",
        "_number",
        "_param_dict",
        "_source",
        "_system_dict",
        "_trial_id",
        "_user_dict",
        "_values",
        "datetime_complete",
        "state",
    )

    _number: int
    state: TrialState
    _values: list[float] | None
    _datetime_start: datetime.datetime | None
    datetime_complete: datetime.datetime | None
    #: None: not decoded yet (from ``_source``; a trial without one has none).
    _param_dict: dict[str, Any] | None
    _distributions: dict[str, BaseDistribution]
    #: None: none, and no dict made yet.
    _user_dict: dict[str, Any] | None
    _system_dict: dict[str, Any] | None
    #: None: not decoded yet (from ``_source``; a trial without one has none).
    _iv_dict: dict[int, float] | None
    _trial_id: int
    #: Decodes the params and intermediate values not decoded yet (None: eager trial).
    _source: TrialSource | None

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
        if value is not None:
            self._values = [value]
        elif values is not None:
            self._values = list(values)
        else:
            self._values = None
        self._datetime_start = datetime_start
        self.datetime_complete = datetime_complete
        self._param_dict = params
        self._distributions = distributions
        self._user_dict = user_attrs
        self._system_dict = system_attrs
        self._iv_dict = intermediate_values
        self._trial_id = trial_id
        self._source = None

    @classmethod
    def _compact(
        cls,
        number: int,
        state: TrialState,
        values: list[float] | None,
        datetime_start: datetime.datetime | None,
        datetime_complete: datetime.datetime | None,
        distributions: dict[str, BaseDistribution],
        trial_id: int,
        source: TrialSource | None,
        *,
        params: dict[str, Any] | None = None,
        user_attrs: dict[str, Any] | None = None,
        system_attrs: dict[str, Any] | None = None,
        intermediate_values: dict[int, float] | None = None,
    ) -> FrozenTrial:
        """Return a trial holding the given objects as they are (nothing is copied or
        checked), for storage readers. A dict given as None is decoded from ``source`` when
        first read (params, intermediate values; without a source: empty) or made empty
        (attributes)."""
        trial = cls.__new__(cls)
        trial._number = number
        trial.state = state
        trial._values = values
        trial._datetime_start = datetime_start
        trial.datetime_complete = datetime_complete
        trial._param_dict = params
        trial._distributions = distributions
        trial._user_dict = user_attrs
        trial._system_dict = system_attrs
        trial._iv_dict = intermediate_values
        trial._trial_id = trial_id
        trial._source = source
        return trial

    @classmethod
    def _compact_many(
        cls,
        numbers: Iterable[int],
        states: Iterable[TrialState],
        values: Iterable[list[float] | None],
        datetimes_start: Iterable[datetime.datetime | None],
        datetimes_complete: Iterable[datetime.datetime | None],
        distributions: Iterable[dict[str, BaseDistribution]],
        trial_ids: Iterable[int],
        source: TrialSource,
    ) -> list[FrozenTrial]:
        """Return :meth:`_compact` trials of the given fields (one trial per item of each
        iterable) with ``source``, no dicts given: what a storage reader builds for many
        finished trials at once (one loop, no call per trial)."""
        new = object.__new__
        trials: list[FrozenTrial] = []
        append = trials.append
        for number, state, vals, start, complete, dists, trial_id in zip(
            numbers,
            states,
            values,
            datetimes_start,
            datetimes_complete,
            distributions,
            trial_ids,
            strict=True,
        ):
            trial = new(cls)
            trial._number = number
            trial.state = state
            trial._values = vals
            trial._datetime_start = start
            trial.datetime_complete = complete
            trial._param_dict = None
            trial._distributions = dists
            trial._user_dict = None
            trial._system_dict = None
            trial._iv_dict = None
            trial._trial_id = trial_id
            trial._source = source
            append(trial)
        return trials

    def _shallow_copy(self) -> FrozenTrial:
        """Return a new trial holding the same objects (containers and source included)."""
        new = object.__new__(type(self))
        new._number = self._number
        new.state = self.state
        new._values = self._values
        new._datetime_start = self._datetime_start
        new.datetime_complete = self.datetime_complete
        new._param_dict = self._param_dict
        new._distributions = self._distributions
        new._user_dict = self._user_dict
        new._system_dict = self._system_dict
        new._iv_dict = self._iv_dict
        new._trial_id = self._trial_id
        new._source = self._source
        extra = getattr(self, "__dict__", None)
        if extra:
            new.__dict__.update(extra)
        return new

    def _fields(self) -> tuple[Any, ...]:
        """The fields, in the order of ``_STATE_KEYS`` (dicts not decoded yet are decoded
        into new dicts, which the trial does not keep)."""
        return (
            self._number,
            self.state,
            self._values,
            self._datetime_start,
            self.datetime_complete,
            self._params,
            self._distributions,
            self._user_attrs,
            self._system_attrs,
            self._intermediate_values,
            self._trial_id,
        )

    # -- pickling (also what copy.copy and copy.deepcopy use) -------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(zip(_STATE_KEYS, self._fields(), strict=True))
        extra = getattr(self, "__dict__", None)
        if extra:
            state.update(extra)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._source = None
        self._param_dict = self._iv_dict = self._user_dict = self._system_dict = None
        for key, value in state.items():
            setattr(self, key, value)

    # -- comparison -----------------------------------------------------------------------

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self._fields() == other._fields() and getattr(self, "__dict__", {}) == getattr(
            other, "__dict__", {}
        )

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
            f"intermediate_values={self._intermediate_values!r}, trial_id={self._trial_id!r})"
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
        self.user_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Set constraint ``key`` in this snapshot's system attributes (not in any storage;
        see :attr:`constraints`). A key already set keeps its value, with a warning.

        Raises:
            ValueError: ``key`` is not a str, or ``value`` is NaN.
            TypeError: ``value`` does not convert to a float.
        """
        attr, number = constraint_attr(key, value)
        system_attrs = self.system_attrs
        if attr in system_attrs:
            warn_constraint_already_set(key)
            return
        system_attrs[attr] = number

    def _suggest(self, name: str, distribution: BaseDistribution) -> Any:
        params = self._params
        if name not in params:
            raise ValueError(
                f"The value of the parameter '{name}' is not found. Please set it at the "
                "construction of the FrozenTrial object."
            )
        value = params[name]
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
        params = self._params
        if set(params) != set(self._distributions):
            raise ValueError(
                "params and distributions must have the same keys, got "
                f"{sorted(params)} and {sorted(self._distributions)}."
            )
        for name, param in params.items():
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
        params = self._param_dict
        if params is None:
            params = self._param_dict = self._params
        return params

    @params.setter
    def params(self, params: dict[str, Any]) -> None:
        self._param_dict = params

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
        attrs = self._user_dict
        if attrs is None:
            attrs = self._user_dict = {}
        return attrs

    @user_attrs.setter
    def user_attrs(self, value: dict[str, Any]) -> None:
        self._user_dict = value

    @property
    def system_attrs(self) -> dict[str, Any]:
        """System attributes (JSON values), used by the library itself."""
        attrs = self._system_dict
        if attrs is None:
            attrs = self._system_dict = {}
        return attrs

    @system_attrs.setter
    def system_attrs(self, value: dict[str, Any]) -> None:
        self._system_dict = value

    @property
    def intermediate_values(self) -> dict[int, float]:
        """Intermediate values by step."""
        ivs = self._iv_dict
        if ivs is None:
            ivs = self._iv_dict = self._intermediate_values
        return ivs

    @intermediate_values.setter
    def intermediate_values(self, value: dict[int, float]) -> None:
        self._iv_dict = value

    # Reads for library code that does not mutate what it reads: the trial's dict, or (not
    # decoded or made yet) a new one the trial does not keep, so that reading every trial
    # of a study leaves compact trials compact.

    @property
    def _params(self) -> dict[str, Any]:
        params = self._param_dict
        if params is not None:
            return params
        source = self._source
        return {} if source is None else source.params_of(self._trial_id)

    @_params.setter
    def _params(self, params: dict[str, Any]) -> None:
        self._param_dict = params

    @property
    def _intermediate_values(self) -> dict[int, float]:
        ivs = self._iv_dict
        if ivs is not None:
            return ivs
        source = self._source
        return {} if source is None else source.intermediate_values_of(self._trial_id)

    @property
    def _user_attrs(self) -> dict[str, Any]:
        attrs = self._user_dict
        return {} if attrs is None else attrs

    @_user_attrs.setter
    def _user_attrs(self, value: dict[str, Any]) -> None:
        self._user_dict = value

    @property
    def _system_attrs(self) -> dict[str, Any]:
        attrs = self._system_dict
        return {} if attrs is None else attrs

    @_system_attrs.setter
    def _system_attrs(self, value: dict[str, Any]) -> None:
        self._system_dict = value

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
        ivs = self._intermediate_values
        return max(ivs) if ivs else None

    @property
    def duration(self) -> datetime.timedelta | None:
        """``datetime_complete - datetime_start`` when both are set, else None."""
        if self._datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self._datetime_start
