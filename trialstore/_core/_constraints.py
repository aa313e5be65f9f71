"""A trial's constraint values, kept in its system attributes in Optuna 5.0's format (private).

Each constraint ``key`` is the system attribute ``"constraints:<key>"`` holding a float (what
``set_constraint`` writes, in either library). Optuna's older ``constraints_func`` writes one
system attribute ``"constraints"`` holding a list; its entries read as the keys ``"0"``,
``"1"``, ... A trial is feasible when every constraint value is ``<= 0``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trialstore._core._frozen_trial import FrozenTrial

__all__ = [
    "CONSTRAINT_LIST_KEY",
    "constraint_attr",
    "constraints_from_system_attrs",
    "is_feasible",
    "warn_constraint_already_set",
]

#: The system attribute of the list format (Optuna's ``constraints_func``).
CONSTRAINT_LIST_KEY = "constraints"
_PREFIX = CONSTRAINT_LIST_KEY + ":"


def constraint_attr(key: Any, value: Any) -> tuple[str, float]:
    """Return the system attribute key and the float value that store constraint ``key``.

    Raises:
        ValueError: ``key`` is not a str, or ``value`` is NaN.
        TypeError: ``value`` does not convert to a float.
    """
    if not isinstance(key, str):
        raise ValueError(f"The constraint key must be a str, got {key!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"Constraint {key!r}: the value must be a float, got {value!r} of type "
            f"{type(value).__name__}."
        ) from None
    if math.isnan(number):
        raise ValueError(f"Constraint {key!r}: the value must not be NaN.")
    return _PREFIX + key, number


def warn_constraint_already_set(key: str) -> None:
    """Warn that a second value for constraint ``key`` is ignored."""
    warnings.warn(
        f"The constraint {key!r} is already set; the new value is ignored.", stacklevel=3
    )


def constraints_from_system_attrs(system_attrs: dict[str, Any]) -> dict[str, float]:
    """Return the constraints held in ``system_attrs``, by key: first the list format's
    entries, then the per-key attributes in attribute order. A per-key attribute wins over a
    list entry of the same key, with a warning."""
    constraints: dict[str, float] = {}
    listed = system_attrs.get(CONSTRAINT_LIST_KEY)
    if isinstance(listed, (list, tuple)):
        for index, value in enumerate(listed):
            constraints[str(index)] = value
    for attr, value in system_attrs.items():
        if attr.startswith(_PREFIX):
            key = attr[len(_PREFIX) :]
            if key in constraints:
                warnings.warn(
                    f"The constraint {key!r} is in both formats (the list under "
                    f"{CONSTRAINT_LIST_KEY!r} and {attr!r}); the value of {attr!r} is used.",
                    stacklevel=3,
                )
            constraints[key] = value
    return constraints


def is_feasible(trial: FrozenTrial) -> bool:
    """Return whether every constraint value of ``trial`` is ``<= 0`` (True without any)."""
    system_attrs = trial._system_attrs  # not trial.system_attrs: it would make an empty dict
    if not any(attr.startswith(CONSTRAINT_LIST_KEY) for attr in system_attrs):
        return True
    return all(value <= 0.0 for value in constraints_from_system_attrs(system_attrs).values())
