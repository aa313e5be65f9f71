"""The study reads and writes of the RDB storage (private).

Each function runs on one :class:`sqlalchemy.Connection` inside a transaction that
:class:`~trialstore.storage.rdb._transactions.Transactions` runs (the mode each needs is said
below). Arguments are checked already.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenStudy, StudyDirection
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage.rdb import _codec
from trialstore.storage.rdb._dml import Statements
from trialstore.storage.rdb._tables import (
    deleted_trials,
    studies,
    study_directions,
    study_system_attributes,
    study_user_attributes,
    trial_heartbeats,
    trial_intermediate_values,
    trial_params,
    trial_system_attributes,
    trial_user_attributes,
    trial_values,
    trials,
)

__all__ = [
    "StudyRows",
    "build_studies",
    "delete_study",
    "insert_study",
    "read_all_studies",
    "read_directions",
    "read_study_attrs",
    "read_study_id",
    "read_study_name",
    "set_study_attr",
]

#: The rows :func:`build_studies` takes: studies, directions, user and system attributes.
StudyRows = tuple[Sequence[Any], Sequence[Any], Sequence[Any], Sequence[Any]]

#: The tables of a study's trials, children first.
_TRIAL_TABLES = (
    trial_params,
    trial_values,
    trial_intermediate_values,
    trial_user_attributes,
    trial_system_attributes,
    trial_heartbeats,
)


def _missing_study(study_id: int) -> KeyError:
    return KeyError(f"No study with id {study_id!r}.")


def insert_study(
    connection: sa.Connection, study_name: str | None, directions: Sequence[StudyDirection]
) -> int:
    """Insert the study (``study_name`` None: a generated name) and its directions; return
    its id (a write transaction).

    Raises:
        DuplicatedStudyError: a study of that name exists.
    """
    if study_name is None:
        study_name = f"no-name-{uuid.uuid4()}"
    try:
        result = connection.execute(studies.insert().values(study_name=study_name))
    except exc.IntegrityError:
        raise DuplicatedStudyError(
            f"Another study with name '{study_name}' already exists."
        ) from None
    study_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    connection.execute(
        study_directions.insert(),
        [
            {"study_id": study_id, "direction": d.name, "objective": i}
            for i, d in enumerate(directions)
        ],
    )
    return study_id


def delete_study(connection: sa.Connection, study_id: int, deletions: bool) -> None:
    """Delete the study with its trials and everything they hold (a write transaction; the
    study row is locked first). ``deletions``: the database holds trialstore's table of
    deleted trials, whose rows of the study go too.

    Raises:
        KeyError: no such study.
    """
    found = connection.execute(
        sa.select(studies.c.study_id).where(studies.c.study_id == study_id).with_for_update()
    ).scalar()
    if found is None:
        raise _missing_study(study_id)
    if deletions:
        connection.execute(deleted_trials.delete().where(deleted_trials.c.study_id == study_id))
    trial_ids = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id)
    for table in _TRIAL_TABLES:
        connection.execute(table.delete().where(table.c.trial_id.in_(trial_ids)))
    connection.execute(trials.delete().where(trials.c.study_id == study_id))
    for table in (study_user_attributes, study_system_attributes, study_directions):
        connection.execute(table.delete().where(table.c.study_id == study_id))
    connection.execute(studies.delete().where(studies.c.study_id == study_id))


def set_study_attr(
    connection: sa.Connection, sql: Statements, statement: Any, params: dict[str, Any]
) -> None:
    """Upsert one attribute of the study ``params["study_id"]`` with ``statement`` (``sql``'s
    upsert of user or system attributes) in a write transaction.

    Raises:
        KeyError: no such study.
    """
    study_id = params["study_id"]
    if connection.execute(sql.study_exists, {"study_id": study_id}).scalar() is None:
        raise _missing_study(study_id)
    connection.execute(statement, params)


def read_directions(connection: sa.Connection, study_id: int) -> list[StudyDirection]:
    """The study's directions, by objective (one statement).

    Raises:
        KeyError: no such study.
    """
    rows = connection.execute(
        sa.select(study_directions.c.objective, study_directions.c.direction).where(
            study_directions.c.study_id == study_id
        )
    ).all()
    if not rows:
        raise _missing_study(study_id)
    return [_codec.DIRECTION_BY_NAME[d] for _, d in sorted(rows)]


def read_study_id(connection: sa.Connection, study_name: str) -> int:
    """The id of the study named ``study_name`` (one statement).

    Raises:
        KeyError: no such study.
    """
    found = connection.execute(
        sa.select(studies.c.study_id).where(studies.c.study_name == study_name)
    ).scalar()
    if found is None:
        raise KeyError(f"No such study {study_name!r}.")
    return int(found)


def read_study_name(connection: sa.Connection, study_id: int) -> str:
    """The study's name (one statement).

    Raises:
        KeyError: no such study.
    """
    found = connection.execute(
        sa.select(studies.c.study_name).where(studies.c.study_id == study_id)
    ).scalar()
    if found is None:
        raise _missing_study(study_id)
    return str(found)


def read_study_attrs(connection: sa.Connection, table: sa.Table, study_id: int) -> dict[str, Any]:
    """The study's attributes in ``table`` (user or system), in the order they were first
    set (one statement, a second one when there are none).

    Raises:
        KeyError: no such study.
    """
    rows = connection.execute(
        sa.select(table.c.key, table.c.value_json)
        .where(table.c.study_id == study_id)
        .order_by(table.primary_key.columns.values()[0])
    ).all()
    if not rows:
        exists = connection.execute(
            sa.select(studies.c.study_id).where(studies.c.study_id == study_id)
        ).scalar()
        if exists is None:
            raise _missing_study(study_id)
    return {key: json.loads(text) for key, text in rows}


def read_all_studies(connection: sa.Connection) -> StudyRows:
    """The rows of every study for :func:`build_studies` (a read transaction: one snapshot)."""
    user, system = study_user_attributes, study_system_attributes
    return (
        connection.execute(
            sa.select(studies.c.study_id, studies.c.study_name).order_by(studies.c.study_id)
        ).all(),
        connection.execute(
            sa.select(
                study_directions.c.study_id,
                study_directions.c.objective,
                study_directions.c.direction,
            )
        ).all(),
        connection.execute(
            sa.select(user.c.study_id, user.c.key, user.c.value_json).order_by(
                user.c.study_user_attribute_id
            )
        ).all(),
        connection.execute(
            sa.select(system.c.study_id, system.c.key, system.c.value_json).order_by(
                system.c.study_system_attribute_id
            )
        ).all(),
    )


def _attrs_by_study(rows: Sequence[Any]) -> dict[int, dict[str, Any]]:
    attrs: dict[int, dict[str, Any]] = {}
    for study_id, key, text in rows:
        attrs.setdefault(study_id, {})[key] = json.loads(text)
    return attrs


def build_studies(rows: StudyRows) -> list[FrozenStudy]:
    """The studies of :func:`read_all_studies`'s rows, by id."""
    study_rows, direction_rows, user_rows, system_rows = rows
    directions: dict[int, dict[int, StudyDirection]] = {}
    for study_id, objective, direction in direction_rows:
        directions.setdefault(study_id, {})[objective] = _codec.DIRECTION_BY_NAME[direction]
    user, system = _attrs_by_study(user_rows), _attrs_by_study(system_rows)
    result = []
    for study_id, name in study_rows:
        by_objective = directions.get(study_id, {})
        result.append(
            FrozenStudy(
                study_name=name,
                direction=None,
                directions=[by_objective[i] for i in sorted(by_objective)],
                user_attrs=user.get(study_id, {}),
                system_attrs=system.get(study_id, {}),
                study_id=study_id,
            )
        )
    return result
