"""Loading trials on MariaDB with one row per trial (private).

PyMySQL decodes every column of every row in Python, so :mod:`_read`'s ``UNION ALL`` (one
row per trial, parameter, value and attribute, ten columns each) spends most of a large read
in the driver: 35 000 rows for 5 000 trials of 5 parameters. Here each trial is one row: its
own columns, then each child table's rows for it folded by the server into one JSON array
(``JSON_ARRAYAGG`` in a correlated subquery). The arrays of all rows are parsed by one
``json.loads``, in C. MariaDB prints a DOUBLE in JSON as the shortest text that reads back as
the same double, so the values are exact.

``JSON_ARRAYAGG`` is bounded by ``group_concat_max_len`` (1 MiB by default): a longer array
is cut, with a warning. The caller checks the statement's warning count and reads again with
:mod:`_read`'s statement when there is any (``_storage._read_folded_trials``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from trialstore.distributions import BaseDistribution
from trialstore.storage.rdb import _codec
from trialstore.storage.rdb._read import STUDY_ROW, attrs_from_rows
from trialstore.storage.rdb._tables import (
    studies,
    trial_intermediate_values,
    trial_params,
    trial_system_attributes,
    trial_user_attributes,
    trial_values,
    trials,
)
from trialstore.trial._frozen import FrozenTrial

__all__ = ["build_trials", "select_trials"]

_TRIAL = 0
#: Columns of a row: kind, trial_id, number, state, datetime_start, datetime_complete, then
#: the JSON arrays of params, values, intermediate values, user and system attributes.
_FIRST_ARRAY = 6
_ARRAYS = 5


def _folded(table: sa.Table, *columns: sa.ColumnElement[Any]) -> sa.ScalarSelect[Any]:
    """The JSON array of ``columns`` over ``table``'s rows of the outer query's trial (NULL
    when it has none)."""
    return (
        sa.select(sa.func.json_arrayagg(sa.func.json_array(*columns)))
        .where(table.c.trial_id == trials.c.trial_id)
        .scalar_subquery()
    )


def select_trials(condition: sa.ColumnElement[bool], with_study: bool) -> sa.Executable:
    """Return the statement loading every trial matching ``condition`` (on ``trials``), one
    row per trial. With ``with_study``, one extra row of kind :data:`STUDY_ROW` tells whether
    the study ``:study_id`` exists."""
    t, v, iv, p = trials.c, trial_values.c, trial_intermediate_values.c, trial_params.c
    ua, sa_ = trial_user_attributes.c, trial_system_attributes.c
    select = sa.select(
        sa.literal_column(str(_TRIAL), sa.Integer()),
        t.trial_id,
        t.number,
        t.state,
        t.datetime_start,
        t.datetime_complete,
        _folded(trial_params, p.param_id, p.param_name, p.param_value, p.distribution_json),
        _folded(trial_values, v.objective, v.value, v.value_type),
        _folded(
            trial_intermediate_values,
            iv.step,
            iv.intermediate_value,
            iv.intermediate_value_type,
        ),
        _folded(trial_user_attributes, ua.trial_user_attribute_id, ua.key, ua.value_json),
        _folded(trial_system_attributes, sa_.trial_system_attribute_id, sa_.key, sa_.value_json),
    ).where(condition)
    if not with_study:
        return select
    nothing = [sa.null()] * (_FIRST_ARRAY - 2 + _ARRAYS)
    study_row = sa.select(
        sa.literal_column(str(STUDY_ROW), sa.Integer()), studies.c.study_id, *nothing
    ).where(studies.c.study_id == sa.bindparam("study_id"))
    return sa.union_all(select, study_row)


def build_trials(rows: Iterable[Sequence[Any]]) -> tuple[bool, list[FrozenTrial]]:
    """Turn the rows of :func:`select_trials` into (study row seen, trials ordered by id)."""
    trial_rows = []
    study_seen = False
    for row in rows:
        if row[0] == STUDY_ROW:
            study_seen = True
        else:
            trial_rows.append(row)
    trial_rows.sort(key=lambda row: row[1])
    end = _FIRST_ARRAY + _ARRAYS
    arrays = [row[i] or "null" for row in trial_rows for i in range(_FIRST_ARRAY, end)]
    parsed = json.loads("[" + ",".join(arrays) + "]")
    result = [
        _freeze(row, parsed[k * _ARRAYS : (k + 1) * _ARRAYS]) for k, row in enumerate(trial_rows)
    ]
    return study_seen, result


def _freeze(row: Sequence[Any], arrays: list[Any]) -> FrozenTrial:
    _, trial_id, number, state, start, complete = row[:_FIRST_ARRAY]
    param_rows, value_rows, intermediate_rows, user_rows, system_rows = arrays
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    if param_rows:
        param_rows.sort()
        for _, name, internal, distribution_json in param_rows:
            dist = _codec.parse_distribution(distribution_json)
            # a whole double reads back from JSON as an int: to_external_repr converts it
            params[name] = dist.to_external_repr(internal)
            distributions[name] = dist
    values = None
    if value_rows:
        by_objective = {i: _codec.from_stored_value(x, kind) for i, x, kind in value_rows}
        values = [by_objective[i] for i in sorted(by_objective)]
    intermediate = {}
    if intermediate_rows:
        intermediate = {
            step: _codec.from_stored_intermediate(x, kind) for step, x, kind in intermediate_rows
        }
    return FrozenTrial(
        number=number,
        state=_codec.STATE_BY_NAME[state],
        value=None,
        values=values,
        datetime_start=_codec.from_stored_datetime(start),
        datetime_complete=_codec.from_stored_datetime(complete),
        params=params,
        distributions=distributions,
        user_attrs=attrs_from_rows(user_rows),
        system_attrs=attrs_from_rows(system_rows),
        intermediate_values=intermediate,
        trial_id=trial_id,
    )
