"""The heartbeats of the RDB storage (private): recorded and compared on the database's
clock, so that the machines sharing a database need not agree on the time.

Each function runs on one :class:`sqlalchemy.Connection` in a transaction of mode ``"none"``
(one statement, a second one on the error path). Arguments are checked already.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from trialstore.storage.rdb._dml import Statements

__all__ = ["record_heartbeat", "stale_trial_ids"]


def record_heartbeat(
    connection: sa.Connection,
    sql: Statements,
    trial_id: int,
    raise_not_updatable: Callable[[sa.Connection, int], None],
) -> None:
    """Record the database's current time as the heartbeat of a RUNNING trial; a WAITING
    trial is left alone (it has no worker yet).

    Raises:
        KeyError, UpdateFinishedTrialError: what ``raise_not_updatable`` raises when the
            trial is not RUNNING or WAITING.
    """
    if connection.execute(sql.upsert_heartbeat, {"tid": trial_id}).rowcount == 0:
        raise_not_updatable(connection, trial_id)  # else: WAITING


def stale_trial_ids(
    connection: sa.Connection, sql: Statements, study_id: int, grace_period: float
) -> list[int]:
    """The ids of the study's RUNNING trials whose last heartbeat is more than
    ``grace_period`` seconds old, by id.

    Raises:
        KeyError: no such study.
    """
    rows = connection.execute(sql.stale, {"study_id": study_id, "grace": grace_period})
    found = [int(r) for r in rows.scalars().all()]
    if not found and connection.execute(sql.study_exists, {"study_id": study_id}).scalar() is None:
        raise KeyError(f"No study with id {study_id!r}.")
    return found
