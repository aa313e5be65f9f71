"""Parameter distributions and their JSON text.

A distribution says which values a parameter may take and how a value is stored: every
parameter is stored as an *internal* float (for :class:`CategoricalDistribution`, the index of
the choice). :func:`distribution_to_json` produces exactly the text Optuna writes, so journals
and databases are readable by both libraries; :func:`json_to_distribution` also reads the names
of Optuna's pre-3.0 distributions.
"""

from __future__ import annotations

import abc
import decimal
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

__all__ = [
    "BaseDistribution",
    "CategoricalChoiceType",
    "CategoricalDistribution",
    "FloatDistribution",
    "IntDistribution",
    "check_distribution_compatibility",
    "distribution_to_json",
    "json_to_distribution",
]

#: What a categorical choice may be (as in Optuna): values that JSON holds and compares exactly.
CategoricalChoiceType: TypeAlias = bool | int | float | str | None


class BaseDistribution(abc.ABC):
    """A set of allowed values of one parameter, with the mapping to internal floats.

    Distributions are values: two with the same class and attributes are equal and hash alike.
    They must not be mutated after construction.
    """

    @abc.abstractmethod
    def to_external_repr(self, param_value_in_internal_repr: float) -> Any:
        """Return the user-facing value for the stored (internal) float."""

    @abc.abstractmethod
    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        """Return the float that is stored for the user-facing value.

        Raises:
            ValueError: the value is not one this distribution can represent.
        """

    @abc.abstractmethod
    def single(self) -> bool:
        """Return True if the distribution admits exactly one value."""

    @abc.abstractmethod
    def _contains(self, param_value_in_internal_repr: float) -> bool:
        """Return True if the internal value lies in the distribution."""

    def _representable(self, param_value_in_internal_repr: float) -> bool:
        """Return True if a storage can keep the internal value for this distribution: it is
        finite, and its external value converts back to an internal value. It need not lie
        in the distribution's range (see :meth:`_contains`)."""
        value = param_value_in_internal_repr
        if not math.isfinite(value):
            return False
        try:
            self.to_internal_repr(self.to_external_repr(value))
        except (ValueError, TypeError, IndexError, OverflowError):
            return False
        return True

    def _asdict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, BaseDistribution) or type(self) is not type(other):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(
            (type(self).__name__, *sorted((k, _hashable(v)) for k, v in self.__dict__.items()))
        )

    def __repr__(self) -> str:
        kwargs = ", ".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items()))
        return f"{type(self).__name__}({kwargs})"


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_finite_real(value: Any) -> bool:
    if not _is_real(value):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float64's range
        return False


class FloatDistribution(BaseDistribution):
    """Floats in ``[low, high]``, optionally on a log scale or on a grid of ``step``.

    Raises:
        ValueError: ``low > high``; ``log`` with ``low <= 0``; ``log`` together with ``step``;
            ``step <= 0``; a bound that is not a finite real number.
    """

    def __init__(
        self, low: float, high: float, log: bool = False, step: float | None = None
    ) -> None:
        for field, bound in (("low", low), ("high", high)):
            if not _is_finite_real(bound):
                raise ValueError(
                    f"FloatDistribution: {field} must be a finite real number, got {bound!r}."
                )
        if log and step is not None:
            raise ValueError("FloatDistribution: step must be None when log is True.")
        if step is not None:
            if not _is_finite_real(step) or not step > 0:
                raise ValueError(
                    f"FloatDistribution: step must be a number > 0 or None, got {step!r}."
                )
        if low > high:  # before the adjustment to the grid, as Optuna checks it
            raise ValueError(
                f"FloatDistribution: low <= high is required, got low={low!r}, high={high!r}."
            )
        if step is not None:
            high = _adjust_float_high(float(low), float(high), float(step))
        if log and low <= 0.0:
            raise ValueError(
                f"FloatDistribution: low > 0 is required when log is True, got low={low!r}."
            )
        # The order of assignment is the order of Optuna's JSON attributes.
        self.step: float | None = None if step is None else float(step)
        self.low = float(low)
        self.high = float(high)
        self.log = bool(log)

    def single(self) -> bool:
        if self.step is None:
            return self.low == self.high
        if self.low == self.high:
            return True
        high = decimal.Decimal(str(self.high))
        low = decimal.Decimal(str(self.low))
        step = decimal.Decimal(str(self.step))
        return (high - low) < step

    def _contains(self, param_value_in_internal_repr: float) -> bool:
        value = param_value_in_internal_repr
        if self.step is None:
            return self.low <= value <= self.high
        k = (value - self.low) / self.step
        return self.low <= value <= self.high and abs(k - round(k)) < 1.0e-8

    def _representable(self, param_value_in_internal_repr: float) -> bool:
        value = param_value_in_internal_repr
        return math.isfinite(value) and (not self.log or value > 0.0)

    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        try:
            internal = float(param_value_in_external_repr)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"FloatDistribution: {param_value_in_external_repr!r} is not a real number."
            ) from e
        if math.isnan(internal):
            raise ValueError("FloatDistribution: NaN is not a valid parameter value.")
        if self.log and internal <= 0.0:
            raise ValueError(
                f"FloatDistribution: {param_value_in_external_repr!r} is not > 0 (log scale)."
            )
        return internal

    def to_external_repr(self, param_value_in_internal_repr: float) -> float:
        return float(param_value_in_internal_repr)


