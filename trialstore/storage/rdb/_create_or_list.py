"""Creating a trial: in the dialect's fewest round trips (:func:`create_trial`), and, for
``create_trial_or_list_waiting``, in one transaction (:func:`create_or_list_waiting`): one
round trip on PostgreSQL and MariaDB, one statement on SQLite (private; see
:class:`RDBStorage`)."""

from __future__ import annotations

import datetime
from typing import Any, Literal

import sqlalchemy as sa

from trialstore._core import FrozenTrial
from trialstore.storage.rdb import _codec, _fast_paths
from trialstore.storage.rdb._cache import StudyCache
from trialstore.storage.rdb._dml import SQLITE_INSERT_TRIAL_UNLESS_WAITING, Statements
from trialstore.storage.rdb._transactions import Body, Transactions
from trialstore.storage.rdb._trial_writes import TrialWrites

__all__ = ["Path", "create_or_list_waiting", "create_trial", "fast_path"]

#: Which statement :func:`create_or_list_waiting` sends.
Path = Literal["postgresql", "mariadb", "sqlite"]


def fast_path(sql: Statements, dialect: sa.Dialect, template: FrozenTrial | None) -> Path | None:
    """The path of :func:`create_or_list_waiting` on the engine's ``dialect`` (whose
    statements are ``sql``) for ``template`` (checked), or None (list, then create, as
    ``BaseStorage`` does): PostgreSQL where ``_fast_paths.pg_creates``, MariaDB through
    PyMySQL (with the table of create tokens) and SQLite without a template."""
    if _fast_paths.pg_creates(sql.dialect, sql.create_tokens, template):
        return "postgresql"
    if template is not None:
        return None
    if _fast_paths.mariadb_with_pymysql(dialect) and sql.create_tokens:
        return "mariadb"
    return "sqlite" if dialect.name == "sqlite" else None


#: A probe that lists no trial: none has an id above it.
_LISTS_NOTHING: tuple[int, list[int]] = (2**63 - 1, [])


def create_trial(
    transactions: Transactions,
    writes: TrialWrites,
    sql: Statements,
    dialect: sa.Dialect,
    study_id: int,
    template: FrozenTrial | None,
) -> tuple[int, int]:
    """Create the study's next trial (RUNNING, or as ``template`` says); return (trial id,
    number). Where :func:`fast_path` holds for ``template`` on PostgreSQL or MariaDB: one
    round trip, retried after a lost connection without making a second trial; else the
    write transaction of :meth:`TrialWrites.create`, which is not idempotent: a lost COMMIT
    raises.

    Raises:
        KeyError: no such study.
        ValueError: a template distribution conflicts with the study's.
        StorageInternalError: the outcome is unknown (the COMMIT's reply was lost).
    """
    path = fast_path(sql, dialect, template)
    if path == "postgresql":
        rows = transactions.run(_fast_paths.pg_create_trial(study_id, template), mode="none")
        return int(rows[0][0]), int(rows[0][1])
    if path == "mariadb":
        statement = _fast_paths.mariadb_create_trial(study_id, _LISTS_NOTHING)
        rows = transactions.run(statement, mode="none")
        return int(rows[0][0]), int(rows[0][1])
    return transactions.run(writes.create(study_id, template), mode="write", idempotent=False)


def create_or_list_waiting(
    transactions: Transactions,
    cache: StudyCache,
    study_id: int,
    template: FrozenTrial | None,
    path: Path,
) -> int | list[int] | None:
    """List the study's trials that may be WAITING (as :meth:`StudyCache.may_have_waiting`
    does) and create a trial (from ``template``) unless one is, in one transaction, by
    ``path`` (see :func:`fast_path`). Return the new trial's id, or the WAITING trials' ids
    by number; on SQLite, which lists nothing, None when no trial was created (a trial may
    be WAITING, or the study may not exist): the caller lists them as ``BaseStorage`` does.
    On PostgreSQL and MariaDB a lost connection is retried without making a second trial.

    Raises:
        KeyError: no such study (the cache forgets it).
    """
    # No study lock of this process: the database's lock on the study row orders the
    # creates, and concurrent probes may be noted in any order (see StudyCache.note_probe).
    probe = cache.probe(study_id)
    if path == "sqlite":
        return _sqlite_create(transactions, cache, study_id, probe)
    body: Body[list[tuple[Any, ...]]]
    if path == "postgresql":
        body = _fast_paths.pg_create_trial(study_id, template, probe)
    else:
        body = _fast_paths.mariadb_create_trial(study_id, probe)
    try:
        rows = transactions.run(body, mode="none")
    except KeyError:
        cache.forget(study_id)
        raise
    created = [(int(r[0]), int(r[1])) for r in rows if r[3]]
    seen = [(int(r[0]), int(r[1]), r[2]) for r in rows]
    cache.note_probe(study_id, probe[0], [(tid, state) for tid, _, state in seen])
    if created:
        trial_id, number = created[0]
        cache.note_created(study_id, trial_id, number)
        return trial_id
    return [tid for _, tid in sorted((n, tid) for tid, n, state in seen if state == "WAITING")]


def _sqlite_create(
    transactions: Transactions, cache: StudyCache, study_id: int, probe: tuple[int, list[int]]
) -> int | None:
    """SQLite: ``SQLITE_INSERT_TRIAL_UNLESS_WAITING`` in autocommit; the new trial's id, or
    None. The new trial's id is above every trial's there (SQLite serializes writers, and
    the ids are AUTOINCREMENT): none of them up to it is WAITING."""
    floor, ids = probe
    params = {
        "study_id": study_id,
        "floor": floor,
        "ids": ids,
        "start": _codec.to_stored_datetime(datetime.datetime.now()),
    }
    rows = transactions.run(
        lambda c: c.execute(SQLITE_INSERT_TRIAL_UNLESS_WAITING, params).all(),
        mode="none",
        idempotent=False,
    )
    if not rows:
        return None
    trial_id, number = int(rows[0][0]), int(rows[0][1])
    cache.note_probe(study_id, floor, [(trial_id, "RUNNING")])
    cache.note_created(study_id, trial_id, number)
    return trial_id
