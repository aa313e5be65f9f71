"""The heartbeats of the RDB storage (private): recorded and compared on the database's
clock, so that the machines sharing a database need not agree on the time.

Each sends one statement (a second one on the error path) in a transaction of mode
``"none"``: :func:`record_heartbeat` is the body of one, :func:`stale_trial_ids` runs its
own. Arguments are checked already.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from trialstore.storage.rdb._cache import StudyCache
from trialstore.storage.rdb._dml import Statements
from trialstore.storage.rdb._transactions import Transactions

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
    transactions: Transactions,
    cache: StudyCache,
    sql: Statements,
    study_id: int,
    grace_period: float,
) -> list[int]:
    """The ids of the study's RUNNING trials whose last heartbeat is more than
    ``grace_period`` seconds old, by id, by one statement in a transaction of its own.

    The statement asks only about the trials that may be RUNNING: those above the floor of
    :meth:`StudyCache.stale_check` and those it lists (concurrent calls are safe: see
    :meth:`StudyCache.note_stale_check`).

    Raises:
        KeyError: no such study (what was remembered of it is forgotten).
    """
    floor, unfinished = cache.stale_check(study_id)
    params = {"study_id": study_id, "grace": grace_period, "floor": floor, "ids": unfinished}
    rows = transactions.run(lambda c: c.execute(sql.stale, params).all(), mode="none")
    if not rows:
        cache.forget(study_id)
        raise KeyError(f"No study with id {study_id!r}.")
    seen = [(int(r[1]), r[2]) for r in rows if r[1] is not None]
    cache.note_stale_check(study_id, floor, seen)
    return sorted(int(r[1]) for r in rows if r[1] is not None and r[2] == "RUNNING" and r[3])
