"""Loading trials on MariaDB as one row of JSON text per trial (private).

PyMySQL decodes every column of every row in Python, so :mod:`_read`'s ``UNION ALL`` (one
row per trial, parameter, value and attribute, ten columns each) spends most of a large read
in the driver: 35 000 rows for 5 000 trials of 5 parameters. Here the server writes each
trial as one JSON array (its own columns, then each child table's rows for it folded by
``JSON_ARRAYAGG`` in a correlated subquery): 5 000 rows of one text column, parsed by
``json.loads`` in C. MariaDB prints a DOUBLE in JSON as the shortest text that reads back as
the same double, so the values are exact; datetimes arrive as text and are parsed by
``datetime.fromisoformat``.

The caller reads the rows through an unbuffered cursor and hands them over in batches as they
arrive (:func:`build_trials` parses and builds a batch before the next is fetched), so the
client's work overlaps the server's writing of the rows that follow (rows joined by
``GROUP_CONCAT`` and read in one piece could only be sent once the server had built them
all).

``JSON_ARRAYAGG`` is bounded by ``group_concat_max_len`` (1 MiB by default): a longer array is
cut, with a warning. The caller checks the statement's warning count once every row is read,
and reads again with :mod:`_read`'s statement when there is any
(``_storage._read_folded_trials``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from trialstore._core import FrozenTrial
from trialstore.distributions import BaseDistribution
from trialstore.storage.rdb import _codec
from trialstore.storage.rdb._read import (
    DELETED_ROW,
    STUDY_ROW,
    Loaded,
    attrs_from_rows,
    stored_trial,
)
from trialstore.storage.rdb._tables import (
    deleted_trials,
    studies,
    trial_intermediate_values,
    trial_params,
    trial_system_attributes,
    trial_user_attributes,
    trial_values,
    trials,
)

__all__ = ["build_trials", "select_trials"]

_TRIALS = 0


def _folded(table: sa.Table, *columns: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """The JSON array of ``columns`` over ``table``'s rows of the outer query's trial, as
    text (``null`` when it has none)."""
    array = (
        sa.select(sa.func.json_arrayagg(sa.func.json_array(*columns)))
        .where(table.c.trial_id == trials.c.trial_id)
        .scalar_subquery()
    )
    return sa.func.coalesce(array, "null")


def _quoted(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    """``column`` as a JSON string (``null`` for NULL), for values that need no escaping: a
    state's name, a datetime's text."""
    return sa.func.coalesce(sa.func.concat('"', column, '"'), "null")


def select_trials(
    condition: sa.ColumnElement[bool],
    with_study: bool,
    deleted: sa.ColumnElement[bool] | None = None,
) -> sa.Executable:
    """Return the statement loading every trial matching ``condition`` (on ``trials``).

    Rows: (``0``, the trial's JSON array ``[trial_id, number, state, datetime_start,
    datetime_complete, params, values, intermediate values, user attributes, system
    attributes]``), one per trial, in no particular order. With ``with_study``, one extra row
    of kind :data:`STUDY_ROW` tells whether the study ``:study_id`` exists. With ``deleted``
    (a condition on ``trialstore_deleted_trials``), one row of kind :data:`DELETED_ROW` per
    deleted trial matching it: ``[deletion_id, trial_id, number]``."""
    t, v, iv, p = trials.c, trial_values.c, trial_intermediate_values.c, trial_params.c
    ua, sa_ = trial_user_attributes.c, trial_system_attributes.c
    text = sa.func.concat(
        "[",
        t.trial_id,
        ",",
        sa.func.coalesce(t.number, "null"),
        ",",
        _quoted(t.state),
        ",",
        _quoted(t.datetime_start),
        ",",
        _quoted(t.datetime_complete),
        ",",
        _folded(trial_params, p.param_id, p.param_name, p.param_value, p.distribution_json),
        ",",
        _folded(trial_values, v.objective, v.value, v.value_type),
        ",",
        _folded(
            trial_intermediate_values,
            iv.step,
            iv.intermediate_value,
            iv.intermediate_value_type,
        ),
        ",",
        _folded(trial_user_attributes, ua.trial_user_attribute_id, ua.key, ua.value_json),
        ",",
        _folded(trial_system_attributes, sa_.trial_system_attribute_id, sa_.key, sa_.value_json),
        "]",
    )
    selects: list[sa.Select[int, str]] = [
        sa.select(sa.literal_column(str(_TRIALS), sa.Integer()), text).where(condition)
    ]
    if deleted is not None:
        d = deleted_trials.c
        selects.append(
            sa.select(
                sa.literal_column(str(DELETED_ROW), sa.Integer()),
                sa.func.concat("[", d.deletion_id, ",", d.trial_id, ",", d.number, "]"),
            ).where(deleted)
        )
    if with_study:
        selects.append(
            sa.select(
                sa.literal_column(str(STUDY_ROW), sa.Integer()),
                sa.cast(studies.c.study_id, sa.String),
            ).where(studies.c.study_id == sa.bindparam("study_id"))
        )
    return selects[0] if len(selects) == 1 else sa.union_all(*selects)


def build_trials(batches: Iterable[Sequence[Sequence[Any]]]) -> Loaded:
    """Turn the rows of :func:`select_trials`, in batches as they arrive, into what they
    hold (trials ordered by id). Each batch is parsed by one ``json.loads`` and built before
    the next is taken from ``batches``."""
    loaded = Loaded(False, [], [])
    for batch in batches:
        texts = []
        for kind, text in batch:
            if kind == STUDY_ROW:
                loaded = loaded._replace(study_seen=True)
            elif kind == DELETED_ROW:
                deletion_id, trial_id, number = json.loads(text)
                loaded.deleted.append((deletion_id, trial_id, number))
            else:
                texts.append(text)
        if texts:
            loaded.trials.extend(map(_freeze, json.loads("[" + ",".join(texts) + "]")))
    loaded.trials.sort(key=lambda trial: trial._trial_id)
    loaded.deleted.sort()
    return loaded


def _freeze(trial: list[Any]) -> FrozenTrial:
    trial_id, number, state, start, complete = trial[:5]
    param_rows, value_rows, intermediate_rows, user_rows, system_rows = trial[5:]
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
    return stored_trial(
        trial_id,
        number,
        _codec.STATE_BY_NAME[state],
        values,
        _codec.from_stored_datetime(start),
        _codec.from_stored_datetime(complete),
        params,
        distributions,
        attrs_from_rows(user_rows),
        attrs_from_rows(system_rows),
        intermediate,
    )
