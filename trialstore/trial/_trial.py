"""Trial: the object an objective function receives (private; public: ``trialstore.Trial``)."""

from __future__ import annotations

import datetime
import decimal
import math
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import (
    FrozenTrial,
    constraint_attr,
    constraints_from_system_attrs,
    new_running_trial,
    warn_constraint_already_set,
)
from trialstore.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)
from trialstore.trial._base import BaseTrial

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["Trial"]


class Trial(BaseTrial):
    """One running trial of a study, handed to the objective function.

    ``suggest_*`` returns a parameter value (from an enqueued trial's fixed params, else from
    the study's sampler). Suggesting a name again returns the value already chosen. A Trial
    caches what it wrote, so reading ``params`` or ``user_attrs`` costs no storage round
    trip; it is meant for the one thread that runs the objective.

    When the parameter is written depends on the study's ``param_writes``:

    * ``"immediate"`` (the default): each ``suggest_*`` records its parameter in the storage
      before returning (one write per parameter).
    * ``"at_tell"``: ``suggest_*`` checks the value and distribution here (against the
      trial's own earlier suggestion of the name and the study's distribution of the name
      when this process knows it), shows it in :attr:`params` at once, and buffers it. The
      buffer is written with one ``set_trial_params`` call before any other write on this
      trial (:meth:`report`, :meth:`set_user_attr`, :meth:`set_system_attr`) and before the
      trial is finished. Until then, other workers and processes (and readers of the study's
      trials) do not see the buffered parameters, and a worker that dies loses them: the
      trial is still failed by the heartbeat, and ``RetryFailedTrialCallback`` re-runs it
      with the parameters that had been written (fewer fixed params). A conflict that only the
      storage knows of (another process registered the name with an incompatible
      distribution) is raised by the write of the buffer, as a ValueError naming the
      parameter, and none of the buffered parameters is stored.
    """

    def __init__(self, study: Study, trial_id: int, frozen: FrozenTrial | None = None) -> None:
        self.study = study
        self._trial_id = trial_id
        self._storage = study._storage
        if frozen is None:
            number = self._storage.get_trial_number_from_id(trial_id)
            frozen = new_running_trial(number, trial_id)
        # A read-only view shared with samplers and pruners; this object keeps it current.
        self._cached_frozen = frozen
        fixed = frozen.system_attrs.get("fixed_params")
        self._fixed_params: dict[str, Any] = dict(fixed) if isinstance(fixed, dict) else {}
        #: Where this trial's parameters wait to be written (``param_writes="at_tell"``),
        #: else None (each is written when suggested).
        self._batches = study.param_batches
        if self._batches is not None:
            self._batches.learn(frozen.distributions)
        self._relative_params: dict[str, Any] | None = None
        self._relative_space: dict[str, BaseDistribution] = {}

    def _init_relative_params(self) -> None:
        sampler = self.study.sampler
        self._relative_space = sampler.infer_relative_search_space(self.study, self._cached_frozen)
        self._relative_params = (
            sampler.sample_relative(self.study, self._cached_frozen, self._relative_space)
            if self._relative_space
            else {}
        )

    # -- suggestions ---------------------------------------------------------------------------

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        """Suggest a float in ``[low, high]``, on a log scale or a grid of ``step``.

        Raises:
            ValueError: naming the parameter, when ``low > high``; ``log`` and ``step`` are both
                given; ``log`` with ``low <= 0``; ``step <= 0`` or a ``step`` that does not
                divide ``high - low``; ``name`` was used with an incompatible distribution.
                Nothing is stored then.
        """
        key = (type(low), low, type(high), high, type(step), step, log)
        dist = _lookup(_FLOAT_CACHE, key)
        if dist is None or not isinstance(name, str):
            dist = _float_distribution(name, low, high, step, log)
            _remember(_FLOAT_CACHE, key, dist)
        assert isinstance(dist, FloatDistribution)
        return float(self._suggest(name, dist))

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int:
        """Suggest an int in ``[low, high]`` on a grid of ``step`` or on a log scale.

        Raises:
            ValueError: naming the parameter, as for :meth:`suggest_float` (``log`` needs
                ``low >= 1`` and ``step == 1``), or for non-integral bounds.
        """
        key = (type(low), low, type(high), high, type(step), step, log)
        dist = _lookup(_INT_CACHE, key)
        if dist is None or not isinstance(name, str):
            dist = _int_distribution(name, low, high, step, log)
            _remember(_INT_CACHE, key, dist)
        assert isinstance(dist, IntDistribution)
        return int(self._suggest(name, dist))

    def suggest_categorical(
        self, name: str, choices: Sequence[CategoricalChoiceType]
    ) -> CategoricalChoiceType:
        """Suggest one of ``choices`` (None, bool, int, float or str values).

        Raises:
            ValueError: naming the parameter, when ``choices`` is empty, not a sequence, holds
                another type (e.g. a list), or differs from an earlier use of ``name``.
        """
        _check_name(name)
        dist = _make(name, lambda: CategoricalDistribution(choices))
        return self._suggest(name, dist)  # type: ignore[no-any-return]

    def _suggest(self, name: str, dist: BaseDistribution) -> Any:
        frozen = self._cached_frozen
        known = frozen.distributions.get(name)
        if known is not None:
            if known != dist:
                try:
                    check_distribution_compatibility(known, dist)
                except ValueError as e:
                    raise ValueError(f"Parameter {name!r}: {e}") from None
            return frozen.params[name]
        value = self._choose(name, dist)
        internal = dist.to_internal_repr(value)
        try:
            if self._batches is None:
                self._storage.set_trial_param(self._trial_id, name, internal, dist)
            else:
                self._batches.add(self._trial_id, frozen, name, internal, dist)
        except ValueError as e:
            message = str(e)
            if repr(name) not in message:
                message = f"Parameter {name!r}: {message}"
            raise ValueError(message) from None
        external = dist.to_external_repr(internal)
        frozen.params[name] = external
        frozen.distributions[name] = dist
        return external

    def _flush_params(self) -> None:
        """Write the parameters waiting in this trial's batch, if any (after a rejection they
        are gone from :attr:`params`: see :meth:`~trialstore.trial.ParamBatches.flush`).

        Raises:
            whatever ``set_trial_params`` raised.
        """
        if self._batches is not None:
            self._batches.flush(self._trial_id)

    def _choose(self, name: str, dist: BaseDistribution) -> Any:
        if name in self._fixed_params:
            fixed = self._fixed_params[name]
            try:
                internal = dist.to_internal_repr(fixed)
                representable = dist._representable(internal)
            except ValueError:
                representable = False
            if representable:
                if not dist._contains(internal):
                    # Optuna 5.0's warning, word for word: the value is used as given.
                    warnings.warn(
                        f"Fixed parameter {name} with value {fixed} is out of range for "
                        f"distribution {dist}.",
                        UserWarning,
                        stacklevel=4,
                    )
                return fixed
            warnings.warn(
                f"Fixed parameter {name!r} with value {fixed!r} cannot be represented by "
                f"distribution {dist!r}; sampling a new value instead.",
                UserWarning,
                stacklevel=4,
            )
        if self._relative_params is None:
            self._init_relative_params()
        assert self._relative_params is not None
        if name in self._relative_params and self._relative_space.get(name) == dist:
            return self._relative_params[name]
        return self.study.sampler.sample_independent(self.study, self._cached_frozen, name, dist)

    # -- reports and attributes ----------------------------------------------------------------

    def report(self, value: float, step: int) -> None:
        """Record an intermediate objective value at ``step`` (used by pruners).

        A step reported twice keeps its first value (with a warning).

        With ``param_writes="at_tell"``, the buffered parameters are written first.

        Raises:
            NotImplementedError: the study has several objectives.
            TypeError: ``value`` is not a number.
            ValueError: ``step`` is not an int >= 0; or the storage rejected the buffered
                parameters (see the class docstring).
        """
        if len(self.study.directions) > 1:
            raise NotImplementedError(
                "Trial.report is not supported for multi-objective optimization."
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"The `value` argument is of type '{type(value).__name__}' but supposed to be "
                "a float."
            ) from None
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"The `step` argument is {step!r} but cannot be negative.")
        intermediate = self._cached_frozen.intermediate_values
        if step in intermediate:
            warnings.warn(
                f"The reported value is ignored because this `step` {step} is already reported.",
                stacklevel=2,
            )
            return
        self._flush_params()
        self._storage.set_trial_intermediate_value(self._trial_id, step, value)
        intermediate[step] = value

    def should_prune(self) -> bool:
        """Return the study pruner's verdict on this trial's reported values.

        Raises:
            NotImplementedError: the study has several objectives.
        """
        if len(self.study.directions) > 1:
            raise NotImplementedError(
                "Trial.should_prune is not supported for multi-objective optimization."
            )
        return self.study.pruner.prune(self.study, self._cached_frozen)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON-serializable user attribute on the trial.

        With ``param_writes="at_tell"``, the buffered parameters are written first.

        Raises:
            ValueError: ``key`` is not a str of at most 512 characters or ``value`` is not
                JSON-serializable (nothing is stored then); or the storage rejected the
                buffered parameters (see the class docstring).
        """
        self._flush_params()
        self._storage.set_trial_user_attr(self._trial_id, key, value)
        self._cached_frozen.user_attrs[key] = value

    def set_system_attr(self, key: str, value: Any) -> None:
        """Store a JSON-serializable system attribute (reserved for libraries); as
        :meth:`set_user_attr`, buffered parameters are written first."""
        self._flush_params()
        self._storage.set_trial_system_attr(self._trial_id, key, value)
        self._cached_frozen.system_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Store constraint ``key`` of the trial: the trial is feasible when every constraint
        value is ``<= 0``. Stored as Optuna stores it (the system attribute
        ``"constraints:<key>"``, a float), so Optuna's samplers and ``best_trial(s)`` read it.

        A key this Trial already holds (set here, or present when the trial was claimed)
        keeps its value, with a warning, and nothing is written. Otherwise this is one
        :meth:`set_system_attr` write: with ``param_writes="at_tell"``, the buffered
        parameters are written first.

        Raises:
            ValueError: ``key`` is not a str, or ``value`` is NaN (nothing is written); or
                the storage rejected the key (longer than the storage allows) or the buffered
                parameters.
            TypeError: ``value`` does not convert to a float.
            UpdateFinishedTrialError: the trial is finished.
        """
        attr, number = constraint_attr(key, value)
        if attr in self._cached_frozen.system_attrs:
            warn_constraint_already_set(key)
            return
        self.set_system_attr(attr, number)

    # -- fields --------------------------------------------------------------------------------

    @property
    def number(self) -> int:
        """The trial's 0-based number within its study."""
        return self._cached_frozen.number

    @property
    def params(self) -> dict[str, Any]:
        """A copy of the parameters suggested so far."""
        return dict(self._cached_frozen.params)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """A copy of the distributions of the parameters suggested so far."""
        return dict(self._cached_frozen.distributions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """A copy of the user attributes set so far."""
        return dict(self._cached_frozen.user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """A copy of the system attributes."""
        return dict(self._cached_frozen.system_attrs)

    @property
    def constraints(self) -> dict[str, float]:
        """The constraint values by key (see :meth:`set_constraint`): those set through this
        Trial and those the trial held when it was claimed. No storage round trip."""
        return constraints_from_system_attrs(self._cached_frozen.system_attrs)

    @property
    def datetime_start(self) -> datetime.datetime | None:
        """When the trial started (as seen by this process)."""
        return self._cached_frozen.datetime_start

    @property
    def relative_params(self) -> dict[str, Any]:
        """Values chosen jointly by the sampler at the start of the trial."""
        if self._relative_params is None:
            self._init_relative_params()
        assert self._relative_params is not None
        return dict(self._relative_params)


def _check_name(name: Any) -> None:
    if not isinstance(name, str):
        raise ValueError(f"The parameter name must be a str, got {name!r}.")


def _check_bounds(name: str, low: Any, high: Any) -> None:
    for field, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise ValueError(f"Parameter {name!r}: `{field}` must be a number, got {bound!r}.")
        if not math.isfinite(bound):
            raise ValueError(f"Parameter {name!r}: `{field}` must be finite, got {bound!r}.")
    if low > high:
        raise ValueError(
            f"Parameter {name!r}: `low` must be <= `high`, got low={low}, high={high}."
        )


def _check_step_divides(name: str, low: float, high: float, step: float) -> None:
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not step > 0:
        raise ValueError(f"Parameter {name!r}: `step` must be a number > 0, got {step!r}.")
    span = decimal.Decimal(str(high)) - decimal.Decimal(str(low))
    if span % decimal.Decimal(str(step)) != 0:
        raise ValueError(
            f"Parameter {name!r}: the range high - low = {high} - {low} is not divisible by "
            f"step={step}."
        )


def _make(name: str, build: Callable[[], BaseDistribution]) -> BaseDistribution:
    try:
        return build()
    except ValueError as e:
        raise ValueError(f"Parameter {name!r}: {e}") from None


#: Validated distributions by their arguments (distributions are immutable values), so the
#: per-suggestion cost of validation is paid once per distinct range.
_FLOAT_CACHE: dict[tuple[Any, ...], BaseDistribution] = {}
_INT_CACHE: dict[tuple[Any, ...], BaseDistribution] = {}
_CACHE_SIZE = 4096


def _lookup(cache: dict[tuple[Any, ...], BaseDistribution], key: Any) -> Any:
    try:
        return cache.get(key)
    except TypeError:  # an unhashable argument: validation will reject it
        return None


def _remember(cache: dict[tuple[Any, ...], BaseDistribution], key: Any, dist: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = dist


def _float_distribution(
    name: str, low: float, high: float, step: float | None, log: bool
) -> BaseDistribution:
    _check_name(name)
    _check_bounds(name, low, high)
    if step is not None:
        if log:
            raise ValueError(
                f"Parameter {name!r}: the `step` and `log` arguments cannot be used at the "
                "same time."
            )
        _check_step_divides(name, low, high, step)
    if log and low <= 0:
        raise ValueError(
            f"Parameter {name!r}: `low` must be > 0 for a log distribution, got low={low}."
        )
    return _make(name, lambda: FloatDistribution(low, high, log=log, step=step))


def _int_distribution(name: str, low: int, high: int, step: int, log: bool) -> BaseDistribution:
    _check_name(name)
    _check_bounds(name, low, high)
    if log and step != 1:
        raise ValueError(
            f"Parameter {name!r}: `step` must be 1 for a log distribution, got step={step}."
        )
    if log and low < 1:
        raise ValueError(
            f"Parameter {name!r}: `low` must be >= 1 for a log distribution, got low={low}."
        )
    _check_step_divides(name, low, high, step)
    return _make(name, lambda: IntDistribution(low, high, log=log, step=step))
