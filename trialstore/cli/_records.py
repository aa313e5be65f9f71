"""What the commands show for a study and for trials, as records for ``_output.emit``
(private).

The fields are those of Optuna's CLI: datetimes as ``YYYY-MM-DD HH:MM:SS``, durations as
Python's ``str`` of a ``timedelta``, parameters and attributes sorted by name.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from trialstore._core import FrozenTrial
from trialstore.study import StudySummary

__all__ = ["STUDY_NESTED", "TRIAL_NESTED", "Table", "study_table", "trial_table"]

#: What ``studies --flatten`` splits (not ``user_attrs``, as in Optuna).
STUDY_NESTED = frozenset({"direction"})
#: What ``--flatten`` splits in trial records.
TRIAL_NESTED = frozenset({"values", "params", "user_attrs"})


def _when(moment: datetime.datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


class Table:
    """Records and the columns they share, in order."""

    def __init__(self, records: list[dict[str, Any]], columns: list[str]) -> None:
        self.records = records
        self.columns = columns

    def of(self, trials: Sequence[FrozenTrial]) -> list[dict[str, Any]]:
        """The records of ``trials``, which must be among those of a :func:`trial_table`."""
        by_number = {r["number"]: r for r in self.records}
        return [by_number[t.number] for t in trials]


def study_table(summaries: Sequence[StudySummary]) -> Table:
    """The records of ``studies``: ``name``, ``direction`` (a tuple of names, one per
    objective), ``n_trials``, ``datetime_start`` (the first trial's start), and
    ``user_attrs`` if any of the studies has user attributes."""
    with_user_attrs = any(s.user_attrs for s in summaries)
    records = []
    for summary in summaries:
        record: dict[str, Any] = {
            "name": summary.study_name,
            "direction": tuple(d.name for d in summary.directions),
            "n_trials": summary.n_trials,
            "datetime_start": _when(summary.datetime_start),
        }
        if with_user_attrs:
            record["user_attrs"] = dict(summary.user_attrs)
        records.append(record)
    columns = ["name", "direction", "n_trials", "datetime_start"]
    return Table(records, columns + ["user_attrs"] * with_user_attrs)


def trial_table(trials: Sequence[FrozenTrial], n_objectives: int) -> Table:
    """The records of ``trials`` of a study with ``n_objectives`` objectives.

    Each has ``number``, ``value`` (one objective; None without a value) or ``values`` (a list,
    of None without values), ``datetime_start``, ``datetime_complete``, ``duration``,
    ``params`` if any of ``trials`` has parameters, ``user_attrs`` if any has user
    attributes, and ``state``.
    """
    with_params = any(t.params for t in trials)
    with_user_attrs = any(t.user_attrs for t in trials)
    value_key = "value" if n_objectives == 1 else "values"
    records = []
    for trial in trials:
        values = trial.values
        record: dict[str, Any] = {"number": trial.number}
        if n_objectives == 1:
            record[value_key] = values[0] if values else None
        else:
            record[value_key] = list(values) if values else [None] * n_objectives
        record["datetime_start"] = _when(trial.datetime_start)
        record["datetime_complete"] = _when(trial.datetime_complete)
        start, complete = trial.datetime_start, trial.datetime_complete
        record["duration"] = (
            str(complete - start) if start is not None and complete is not None else None
        )
        if with_params:
            record["params"] = dict(sorted(trial.params.items()))
        if with_user_attrs:
            record["user_attrs"] = dict(sorted(trial.user_attrs.items()))
        record["state"] = trial.state.name
        records.append(record)
    columns = ["number", value_key, "datetime_start", "datetime_complete", "duration"]
    columns += ["params"] * with_params + ["user_attrs"] * with_user_attrs + ["state"]
    return Table(records, columns)
