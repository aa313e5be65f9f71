"""A study's metric names: one name per objective, kept where Optuna 5.0 keeps them (private).

They are the study system attribute ``"study:metric_names"`` (a JSON list of str), so Optuna
reading the same storage sees names that trialstore set, and the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["METRIC_NAMES_KEY", "check_metric_names", "read_metric_names"]

#: The study system attribute holding the names.
METRIC_NAMES_KEY = "study:metric_names"


def check_metric_names(metric_names: Any, n_objectives: int) -> list[str]:
    """Return ``metric_names`` as a new list if it holds one str per objective.

    Raises:
        ValueError: ``metric_names`` is a str or not a sequence, holds something other than a
            str, or its length is not ``n_objectives``.
    """
    if isinstance(metric_names, str) or not isinstance(metric_names, Sequence):
        raise ValueError(
            f"metric_names must be a list of str (one per objective), got {metric_names!r}."
        )
    names = list(metric_names)
    for name in names:
        if not isinstance(name, str):
            raise ValueError(f"metric_names must hold str values only, got {name!r}.")
    if len(names) != n_objectives:
        raise ValueError(
            f"metric_names must have one name per objective ({n_objectives}), got "
            f"{len(names)}: {names!r}."
        )
    return names


def read_metric_names(system_attrs: dict[str, Any]) -> list[str] | None:
    """Return the metric names held in a study's ``system_attrs`` (a new list), or None."""
    names = system_attrs.get(METRIC_NAMES_KEY)
    if names is None:
        return None
    return list(names)
