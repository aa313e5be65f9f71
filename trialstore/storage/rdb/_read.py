"""Loading trials with everything they hold in one statement (private).

One ``UNION ALL`` of six SELECTs (the trial rows, their values, intermediate values, params,
user and system attributes) returns every row of the selected trials in a single round trip
and from a single snapshot, so a trial is never seen half-written (e.g. RUNNING with values).
Two more SELECTs may join it: whether the study exists, and which trials were deleted
(trialstore's table of deleted trials), from the same snapshot.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from trialstore._core import DistributionsInterner, FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import TrialDeletedError
from trialstore.storage.rdb import _codec
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

__all__ = [
    "DELETED_ROW",
    "STUDY_ROW",
    "Loaded",
    "attrs_from_rows",
    "build_trials",
    "deleted_trial",
    "raw_rows",
    "read_trial",
    "read_trial_id",
    "select_trials",
    "stored_trial",
    "trial_state",
]

STUDY_ROW = -1
DELETED_ROW = -2


class Loaded(NamedTuple):
    """What a :func:`select_trials` statement returned: whether the study row was seen, the
    trials (by id), and the deleted trials as (deletion id, trial id, number), by deletion
    id."""

    study_seen: bool
    trials: list[FrozenTrial]
    deleted: list[tuple[int, int, int]]


_TRIAL, _VALUE, _INTERMEDIATE, _PARAM, _USER_ATTR, _SYSTEM_ATTR = range(6)


def _null(dialect: str, type_: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
    # PostgreSQL resolves the column types of a UNION branch by branch, so its NULLs need a
    # type; MySQL cannot CAST to every type, and needs none.
    if dialect == "postgresql":
        return sa.cast(sa.null(), type_)
    return sa.type_coerce(sa.null(), type_)


def _raw_datetime(dialect: str, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    # SQLite stores datetimes as text; parsing it with datetime.fromisoformat (in
    # _codec.from_stored_datetime) is much faster than SQLAlchemy's result processor.
    if dialect == "sqlite":
        return sa.type_coerce(column, sa.String())
    return column


def _as_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.cast(column, sa.String(16))


def select_trials(
    dialect: str,
    condition: sa.ColumnElement[bool] | Sequence[sa.ColumnElement[bool]],
    with_study: bool,
    deleted: sa.ColumnElement[bool] | None = None,
) -> sa.CompoundSelect[Any]:
    """Return the statement loading every trial matching ``condition`` (on ``trials``), or
    any of several disjoint conditions (no trial may match two: its rows would come twice).

    Each table's SELECT is repeated per condition, so that each stays one index range (an OR
    of two ranges makes SQLite walk the whole study).

    Columns: kind, trial_id, row_id, i1, e1, s1, s2, f1, d1, d2. With ``with_study``, one extra
    row of kind :data:`STUDY_ROW` tells whether the study ``:study_id`` exists. With
    ``deleted`` (a condition on ``trialstore_deleted_trials``), one row of kind
    :data:`DELETED_ROW` per deleted trial matching it (trial_id, row_id: the deletion id, i1:
    the number).
    """
    conditions = [condition] if isinstance(condition, sa.ColumnElement) else list(condition)

    def nul(t: sa.types.TypeEngine[Any]) -> sa.ColumnElement[Any]:
        return _null(dialect, t)

    integer, string, text, float_, dt = (
        sa.Integer(),
        sa.String(16),
        sa.Text(),
        sa.Float(precision=53),
        sa.DateTime(),
    )
    t = trials.c
    selects = [
        sa.select(
            sa.literal_column(str(_TRIAL), integer).label("kind"),
            t.trial_id.label("trial_id"),
            t.trial_id.label("row_id"),
            t.number.label("i1"),
            _as_text(t.state).label("e1"),
            nul(sa.Text()).label("s1"),
            nul(text).label("s2"),
            nul(float_).label("f1"),
            _raw_datetime(dialect, t.datetime_start).label("d1"),
            _raw_datetime(dialect, t.datetime_complete).label("d2"),
        ).where(condition)
        for condition in conditions
    ]

    def child(
        kind: int,
        table: sa.Table,
        row_id: sa.ColumnElement[Any],
        i1: sa.ColumnElement[Any] | None,
        e1: sa.ColumnElement[Any] | None,
        s1: sa.ColumnElement[Any] | None,
        s2: sa.ColumnElement[Any] | None,
        f1: sa.ColumnElement[Any] | None,
    ) -> list[sa.Select[Any]]:
        columns = (
            sa.literal_column(str(kind), integer),
            table.c.trial_id,
            row_id,
            i1 if i1 is not None else nul(integer),
            _as_text(e1) if e1 is not None else nul(string),
            s1 if s1 is not None else nul(sa.Text()),
            s2 if s2 is not None else nul(text),
            f1 if f1 is not None else nul(float_),
            nul(dt),
            nul(dt),
        )
        joined = table.join(trials, table.c.trial_id == t.trial_id)
        return [
            sa.select(*columns).select_from(joined).where(condition) for condition in conditions
        ]

    v, iv, p = trial_values.c, trial_intermediate_values.c, trial_params.c
    ua, sa_ = trial_user_attributes.c, trial_system_attributes.c
    for children in (
        child(
            _VALUE, trial_values, v.trial_value_id, v.objective, v.value_type, None, None, v.value
        ),
        child(
            _INTERMEDIATE,
            trial_intermediate_values,
            iv.trial_intermediate_value_id,
            iv.step,
            iv.intermediate_value_type,
            None,
            None,
            iv.intermediate_value,
        ),
        child(
            _PARAM,
            trial_params,
            p.param_id,
            None,
            None,
            p.param_name,
            p.distribution_json,
            p.param_value,
        ),
        child(
            _USER_ATTR,
            trial_user_attributes,
            ua.trial_user_attribute_id,
            None,
            None,
            ua.key,
            ua.value_json,
            None,
        ),
        child(
            _SYSTEM_ATTR,
            trial_system_attributes,
            sa_.trial_system_attribute_id,
            None,
            None,
            sa_.key,
            sa_.value_json,
            None,
        ),
    ):
        selects += children
    if deleted is not None:
        d = deleted_trials.c
        selects.append(
            sa.select(
                sa.literal_column(str(DELETED_ROW), integer),
                d.trial_id,
                d.deletion_id,
                d.number,
                nul(string),
                nul(sa.Text()),
                nul(text),
                nul(float_),
                nul(dt),
                nul(dt),
            ).where(deleted)
        )
    if with_study:
        selects.append(
            sa.select(
                sa.literal_column(str(STUDY_ROW), integer),
                studies.c.study_id,
                studies.c.study_id,
                nul(integer),
                nul(string),
                nul(sa.Text()),
                nul(text),
                nul(float_),
                nul(dt),
                nul(dt),
            ).where(studies.c.study_id == sa.bindparam("study_id"))
        )
    return sa.union_all(*selects)


class _Builder:
    __slots__ = (
        "complete",
        "datetime_complete",
        "datetime_start",
        "distributions",
        "intermediate",
        "number",
        "params",
        "state",
        "system_attrs",
        "trial_id",
        "user_attrs",
        "values",
    )

    def __init__(self, trial_id: int) -> None:
        self.trial_id = trial_id
        self.complete = False
        self.number = -1
        self.state = ""
        self.datetime_start: Any = None
        self.datetime_complete: Any = None
        self.values: dict[int, float] = {}
        self.intermediate: dict[int, float] = {}
        self.params: list[tuple[int, str, float, str]] = []
        self.user_attrs: list[tuple[int, str, str]] = []
        self.system_attrs: list[tuple[int, str, str]] = []


def raw_rows(result: sa.CursorResult[Any]) -> list[Any]:
    """The rows of a :func:`select_trials` statement straight from the driver: its columns
    need no SQLAlchemy result processing, which would cost more than the query on large
    reads."""
    cursor = result.cursor
    if cursor is None:
        return list(result.all())
    rows = list(cursor.fetchall())
    result.close()
    return rows


def build_trials(rows: Iterable[Sequence[Any]]) -> Loaded:
    """Turn the rows of :func:`select_trials` into what they hold."""
    loaded, builders = _collect(rows)
    for trial_id in sorted(builders):
        builder = builders[trial_id]
        if builder.complete:  # child rows of a trial the trial SELECT did not match are dropped
            loaded.trials.append(_freeze(builder))
    loaded.deleted.sort()
    return loaded


def _collect(rows: Iterable[Sequence[Any]]) -> tuple[Loaded, dict[int, _Builder]]:
    """Sort the rows of :func:`select_trials` by trial: (what the study and deletion rows
    say, with no trials yet; trial id -> what its rows hold)."""
    builders: dict[int, _Builder] = {}
    study_seen = False
    deleted: list[tuple[int, int, int]] = []
    for kind, trial_id, row_id, i1, e1, s1, s2, f1, d1, d2 in rows:
        if kind < 0:
            if kind == STUDY_ROW:
                study_seen = True
            else:
                deleted.append((int(row_id), int(trial_id), int(i1)))
            continue
        builder = builders.get(trial_id)
        if builder is None:
            builder = builders[trial_id] = _Builder(trial_id)
        if kind == _TRIAL:
            builder.complete = True
            builder.number = i1
            builder.state = e1
            builder.datetime_start = d1
            builder.datetime_complete = d2
        elif kind == _PARAM:
            builder.params.append((row_id, s1, f1, s2))
        elif kind == _VALUE:
            builder.values[i1] = _codec.from_stored_value(f1, e1)
        elif kind == _INTERMEDIATE:
            builder.intermediate[i1] = _codec.from_stored_intermediate(f1, e1)
        elif kind == _USER_ATTR:
            builder.user_attrs.append((row_id, s1, s2))
        else:
            builder.system_attrs.append((row_id, s1, s2))
    return Loaded(study_seen, [], deleted), builders


#: Trials with equal distributions share one dict (see FrozenTrial's sharing contract):
#: ``parse_distribution`` gives one object per JSON text, so equal sets are the same objects.
_DISTRIBUTIONS = DistributionsInterner()


def stored_trial(
    trial_id: int,
    number: int,
    state: TrialState,
    values: list[float] | None,
    datetime_start: datetime.datetime | None,
    datetime_complete: datetime.datetime | None,
    params: dict[str, Any],
    distributions: dict[str, BaseDistribution],
    user_attrs: dict[str, Any],
    system_attrs: dict[str, Any],
    intermediate_values: dict[int, float],
) -> FrozenTrial:
    """The FrozenTrial of what a read returned (the dicts are taken, not copied), compact
    (see FrozenTrial): its distributions dict shared with the trials read that have equal
    ones, no dict kept for what it lacks (params, attributes, intermediate values)."""
    return FrozenTrial._compact(
        number,
        state,
        values,
        datetime_start,
        datetime_complete,
        _DISTRIBUTIONS.intern(distributions),
        trial_id,
        None,
        params=params or None,
        user_attrs=user_attrs or None,
        system_attrs=system_attrs or None,
        intermediate_values=intermediate_values or None,
    )


def _freeze(b: _Builder) -> FrozenTrial:
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    if b.params:
        b.params.sort()
        for _, name, internal, distribution_json in b.params:
            dist = _codec.parse_distribution(distribution_json)
            params[name] = dist.to_external_repr(internal)
            distributions[name] = dist
    values = [b.values[i] for i in sorted(b.values)] if b.values else None
    return stored_trial(
        b.trial_id,
        b.number,
        _codec.STATE_BY_NAME[b.state],
        values,
        _codec.from_stored_datetime(b.datetime_start),
        _codec.from_stored_datetime(b.datetime_complete),
        params,
        distributions,
        attrs_from_rows(b.user_attrs),
        attrs_from_rows(b.system_attrs),
        b.intermediate,
    )


def attrs_from_rows(rows: Sequence[Sequence[Any]] | None) -> dict[str, Any]:
    """The attributes of ``(row id, key, JSON text)`` rows, in the order they were stored."""
    if not rows:
        return {}
    return {key: json.loads(text) for _, key, text in sorted(rows, key=lambda row: row[0])}


def read_trial(connection: sa.Connection, read_one: sa.Executable, trial_id: int) -> FrozenTrial:
    """The trial, by ``read_one`` (:func:`select_trials` of the trial ``:tid``, with its
    deletion row if any).

    Raises:
        KeyError: no such trial.
        TrialDeletedError: the trial was deleted.
    """
    loaded = build_trials(raw_rows(connection.execute(read_one, {"tid": trial_id})))
    if loaded.deleted:
        raise deleted_trial(trial_id)
    if not loaded.trials:
        raise KeyError(f"No trial with id {trial_id!r}.")
    return loaded.trials[0]


def trial_state(connection: sa.Connection, statement: Any, trial_id: int) -> tuple[str, int, bool]:
    """The trial's state (its name), number and whether it was deleted, by ``statement``
    (``Statements.trial_state``).

    Raises:
        KeyError: no such trial (deleting a study deletes its trials' rows).
    """
    row = connection.execute(statement, {"tid": trial_id}).first()
    if row is None:
        raise KeyError(f"No trial with id {trial_id!r}.")
    return str(row[0]), int(row[1]), bool(row[2])


def deleted_trial(trial_id: int, number: int | None = None) -> TrialDeletedError:
    """The error of a read or write naming a deleted trial (by its number, if given)."""
    if number is None:
        return TrialDeletedError(f"Trial id {trial_id} was deleted.")
    return TrialDeletedError(f"Trial#{number} (id {trial_id}) was deleted.")


def read_trial_id(
    connection: sa.Connection, by_number: sa.Executable, study_id: int, number: int
) -> int:
    """The id of the study's trial ``number``, by ``by_number`` (its id and whether it was
    deleted; one statement, a second one when not found).

    Raises:
        KeyError: no such study; then no such trial in it.
        TrialDeletedError: the trial was deleted.
    """
    found = connection.execute(by_number, {"study_id": study_id, "number": number}).first()
    if found is not None:
        if found[1]:
            raise TrialDeletedError(
                f"Trial#{number} (id {found[0]}) of study {study_id} was deleted."
            )
        return int(found[0])
    exists = connection.execute(
        sa.select(studies.c.study_id).where(studies.c.study_id == study_id)
    ).scalar()
    if exists is None:
        raise KeyError(f"No study with id {study_id!r}.")
    raise KeyError(f"No trial with number {number!r} in study {study_id}.")
