"""Checks of the samplers' constructor arguments (private)."""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any

__all__ = ["check_int", "check_positive_float", "check_seed"]


def _as_int(value: Any) -> int | None:
    """``value`` as an int if it is an integer (NumPy's included) and not a bool, else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def check_seed(seed: Any) -> int | None:
    """Return ``seed`` (None or an int in ``[0, 2**32 - 1]``, the seeds NumPy takes).

    Raises:
        ValueError: any other value.
    """
    if seed is None:
        return None
    number = _as_int(seed)
    if number is None or not 0 <= number < 2**32:
        raise ValueError(f"seed must be None or an int in [0, 2**32 - 1], got {seed!r}.")
    return number


def check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` if it is an int >= ``minimum``.

    Raises:
        ValueError: naming ``name``, otherwise.
    """
    number = _as_int(value)
    if number is None or number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return number


def check_positive_float(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite real number > 0 (not a bool).

    Raises:
        ValueError: naming ``name``, otherwise.
    """
    number = (
        float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else None
    )
    if number is None or not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}.")
    return number