def _adjust_float_high(low: float, high: float, step: float) -> float:
    d_high = decimal.Decimal(str(high))
    d_low = decimal.Decimal(str(low))
    d_step = decimal.Decimal(str(step))
    d_r = d_high - d_low
    if d_r % d_step != decimal.Decimal("0"):
        high = float((d_r // d_step) * d_step + d_low)
    return high


class IntDistribution(BaseDistribution):
    """Integers in ``[low, high]`` on a grid of ``step``, optionally on a log scale.

    Raises:
        ValueError: ``low > high``; ``log`` with ``low < 1``; ``log`` with ``step != 1``;
            ``step < 1``; a bound or step that is not an integer.
    """

    def __init__(self, low: int, high: int, log: bool = False, step: int = 1) -> None:
        for field, number in (("low", low), ("high", high), ("step", step)):
            if not _is_integral(number):
                raise ValueError(f"IntDistribution: {field} must be an integer, got {number!r}.")
        low, high, step = int(low), int(high), int(step)
        if log and step != 1:
            raise ValueError("IntDistribution: step must be 1 when log is True.")
        if step <= 0:
            raise ValueError(f"IntDistribution: step must be >= 1, got {step!r}.")
        if low > high:
            raise ValueError(
                f"IntDistribution: low <= high is required, got low={low!r}, high={high!r}."
            )
        if log and low < 1:
            raise ValueError(
                f"IntDistribution: low >= 1 is required when log is True, got low={low!r}."
            )
        high = high - (high - low) % step
        # The order of assignment is the order of Optuna's JSON attributes.
        self.log = bool(log)
        self.step = step
        self.low = low
        self.high = high

    def single(self) -> bool:
        if self.log:
            return self.low == self.high
        return self.high - self.low < self.step

    def _contains(self, param_value_in_internal_repr: float) -> bool:
        value = param_value_in_internal_repr
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def _representable(self, param_value_in_internal_repr: float) -> bool:
        value = param_value_in_internal_repr
        # The external value is int(value), which the log scale needs >= 1.
        return math.isfinite(value) and (not self.log or value >= 1.0)

    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        try:
            internal = float(param_value_in_external_repr)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"IntDistribution: {param_value_in_external_repr!r} is not a number."
            ) from e
        if math.isnan(internal):
            raise ValueError("IntDistribution: NaN is not a valid parameter value.")
        if self.log and internal <= 0.0:
            raise ValueError(
                f"IntDistribution: {param_value_in_external_repr!r} is not > 0 (log scale)."
            )
        return internal

    def to_external_repr(self, param_value_in_internal_repr: float) -> int:
        return int(param_value_in_internal_repr)


def _is_integral(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and value.is_integer()


class CategoricalDistribution(BaseDistribution):
    """One of a fixed, ordered tuple of choices (None, bool, int, float or str).

    The internal value is the index of the choice.

    Raises:
        ValueError: ``choices`` is empty, or a choice is not None, bool, int, float or str.
    """

    def __init__(self, choices: Sequence[CategoricalChoiceType]) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise ValueError(
                f"CategoricalDistribution: choices must be a sequence, got {choices!r}."
            )
        if len(choices) == 0:
            raise ValueError("CategoricalDistribution: choices must contain at least one value.")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ValueError(
                    "CategoricalDistribution: each choice must be None, bool, int, float or "
                    f"str, got {choice!r} of type {type(choice).__name__}."
                )
        self.choices: tuple[CategoricalChoiceType, ...] = tuple(choices)

    def to_external_repr(self, param_value_in_internal_repr: float) -> CategoricalChoiceType:
        return self.choices[int(param_value_in_internal_repr)]

    def to_internal_repr(self, param_value_in_external_repr: Any) -> float:
        value = param_value_in_external_repr
        for index, choice in enumerate(self.choices):
            if _same_choice(choice, value):
                return float(index)
        raise ValueError(
            f"CategoricalDistribution: {value!r} is not one of the choices {list(self.choices)!r}."
        )

    def single(self) -> bool:
        return len(self.choices) == 1

    def _contains(self, param_value_in_internal_repr: float) -> bool:
        value = param_value_in_internal_repr
        if not math.isfinite(value):
            return False
        index = int(value)
        return index == value and 0 <= index < len(self.choices)

    def _representable(self, param_value_in_internal_repr: float) -> bool:
        # An index names a choice or nothing: the range is all a categorical can represent.
        return self._contains(param_value_in_internal_repr)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, CategoricalDistribution):
            return NotImplemented
        if len(self.choices) != len(other.choices):
            return False
        return all(_same_choice(a, b) for a, b in zip(self.choices, other.choices, strict=True))

    def __hash__(self) -> int:
        return hash(("CategoricalDistribution", len(self.choices)))


def _same_choice(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (_is_real(a) and _is_real(b)):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


_CLASSES: dict[str, type[BaseDistribution]] = {
    cls.__name__: cls for cls in (FloatDistribution, IntDistribution, CategoricalDistribution)
}

#: The names Optuna wrote before 3.0, and how to build today's distribution from their
#: attributes.
_LEGACY: dict[str, Callable[[dict[str, Any]], BaseDistribution]] = {
    "UniformDistribution": lambda a: FloatDistribution(a["low"], a["high"]),
    "LogUniformDistribution": lambda a: FloatDistribution(a["low"], a["high"], log=True),
    "DiscreteUniformDistribution": lambda a: FloatDistribution(a["low"], a["high"], step=a["q"]),
    "IntUniformDistribution": lambda a: IntDistribution(
        a["low"], a["high"], step=a.get("step", 1)
    ),
    "IntLogUniformDistribution": lambda a: IntDistribution(a["low"], a["high"], log=True),
}


def distribution_to_json(dist: BaseDistribution) -> str:
    """Return Optuna's JSON text for ``dist``.

    The text is ``{"name": "<ClassName>", "attributes": {...}}`` written with Python's default
    separators and Optuna's attribute order, byte for byte what Optuna 5.0 writes.
    """
    return json.dumps({"name": type(dist).__name__, "attributes": dist._asdict()})


def json_to_distribution(json_str: str) -> BaseDistribution:
    """Parse distribution JSON text written by trialstore or by any Optuna version.

    Raises:
        ValueError: the text is not JSON, names an unknown distribution, or holds attributes
            the distribution rejects.
    """
    try:
        loaded = json.loads(json_str)
    except (TypeError, ValueError) as e:
        raise ValueError(f"distribution: not JSON text: {json_str!r}") from e
    if not isinstance(loaded, dict) or "name" not in loaded:
        raise ValueError(f"distribution: expected an object with 'name', got {json_str!r}.")
    name = loaded["name"]
    attrs = loaded.get("attributes", {})
    if not isinstance(attrs, dict):
        raise ValueError(f"distribution: 'attributes' must be an object, got {json_str!r}.")
    try:
        if name == "CategoricalDistribution":
            return CategoricalDistribution(choices=attrs["choices"])
        if name in _CLASSES:
            return _CLASSES[name](**attrs)
        if name in _LEGACY:
            return _LEGACY[name](attrs)
    except (KeyError, TypeError) as e:
        raise ValueError(f"distribution: bad attributes in {json_str!r}: {e}") from e
    allowed = sorted(_CLASSES)
    raise ValueError(f"distribution: unknown name {name!r}; allowed: {allowed}.")


def check_distribution_compatibility(
    dist_old: BaseDistribution, dist_new: BaseDistribution
) -> None:
    """Check that two distributions may describe the same parameter of one study.

    They must have the same class, the same ``log`` flag, and (categorical) the same choices
    in the same order. Bounds and steps are not compared.

    Raises:
        ValueError: they are not compatible; the message names what differs.
    """
    if type(dist_old) is not type(dist_new):
        raise ValueError(
            "Cannot set different distribution kind to the same parameter name: "
            f"{type(dist_old).__name__} then {type(dist_new).__name__}."
        )
    if isinstance(dist_old, (FloatDistribution, IntDistribution)):
        assert isinstance(dist_new, (FloatDistribution, IntDistribution))
        if dist_old.log != dist_new.log:
            raise ValueError("Cannot set different log configuration to the same parameter name.")
    if isinstance(dist_old, CategoricalDistribution):
        assert isinstance(dist_new, CategoricalDistribution)
        if dist_old != dist_new:
            raise ValueError(
                "Cannot set different choices to the same parameter name: "
                f"{list(dist_old.choices)!r} then {list(dist_new.choices)!r}."
            )
