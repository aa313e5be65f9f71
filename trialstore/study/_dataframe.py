"""``Study.trials_dataframe``: a study's trials as a pandas DataFrame, one row per trial (private).

The columns are Optuna 5.0's: for each name of ``attrs`` in order, one column when the trial
field is a plain value (``("number", "")``), else one column per key, sorted (``("params",
"x")``, ``("values", 0)``; the objective values by metric name, in the names' order, when the
study has metric names). A leading underscore is dropped from a column name (``_trial_id`` →
``trial_id``). Flat names join the non-empty levels with ``_`` (``params_x``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState

if TYPE_CHECKING:
    from trialstore.study._study import Study

__all__ = ["DEFAULT_ATTRS", "TRIAL_ATTRS", "build_trials_dataframe"]

#: The columns of ``Study.trials_dataframe()`` without ``attrs``.
DEFAULT_ATTRS = (
    "number",
    "value",
    "datetime_start",
    "datetime_complete",
    "duration",
    "params",
    "user_attrs",
    "system_attrs",
    "state",
)

#: The trial fields ``attrs`` may name.
TRIAL_ATTRS = frozenset(
    {
        "number",
        "state",
        "value",
        "values",
        "datetime_start",
        "datetime_complete",
        "duration",
        "params",
        "distributions",
        "user_attrs",
        "system_attrs",
        "intermediate_values",
        "last_step",
        "constraints",
        "_trial_id",
    }
)

Column = tuple[str, Any]


def _import_pandas() -> Any:
    try:
        return importlib.import_module("pandas")
    except ImportError as e:
        raise ImportError(
            "Study.trials_dataframe needs pandas: pip install 'trialstore[pandas]'"
        ) from e


def _check_attrs(attrs: Any) -> tuple[str, ...]:
    if isinstance(attrs, str) or not isinstance(attrs, Sequence):
        raise ValueError(f"attrs must be a tuple of trial field names, got {attrs!r}.")
    for attr in attrs:
        if attr not in TRIAL_ATTRS:
            raise ValueError(
                f"attrs: {attr!r} is not a trial field; allowed: "
                f"{', '.join(map(repr, sorted(TRIAL_ATTRS)))}."
            )
    return tuple(attrs)


def _cells(
    attr: str, trial: FrozenTrial, n_objectives: int, metric_names: list[str] | None
) -> Iterator[tuple[Any, Any]]:
    """Yield (second column level, cell) for field ``attr`` of ``trial``."""
    value = getattr(trial, attr)
    if isinstance(value, TrialState):
        yield "", value.name
    elif isinstance(value, dict):
        yield from value.items()
    elif attr == "values":
        objective_values = [None] * n_objectives if value is None else value
        keys: Sequence[Any] = range(n_objectives) if metric_names is None else metric_names
        yield from zip(keys, objective_values, strict=False)
    elif attr == "value":
        yield ("" if metric_names is None else metric_names[0]), value
    else:
        yield "", value


def build_trials_dataframe(study: Study, attrs: Sequence[str], multi_index: bool) -> Any:
    """Return the trials of ``study`` as a DataFrame (see :meth:`Study.trials_dataframe`).

    Raises:
        ImportError: pandas is not installed.
        ValueError: ``attrs`` is a str, not a sequence, or names something that is not a
            trial field.
    """
    pd = _import_pandas()
    attrs = _check_attrs(attrs)
    trials = study.get_trials(deepcopy=False)
    if not trials:
        return pd.DataFrame()
    n_objectives = len(study.directions)
    if n_objectives > 1:
        attrs = tuple("values" if attr == "value" else attr for attr in attrs)
    metric_names = study.metric_names if {"value", "values"} & set(attrs) else None

    seen: dict[str, set[Column]] = {}
    rows = []
    for trial in trials:
        row: dict[Column, Any] = {}
        for attr in attrs:
            column = attr[1:] if attr.startswith("_") else attr
            keys = seen.setdefault(attr, set())
            for key, cell in _cells(attr, trial, n_objectives, metric_names):
                row[(column, key)] = cell
                keys.add((column, key))
        rows.append(row)

    columns: list[Column] = []
    for attr in attrs:
        if not seen[attr]:
            continue  # e.g. params when no trial has any
        if attr == "values" and metric_names is not None:
            columns.extend(("values", name) for name in metric_names)
        else:
            columns.extend(sorted(seen[attr]))
    if not columns:
        return pd.DataFrame(index=pd.RangeIndex(len(trials)))
    frame = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(columns))
    if not multi_index:
        frame.columns = ["_".join(s for s in map(str, column) if s) for column in columns]
    return frame
