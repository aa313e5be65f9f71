"""Deleting trials in the RDB storage: the transaction body (private).

A deletion keeps the trials' rows, so that Optuna's schema, counting and numbering hold (the
next trial numbers on from the highest number ever given, ``MAX(number) + 1``, in trialstore
and in Optuna alike), and adds one row per trial to trialstore's table
``trialstore_deleted_trials``, which takes the trial out of every trialstore read. A deleted
trial that was unfinished becomes FAIL, so that no worker, trialstore's or Optuna's, claims,
finishes or writes to it any more: a write to it finds nothing to update, and the check that
follows finds the deletion (TrialDeletedError).

The body runs in one write transaction that first locks the study row, as trial creators do:
deletions of one study are serialized, so their deletion ids (the study's deletion sequence)
become visible in the order they grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from trialstore.exceptions import StorageInternalError, TrialDeletedError
from trialstore.storage.rdb._dml import Statements
from trialstore.storage.rdb._tables import DELETED_TRIALS_TABLE
from trialstore.storage.rdb._transactions import Body, Runs

__all__ = ["IDS_PER_STATEMENT", "delete_trials", "missing_table"]

#: Most trial ids in one IN-list (a batch is read and updated in slices of this many).
IDS_PER_STATEMENT = 500


class _Row(NamedTuple):
    study_id: int
    number: int
    deleted: bool


def _slices(trial_ids: Sequence[int]) -> list[Sequence[int]]:
    return [
        trial_ids[i : i + IDS_PER_STATEMENT] for i in range(0, len(trial_ids), IDS_PER_STATEMENT)
    ]


def _locked_rows(
    connection: sa.Connection, sql: Statements, trial_ids: Sequence[int]
) -> dict[int, _Row]:
    """The rows of the trials ``trial_ids`` that exist, locked against concurrent writes."""
    rows: dict[int, _Row] = {}
    for ids in _slices(trial_ids):
        for trial_id, study_id, number, _, deleted in connection.execute(
            sql.trials_to_delete, {"ids": list(ids)}
        ):
            rows[int(trial_id)] = _Row(int(study_id), int(number), bool(deleted))
    return rows


def _check(study_id: int, trial_ids: Sequence[int], rows: dict[int, _Row]) -> None:
    """Raise the error of the first id of the batch that names no live trial of the study.

    Raises:
        KeyError: no such trial in the study.
        TrialDeletedError: the trial was deleted already.
    """
    for trial_id in trial_ids:
        row = rows.get(trial_id)
        if row is None or row.study_id != study_id:
            raise KeyError(f"No trial with id {trial_id} in study {study_id}.")
        if row.deleted:
            raise TrialDeletedError(
                f"Trial#{row.number} (id {trial_id}) of study {study_id} was deleted."
            )


def delete_trials(
    sql: Statements, study_id: int, trial_ids: Sequence[int], now: Any
) -> Body[None]:
    """The body of a write transaction that deletes the trials ``trial_ids`` (checked ids,
    distinct) of the study, all or nothing; ``now`` is the stored time that deleted
    unfinished trials get as their ``datetime_complete``. A repeated run (the reply to an
    earlier run's COMMIT was lost) that finds every trial of the batch deleted returns: the
    batch is atomic, so the earlier run deleted them all (or, at worst, others deleted
    them all meanwhile: the outcome the call asked for).

    Raises:
        KeyError: no such study; an id names no trial of the study.
        TrialDeletedError: an id names a trial of the study that was deleted already.
    """
    runs = Runs()

    def body(connection: sa.Connection) -> None:
        again = runs.start()
        if connection.execute(sql.lock_study, {"study_id": study_id}).scalar() is None:
            raise KeyError(f"No study with id {study_id!r}.")
        if not trial_ids:
            return
        rows = _locked_rows(connection, sql, trial_ids)
        if again and all(
            t in rows and rows[t].study_id == study_id and rows[t].deleted for t in trial_ids
        ):
            return
        _check(study_id, trial_ids, rows)
        connection.execute(
            sql.insert_deleted,
            [{"study_id": study_id, "trial_id": t, "number": rows[t].number} for t in trial_ids],
        )
        for ids in _slices(trial_ids):
            connection.execute(sql.fail_deleted, {"ids": list(ids), "now": now})

    return body


def missing_table(shown_url: str) -> StorageInternalError:
    """The error of a deletion in a database without trialstore's table of deleted trials
    (``shown_url``: the URL, password masked)."""
    return StorageInternalError(
        f"cannot delete trials in {shown_url!r}: the database has no table "
        f"{DELETED_TRIALS_TABLE} (it was made by Optuna or an older trialstore, and "
        "opened with skip_table_creation=True). Open it once without "
        f"skip_table_creation, or run: trialstore storage upgrade --storage '{shown_url}'"
    )
