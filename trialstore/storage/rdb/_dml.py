"""The statements of one dialect, built once with bound parameters (private).

Building a SQLAlchemy statement and its cache key costs far more than running it on a local
server, so every statement on a hot path is built once per dialect and executed with
parameters. Per-dialect parts: upserts, row locks and the database clock.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from trialstore.storage.rdb import _read, _read_folded
from trialstore.storage.rdb._tables import (
    CREATE_TOKEN_LIFETIME,
    CREATE_TOKENS_TABLE,
    deleted_trials,
    studies,
    trial_heartbeats,
    trial_intermediate_values,
    trial_params,
    trial_system_attributes,
    trial_user_attributes,
    trial_values,
    trials,
)

__all__ = [
    "MARIADB_INSERT_TRIAL_UNLESS_WAITING",
    "MAX_PARAMS_PER_STATEMENT",
    "PG_LOCK_STUDY",
    "PG_SCALAR_PARAMS",
    "SQLITE_INSERT_TRIAL_UNLESS_WAITING",
    "Statements",
    "mariadb_finish",
    "pg_finish_with_values",
    "pg_insert_trial",
    "pg_param_rows",
    "pg_params_then_finish",
    "pg_upsert_params",
    "statements_for",
    "upsert_params",
]

_UNFINISHED = sa.text("trials.state IN ('RUNNING', 'WAITING')")


def _listed_at_or_below(bound: str) -> sa.ColumnElement[bool]:
    """The study ``:study_id``'s trials ``:ids`` (an expanding bind: a list, maybe empty)
    with ids at or below the bind ``bound``: beside ``trial_id > :bound``, the other half of
    an OR split into two index ranges that share no trial.

    Only the list is an index condition: the study and the bound are filters (``+ 0`` makes
    them expressions no index serves). Given them as conditions, SQLite may walk the study's
    trials below the bound (its whole past) instead of looking up the listed ones: which it
    picks can hang on the order its indexes were created in."""
    t = trials.c
    zero = sa.literal_column("0", sa.Integer())
    return sa.and_(
        t.trial_id.in_(sa.bindparam("ids", expanding=True)),
        t.study_id + zero == sa.bindparam("study_id"),
        t.trial_id + zero <= sa.bindparam(bound),
    )


def _insert(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    return mysql.insert(table)


class Statements:
    """Prebuilt statements for one dialect (``postgresql``, ``mysql`` or ``sqlite``).

    With ``deletions`` (the database holds ``trialstore_deleted_trials``), reads leave the
    deleted trials out and tell of them (see :meth:`_deletion_statements`); without it the
    statements never name that table (a database made by Optuna, opened without creating
    tables), and ``delete_trials`` has none. With ``create_tokens`` (it holds
    ``trialstore_trial_creates``), trials may be created by the dialect's fast paths
    (``_fast_paths``), which need that table.
    """

    def __init__(self, dialect: str, deletions: bool = True, create_tokens: bool = True) -> None:
        self.dialect = dialect
        self.deletions = deletions
        self.create_tokens = create_tokens
        self.now = self._now()
        self.upsert_param = self._upsert_for_unfinished(
            trial_params, ("param_name", "param_value", "distribution_json"), ("param_name",)
        )
        self.upsert_intermediate = self._upsert_for_unfinished(
            trial_intermediate_values,
            ("step", "intermediate_value", "intermediate_value_type"),
            ("step",),
        )
        self.upsert_user_attr = self._upsert_for_unfinished(
            trial_user_attributes, ("key", "value_json"), ("key",)
        )
        self.upsert_system_attr = self._upsert_for_unfinished(
            trial_system_attributes, ("key", "value_json"), ("key",)
        )
        self.upsert_heartbeat = self._upsert_heartbeat()
        self.upsert_value = self._upsert_values(
            trial_values, ("trial_id", "objective"), ("value", "value_type")
        )
        self.upsert_study_user_attr = self._upsert_values(
            trial_user_attributes.metadata.tables["study_user_attributes"],
            ("study_id", "key"),
            ("value_json",),
        )
        self.upsert_study_system_attr = self._upsert_values(
            trial_user_attributes.metadata.tables["study_system_attributes"],
            ("study_id", "key"),
            ("value_json",),
        )
        lock = sa.select(studies.c.study_id).where(studies.c.study_id == sa.bindparam("study_id"))
        if dialect == "postgresql":
            # Conflicts with FOR UPDATE (Optuna's numbering lock) and with itself, but not with
            # the FOR KEY SHARE of foreign-key checks: inserting rows that reference the study
            # does not wait for it.
            lock = lock.with_for_update(key_share=True)
        elif dialect == "mysql":
            lock = lock.with_for_update()
        #: SELECT the study row, locked against other trial creators (SQLite: its write
        #: transactions are serialized already).
        self.lock_study = lock
        self.max_number = sa.select(sa.func.max(trials.c.number)).where(
            trials.c.study_id == sa.bindparam("study_id")
        )
        self.insert_trial = trials.insert()
        self.finish_trial = (
            trials.update()
            .where(trials.c.trial_id == sa.bindparam("tid"), _UNFINISHED)
            .values(state=sa.bindparam("new_state"), datetime_complete=sa.bindparam("now"))
        )
        self.claim_trial = (
            trials.update()
            .where(trials.c.trial_id == sa.bindparam("tid"), trials.c.state == "WAITING")
            .values(state="RUNNING", datetime_start=sa.bindparam("now"))
        )
        #: Whether the trial of the outer query was deleted (a constant without deletions).
        self.is_deleted: sa.ColumnElement[Any] = (
            sa.exists().where(deleted_trials.c.trial_id == trials.c.trial_id)
            if deletions
            else sa.literal_column("0", sa.Integer())
        ).label("deleted")
        #: The state, number and deletion of the trial ``:tid`` (no row: no such trial).
        self.trial_state = sa.select(trials.c.state, trials.c.number, self.is_deleted).where(
            trials.c.trial_id == sa.bindparam("tid")
        )
        #: The id and deletion of the study ``:study_id``'s trial ``:number``.
        self.trial_by_number = sa.select(trials.c.trial_id, self.is_deleted).where(
            trials.c.study_id == sa.bindparam("study_id"),
            trials.c.number == sa.bindparam("number"),
        )
        #: The same as a locking read: the newest committed state, also inside a MySQL
        #: transaction whose plain reads see its snapshot.
        self.trial_state_current = self.trial_state.with_for_update(read=True)
        #: The deletion of the trial ``:tid`` (a row: deleted) as a locking read, which sees
        #: the newest committed deletion where the deletion flag of
        #: :attr:`trial_state_current` may not (see ``TrialWrites.raise_not_updatable``).
        #: None without deletions.
        self.deletion_current: sa.Select[Any] | None = (
            sa.select(deleted_trials.c.trial_id)
            .where(deleted_trials.c.trial_id == sa.bindparam("tid"))
            .with_for_update(read=True)
            if deletions
            else None
        )
        self.study_exists = sa.select(studies.c.study_id).where(
            studies.c.study_id == sa.bindparam("study_id")
        )
        self.study_of_trial = sa.select(trials.c.study_id).where(
            trials.c.trial_id == sa.bindparam("tid")
        )
        self.known_distribution = self._known_distribution()
        t = trials.c
        newer = t.trial_id > sa.bindparam("max_id")
        # The study's deleted trials, read once per statement (a hashed or materialized
        # subquery) rather than looked up row by row.
        not_deleted = (
            t.trial_id.not_in(
                sa.select(deleted_trials.c.trial_id).where(
                    deleted_trials.c.study_id == sa.bindparam("study_id")
                )
            )
            if deletions
            else sa.true()
        )
        in_study = sa.and_(t.study_id == sa.bindparam("study_id"), not_deleted)
        if deletions:
            live = ~sa.exists().where(deleted_trials.c.trial_id == t.trial_id)
            #: The study's deletions above ``:deleted_after`` (its deletion sequence).
            deleted: sa.ColumnElement[bool] | None = sa.and_(
                deleted_trials.c.study_id == sa.bindparam("study_id"),
                deleted_trials.c.deletion_id > sa.bindparam("deleted_after"),
            )
            one = sa.and_(t.trial_id == sa.bindparam("tid"), live)
            one_deleted: sa.ColumnElement[bool] | None = deleted_trials.c.trial_id == sa.bindparam(
                "tid"
            )
        else:
            deleted = one_deleted = None
            one = t.trial_id == sa.bindparam("tid")
        self.probe_waiting = self._probe_waiting()
        #: Incremental reads of one study, by shape of the "read again" condition (live
        #: trials only, with the study's deletions above ``:deleted_after``).
        self.read_newer = _read.select_trials(dialect, sa.and_(in_study, newer), True, deleted)
        #: The same as ``read_newer`` with one row per trial, for a study's first read on
        #: MariaDB (see :mod:`_read_folded`); None on other dialects.
        self.read_newer_folded = (
            _read_folded.select_trials(sa.and_(in_study, newer), True, deleted)
            if dialect == "mysql"
            else None
        )
        #: ``read_newer`` and the trials ``:ids`` at or below ``:max_id``: two index ranges
        #: (see :func:`_read.select_trials`), together the trials above ``:max_id`` or in
        #: ``:ids``.
        self.read_newer_or_ids = _read.select_trials(
            dialect,
            (
                sa.and_(in_study, newer),
                sa.and_(_listed_at_or_below("max_id"), not_deleted),
            ),
            True,
            deleted,
        )
        self.read_from = _read.select_trials(
            dialect, sa.and_(in_study, t.trial_id >= sa.bindparam("min_id")), True, deleted
        )
        #: The trial ``:tid``, or its deletion row.
        self.read_one = _read.select_trials(dialect, one, False, one_deleted)
        self._deletion_statements()
        self.stale = self._stale()

    def _known_distribution(self) -> sa.Select[Any]:
        """The id of the study ``:study_id``'s lowest trial that has the parameter ``:name``
        and its distribution JSON, among the trials above ``:floor``, the trials ``:ids`` and
        the deleted trials (no row: none has); see ``StudyCache.name_scope``.

        The candidates are a UNION ALL of index ranges (trials above the floor; the listed
        ids, looked up alone; the study's deletions), each probed for the name by the unique
        index ``(trial_id, param_name)``. A join of the two tables leaves the planner free to
        walk ``trial_params`` (every study's rows) for the name instead; the per-trial
        subquery in a derived table does not."""
        t, p = trials.c, trial_params.c
        ranges = [
            sa.select(t.trial_id).where(
                t.study_id == sa.bindparam("study_id"), t.trial_id > sa.bindparam("floor")
            ),
            sa.select(t.trial_id).where(_listed_at_or_below("floor")),
        ]
        if self.deletions:
            d = deleted_trials.c
            ranges.append(sa.select(d.trial_id).where(d.study_id == sa.bindparam("study_id")))
        candidates = sa.union_all(*ranges).subquery("candidates")
        found = (
            sa.select(p.distribution_json)
            .where(p.trial_id == candidates.c.trial_id, p.param_name == sa.bindparam("name"))
            .scalar_subquery()
        )
        probed = sa.select(candidates.c.trial_id, found.label("distribution_json")).subquery(
            "probed"
        )
        return (
            sa.select(probed.c.trial_id, probed.c.distribution_json)
            .where(probed.c.distribution_json.is_not(None))
            .order_by(probed.c.trial_id)
            .limit(1)
        )

    def _probe_waiting(self) -> sa.Select[Any]:
        """The study ``:study_id`` (no row: it does not exist) with the id and state of its
        trials above ``:floor`` and of its trials ``:ids``: whether any may be WAITING."""
        seen = self._trials_above_or_listed("seen")
        return (
            sa.select(studies.c.study_id, seen.c.trial_id, seen.c.state)
            .select_from(studies.outerjoin(seen, seen.c.study_id == studies.c.study_id))
            .where(studies.c.study_id == sa.bindparam("study_id"))
        )

    @staticmethod
    def _trials_above_or_listed(name: str) -> sa.Subquery:
        """The study ``:study_id``'s trials (study id, trial id, state) above ``:floor`` and
        ``:ids`` at or below it: a UNION ALL of two index ranges (the same trials as
        ``> :floor OR IN :ids``, each once). With the OR, SQLite walks every trial of the
        study."""
        t = trials.c
        columns = (t.study_id, t.trial_id, t.state)
        return sa.union_all(
            sa.select(*columns).where(
                t.study_id == sa.bindparam("study_id"), t.trial_id > sa.bindparam("floor")
            ),
            sa.select(*columns).where(_listed_at_or_below("floor")),
        ).subquery(name)

    def _deletion_statements(self) -> None:
        """The statements of ``delete_trials`` (see ``_trial_writes.TrialWrites.delete``)."""
        #: The trials ``:ids`` with their study, number, state and deletion, locked against
        #: concurrent writes to them.
        self.trials_to_delete = (
            sa.select(
                trials.c.trial_id,
                trials.c.study_id,
                trials.c.number,
                trials.c.state,
                self.is_deleted,
            )
            .where(trials.c.trial_id.in_(sa.bindparam("ids", expanding=True)))
            .with_for_update()
        )
        self.insert_deleted = deleted_trials.insert()
        #: Deleted trials that were unfinished become FAIL (at ``:now``), so that no one,
        #: Optuna included, claims, finishes or writes to them any more.
        self.fail_deleted = (
            trials.update()
            .where(trials.c.trial_id.in_(sa.bindparam("ids", expanding=True)), _UNFINISHED)
            .values(state="FAIL", datetime_complete=sa.bindparam("now"))
        )

    def _now(self) -> sa.ColumnElement[Any]:
        """The database's clock as a naive datetime in the columns' convention."""
        if self.dialect == "postgresql":
            return sa.literal_column("LOCALTIMESTAMP", sa.DateTime())
        if self.dialect == "mysql":
            return sa.literal_column("NOW(6)", sa.DateTime())
        # SQLite: UTC text with microseconds, the format SQLAlchemy writes.
        return sa.literal_column("strftime('%Y-%m-%d %H:%M:%f000', 'now')", sa.DateTime())

    def _on_conflict(self, stmt: Any, conflict: tuple[str, ...], update: dict[str, Any]) -> Any:
        if self.dialect == "mysql":
            stmt = stmt.on_duplicate_key_update(update)
        else:
            stmt = stmt.on_conflict_do_update(index_elements=list(conflict), set_=update)
        return stmt.execution_options(preserve_rowcount=True)

    def _upsert_for_unfinished(
        self, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...]
    ) -> Any:
        """INSERT (or replace on the ``trial_id`` + ``key`` conflict) a row for the trial
        ``:tid`` if it exists and is unfinished; 0 rows affected means it does not or is not.
        On PostgreSQL and MySQL a driver-level string (see :func:`_driver_upsert`), on SQLite
        a SQLAlchemy statement.

        The trial row is read with a share lock, so a concurrent finish waits for this write
        or this write sees the finished state and does nothing."""
        if self.dialect in ("postgresql", "mysql"):
            return _driver_upsert(self.dialect, table.name, columns, key)
        params = {name: sa.bindparam(name, type_=table.c[name].type) for name in columns}
        source = (
            sa.select(trials.c.trial_id, *params.values())
            .where(trials.c.trial_id == sa.bindparam("tid"), _UNFINISHED)
            .with_for_update(read=True)
        )
        stmt = _insert(self.dialect, table).from_select(["trial_id", *columns], source)
        update = {name: params[name] for name in columns if name not in key}
        return self._on_conflict(stmt, ("trial_id", *key), update)

    def _upsert_heartbeat(self) -> Any:
        """Record the database's time as the heartbeat of ``:tid`` if it is RUNNING (a WAITING
        trial has no worker yet: its heartbeat would make it stale on claim)."""
        source = (
            sa.select(trials.c.trial_id, self.now)
            .where(trials.c.trial_id == sa.bindparam("tid"), trials.c.state == "RUNNING")
            .with_for_update(read=True)
        )
        stmt = _insert(self.dialect, trial_heartbeats).from_select(
            ["trial_id", "heartbeat"], source
        )
        return self._on_conflict(stmt, ("trial_id",), {"heartbeat": self.now})

    def _upsert_values(
        self, table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...]
    ) -> Any:
        """INSERT one row (parameters named as the columns), replacing one with its key."""
        stmt = _insert(self.dialect, table).values(
            {name: sa.bindparam(name, type_=table.c[name].type) for name in (*key, *columns)}
        )
        if self.dialect == "mysql":
            update = {name: stmt.inserted[name] for name in columns}
        else:
            update = {name: stmt.excluded[name] for name in columns}
        return self._on_conflict(stmt, key, update)

    def _stale(self) -> sa.Select[Any]:
        """The study ``:study_id`` (no row: it does not exist) with the id and state of its
        trials above ``:floor`` and of its trials ``:ids``, and whether each has a heartbeat
        older than ``:grace`` seconds by the database's clock (stale if RUNNING); see
        ``StudyCache.stale_check``. The trials come from two index ranges, as in
        ``probe_waiting``; each heartbeat is looked up by its trial's id."""
        beat = trial_heartbeats.c.heartbeat
        grace = sa.bindparam("grace", type_=sa.Float())
        age: sa.ColumnElement[bool]
        if self.dialect == "postgresql":
            age = beat < sa.literal_column("LOCALTIMESTAMP") - sa.func.make_interval(
                0, 0, 0, 0, 0, 0, grace
            )
        elif self.dialect == "mysql":
            age = sa.func.timestampdiff(sa.text("MICROSECOND"), beat, sa.func.now(6)) > (
                grace * 1e6
            )
        else:
            age = (sa.func.julianday("now") - sa.func.julianday(beat)) * 86400.0 > grace
        seen = self._trials_above_or_listed("seen")
        old = sa.exists().where(trial_heartbeats.c.trial_id == seen.c.trial_id, age)
        return (
            sa.select(studies.c.study_id, seen.c.trial_id, seen.c.state, old.label("old"))
            .select_from(studies.outerjoin(seen, seen.c.study_id == studies.c.study_id))
            .where(studies.c.study_id == sa.bindparam("study_id"))
        )


#: PostgreSQL types of the columns the driver-level upserts write: psycopg sends a str as of
#: unknown type, and None untyped.
_PG_TYPES = {
    "param_name": "VARCHAR",
    "param_value": "DOUBLE PRECISION",
    "distribution_json": "TEXT",
    "step": "INTEGER",
    "intermediate_value": "DOUBLE PRECISION",
    "intermediate_value_type": "trialintermediatevaluetype",
    "key": "VARCHAR",
    "value_json": "TEXT",
}


def _driver_upsert(
    dialect: str, table: str, columns: tuple[str, ...], key: tuple[str, ...]
) -> str:
    """PostgreSQL or MySQL/MariaDB: ``Statements._upsert_for_unfinished`` as a driver-level
    string (pyformat: ``%(tid)s`` and ``%(<column>)s``), which ``_driver`` runs without
    SQLAlchemy's execution."""
    updated = [name for name in columns if name not in key]
    if dialect == "postgresql":
        values = ", ".join(f"CAST(%({name})s AS {_PG_TYPES[name]})" for name in columns)
        lock = "FOR SHARE"
        upsert = f"ON CONFLICT (trial_id, {', '.join(key)}) DO UPDATE SET " + ", ".join(
            f"{name} = EXCLUDED.{name}" for name in updated
        )
        names = ", ".join(columns)
    else:
        values = ", ".join(f"%({name})s" for name in columns)
        lock = "LOCK IN SHARE MODE"
        upsert = "ON DUPLICATE KEY UPDATE " + ", ".join(
            f"{name} = VALUES({name})" for name in updated
        )
        names = ", ".join(f"`{name}`" for name in columns)  # `key` is reserved in MySQL
    return (
        f"INSERT INTO {table} (trial_id, {names}) SELECT trial_id, {values} FROM trials "
        f"WHERE trial_id = %(tid)s AND state IN ('RUNNING', 'WAITING') {lock} {upsert}"
    )


#: PostgreSQL, sent by ``_fast_paths.pg_create_trial`` after a BEGIN in the same query
#: string: lock the study row (as Optuna does while numbering), so that the statement after
#: it, which numbers the trial, runs alone per study. In READ COMMITTED each statement takes
#: a new snapshot when it starts (in one query string too), after the lock is granted, so
#: that statement sees every trial and token committed by an earlier holder.
PG_LOCK_STUDY = "SELECT study_id FROM studies WHERE study_id = %(study_id)s FOR NO KEY UPDATE"

#: The trial inserted by a create: RUNNING, numbered after the study's last trial, none if the
#: study does not exist; the caller appends the further conditions of its HAVING clause.
_PG_NEXT_TRIAL = (
    "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) "
    "SELECT COALESCE(MAX(number) + 1, 0), %(study_id)s, CAST('RUNNING' AS trialstate), "
    "%(start)s, NULL FROM trials WHERE study_id = %(study_id)s "
    "HAVING EXISTS (SELECT 1 FROM studies WHERE study_id = %(study_id)s)"
)


@functools.cache
def pg_insert_trial(system_attrs: bool, unless_waiting: bool) -> str:
    """PostgreSQL, one statement (run after :data:`PG_LOCK_STUDY`) that creates a trial
    unless its token ``%(token)s`` (32 characters) is in ``trialstore_trial_creates``: a
    RUNNING trial (``%(start)s``) numbered after the study's last one, with the system
    attributes ``%(keys)s`` and their JSON texts ``%(values)s`` (two lists of one length)
    if ``system_attrs``, and the token. It deletes the study's tokens older than
    ``CREATE_TOKEN_LIFETIME``. A token found means an earlier attempt of the same create
    committed: its trial is returned as if inserted.

    Rows: (trial id, number) of the trial; none when the study does not exist. With
    ``unless_waiting``, the trial is not inserted if one of the study's trials above
    ``%(floor)s`` or among ``%(ids)s`` (those the caller may not have seen leave WAITING:
    see ``StudyCache.may_have_waiting``) is WAITING; the rows are then (trial id, number,
    state, whether it is the created trial) of those and of the created one. Parameters in
    psycopg's pyformat."""
    conditions = " AND NOT EXISTS (SELECT 1 FROM found)"
    with_ = (
        "WITH found AS (SELECT c.trial_id, t.number, t.state "
        f"FROM {CREATE_TOKENS_TABLE} AS c JOIN trials AS t ON t.trial_id = c.trial_id "
        "WHERE c.token = %(token)s), "
    )
    if unless_waiting:
        with_ += (
            "seen AS (SELECT trial_id, number, state FROM trials "
            "WHERE study_id = %(study_id)s "
            "AND (trial_id > %(floor)s OR trial_id = ANY(CAST(%(ids)s AS INTEGER[])))), "
        )
        conditions += " AND NOT EXISTS (SELECT 1 FROM seen WHERE state = 'WAITING')"
    with_ += f"t AS ({_PG_NEXT_TRIAL}{conditions} RETURNING trial_id, number), "
    if system_attrs:
        with_ += (
            "a AS (INSERT INTO trial_system_attributes (trial_id, key, value_json) "
            "SELECT t.trial_id, a.key, a.value_json FROM t CROSS JOIN "
            "unnest(CAST(%(keys)s AS TEXT[]), CAST(%(values)s AS TEXT[])) "
            "AS a (key, value_json)), "
        )
    with_ += (
        f"c AS (INSERT INTO {CREATE_TOKENS_TABLE} (token, study_id, trial_id) "
        "SELECT %(token)s, %(study_id)s, trial_id FROM t), "
        f"x AS (DELETE FROM {CREATE_TOKENS_TABLE} WHERE study_id = %(study_id)s "
        f"AND created_at < now() - INTERVAL '{CREATE_TOKEN_LIFETIME}') "
    )
    if not unless_waiting:
        return with_ + (
            "SELECT trial_id, number FROM t UNION ALL SELECT trial_id, number FROM found"
        )
    return with_ + (
        "SELECT trial_id, number, CAST('RUNNING' AS trialstate), TRUE FROM t "
        "UNION ALL SELECT trial_id, number, state, TRUE FROM found "
        "UNION ALL SELECT trial_id, number, state, FALSE FROM seen "
        "WHERE trial_id NOT IN (SELECT trial_id FROM found)"
    )


#: MariaDB, one compound statement (``BEGIN NOT ATOMIC``: one round trip, its COMMIT
#: included) that, in one transaction, locks the study row (as ``PG_LOCK_STUDY`` does) and
#: creates a RUNNING trial (``%(start)s``) numbered after the study's last one, with its token
#: ``%(token)s`` (as ``pg_insert_trial`` does: a token found returns the trial of an earlier
#: attempt), unless a trial it lists is WAITING. The listed trials are those of the study above
#: ``%(floor)s`` or in ``%(ids)s`` (never empty), and the created one: rows (trial_id, number,
#: state, 1 for the created trial else 0); no row: no such study. The first consistent read
#: of the transaction (the token's) comes after the lock is granted, so its snapshot, which
#: the later reads share, holds every trial and token committed by an earlier holder. An error
#: rolls the transaction back and reaches the caller as the server raised it (deadlocks
#: included). Parameters in PyMySQL's pyformat.
MARIADB_INSERT_TRIAL_UNLESS_WAITING = (
    "BEGIN NOT ATOMIC "
    "DECLARE found INT; "
    "DECLARE next_number INT; "
    "DECLARE created BIGINT DEFAULT NULL; "
    "DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END; "
    "START TRANSACTION; "
    "SELECT COUNT(*) INTO found FROM studies WHERE study_id = %(study_id)s FOR UPDATE; "
    f"SET created = (SELECT trial_id FROM {CREATE_TOKENS_TABLE} WHERE token = %(token)s); "
    "IF found = 1 AND created IS NULL AND NOT EXISTS (SELECT 1 FROM trials "
    "WHERE study_id = %(study_id)s "
    "AND state = 'WAITING' AND (trial_id > %(floor)s OR trial_id IN %(ids)s)) THEN "
    "SELECT COALESCE(MAX(number) + 1, 0) INTO next_number FROM trials "
    "WHERE study_id = %(study_id)s; "
    "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) "
    "VALUES (next_number, %(study_id)s, 'RUNNING', %(start)s, NULL); "
    "SET created = LAST_INSERT_ID(); "
    f"INSERT INTO {CREATE_TOKENS_TABLE} (token, study_id, trial_id) "
    "VALUES (%(token)s, %(study_id)s, created); "
    f"DELETE FROM {CREATE_TOKENS_TABLE} WHERE study_id = %(study_id)s "
    f"AND created_at < NOW() - INTERVAL {CREATE_TOKEN_LIFETIME}; "
    "END IF; "
    "SELECT trial_id, number, state, trial_id <=> created FROM trials "
    "WHERE study_id = %(study_id)s "
    "AND (trial_id > %(floor)s OR trial_id IN %(ids)s OR trial_id <=> created); "
    "COMMIT; "
    "END"
)


#: SQLite, one statement (atomic by itself: it takes the database's write lock before it
#: reads) that inserts a RUNNING trial (``:start``) numbered after the study's last one unless
#: the study's trials above ``:floor`` or among ``:ids`` (those the caller may not have seen
#: leave WAITING: see ``StudyCache.may_have_waiting``) hold a WAITING one; its row: (trial
#: id, number) of the new trial. No row: a trial is WAITING, or there is no such study. The
#: two kinds of trials are two index ranges, as in the WAITING probe (``study_id + 0``: the
#: listed ids are looked up by their key, not among the study's trials).
SQLITE_INSERT_TRIAL_UNLESS_WAITING = sa.text(
    "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) "
    "SELECT COALESCE((SELECT MAX(number) FROM trials WHERE study_id = :study_id) + 1, 0), "
    ":study_id, 'RUNNING', :start, NULL "
    "WHERE EXISTS (SELECT 1 FROM studies WHERE study_id = :study_id) "
    "AND NOT EXISTS (SELECT 1 FROM trials WHERE study_id = :study_id AND trial_id > :floor "
    "AND state = 'WAITING') "
    "AND NOT EXISTS (SELECT 1 FROM trials WHERE trial_id IN :ids "
    "AND study_id + 0 = :study_id AND state = 'WAITING') "
    "RETURNING trial_id, number"
).bindparams(
    sa.bindparam("ids", expanding=True),
    sa.bindparam("start", type_=trials.c.datetime_start.type),
)


@functools.cache
def _pg_store_values(n_values: int) -> str:
    """PostgreSQL: the WITH clause (with its leading comma; empty for no values) that upserts
    ``n_values`` values (``%(value_<i>)s``, ``%(type_<i>)s``) of the trial in the clause
    ``finished``."""
    if not n_values:
        return ""
    rows = ", ".join(
        f"({i}, CAST(%(value_{i})s AS DOUBLE PRECISION), CAST(%(type_{i})s AS trialvaluetype))"
        for i in range(n_values)
    )
    return (
        ", stored AS (INSERT INTO trial_values (trial_id, objective, value, value_type) "
        "SELECT finished.trial_id, v.objective, v.value, v.value_type "
        f"FROM finished CROSS JOIN (VALUES {rows}) AS v (objective, value, value_type) "
        "ON CONFLICT (trial_id, objective) DO UPDATE "
        "SET value = EXCLUDED.value, value_type = EXCLUDED.value_type RETURNING 1)"
    )


def pg_finish_with_values(n_values: int) -> str:
    """PostgreSQL: one statement (atomic without BEGIN/COMMIT round trips) that finishes the
    trial ``%(tid)s`` if it is unfinished and upserts its ``n_values`` values
    (``%(value_<i>)s``, ``%(type_<i>)s``); its one row holds 1 if the trial was finished by
    it, else 0 (then nothing was written). Parameters in psycopg's pyformat."""
    stored = _pg_store_values(n_values)
    # Data-modifying WITH clauses run to completion whether or not the query reads them.
    return (
        "WITH finished AS (UPDATE trials SET state = CAST(%(new_state)s AS trialstate), "
        "datetime_complete = %(now)s WHERE trial_id = %(tid)s "
        "AND state IN ('RUNNING', 'WAITING') RETURNING trial_id)"
        f"{stored} SELECT count(*) FROM finished"
    )


#: PostgreSQL: a batch of up to this many parameters is bound as scalars (a VALUES list),
#: a larger one as three arrays (see :func:`pg_param_rows`).
PG_SCALAR_PARAMS = 100


def pg_param_rows(n_params: int) -> str:
    """PostgreSQL: the FROM item ``p (param_name, param_value, distribution_json, ord)`` of
    a batch of ``n_params`` parameters, in order: up to ``PG_SCALAR_PARAMS`` a VALUES list
    of ``%(n<i>)s``, ``%(v<i>)s`` (internal float) and ``%(d<i>)s`` (distribution JSON text),
    else the arrays ``%(names)s``, ``%(values)s`` and ``%(dists)s`` (three lists of one
    length). psycopg dumps each text of a list into an array literal through a regular
    expression: 5 parameters cost ~90 µs of client CPU as arrays, ~15 µs as scalars."""
    if n_params <= PG_SCALAR_PARAMS:
        rows = ", ".join(
            f"(CAST(%(n{i})s AS VARCHAR), CAST(%(v{i})s AS DOUBLE PRECISION), "
            f"CAST(%(d{i})s AS TEXT), {i})"
            for i in range(n_params)
        )
        return f"(VALUES {rows}) AS p (param_name, param_value, distribution_json, ord)"
    return (
        "unnest(CAST(%(names)s AS VARCHAR[]), CAST(%(values)s AS DOUBLE PRECISION[]), "
        "CAST(%(dists)s AS TEXT[])) WITH ORDINALITY "
        "AS p (param_name, param_value, distribution_json, ord)"
    )


@functools.cache
def pg_upsert_params(n_params: int) -> str:
    """PostgreSQL: one statement (atomic without BEGIN/COMMIT round trips) that upserts
    ``n_params`` parameters (see :func:`pg_param_rows`) of the trial ``%(tid)s``: inserted in
    their order (so their ids, which order a trial's params, follow it), or replacing the
    value of a name the trial has. The trial row is read with a share lock, as by the
    single-parameter upsert: a concurrent finish waits for this statement, or this statement
    sees the finished state and writes nothing (0 rows). Parameters in psycopg's pyformat."""
    return (
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        "SELECT t.trial_id, p.param_name, p.param_value, p.distribution_json "
        "FROM (SELECT trial_id FROM trials WHERE trial_id = %(tid)s "
        "AND state IN ('RUNNING', 'WAITING') FOR SHARE) AS t "
        f"CROSS JOIN {pg_param_rows(n_params)} "
        "ORDER BY p.ord "
        "ON CONFLICT (trial_id, param_name) DO UPDATE "
        "SET param_value = EXCLUDED.param_value, distribution_json = EXCLUDED.distribution_json"
    )


@functools.cache
def pg_params_then_finish(n_params: int, n_values: int) -> str:
    """PostgreSQL: one statement that, if the trial ``%(tid)s`` is unfinished, upserts the
    ``n_params`` parameters (as :func:`pg_upsert_params`), finishes it (``%(new_state)s``,
    ``%(now)s``) and upserts its ``n_values`` values (as :func:`pg_finish_with_values`); its
    one row holds 1 if it did, else 0 (nothing written). The trial row is locked first (FOR
    UPDATE): a concurrent finish either waits for this statement or makes it find the trial
    finished. Parameters in psycopg's pyformat."""
    stored = _pg_store_values(n_values)
    return (
        "WITH t AS (SELECT trial_id FROM trials WHERE trial_id = %(tid)s "
        "AND state IN ('RUNNING', 'WAITING') FOR UPDATE), "
        "params AS (INSERT INTO trial_params (trial_id, param_name, param_value, "
        "distribution_json) SELECT t.trial_id, p.param_name, p.param_value, p.distribution_json "
        f"FROM t CROSS JOIN {pg_param_rows(n_params)} ORDER BY p.ord "
        "ON CONFLICT (trial_id, param_name) DO UPDATE "
        "SET param_value = EXCLUDED.param_value, distribution_json = EXCLUDED.distribution_json "
        "RETURNING 1), "
        "finished AS (UPDATE trials SET state = CAST(%(new_state)s AS trialstate), "
        "datetime_complete = %(now)s FROM t WHERE trials.trial_id = t.trial_id "
        "RETURNING trials.trial_id)"
        f"{stored} SELECT count(*) FROM finished"
    )


#: MySQL and SQLite: the most parameters one :func:`upsert_params` statement carries (each
#: takes three bound values; old SQLite builds allow 999 per statement).
MAX_PARAMS_PER_STATEMENT = 100


def _mysql_upsert_params(indices: range) -> str:
    """MySQL/MariaDB: the INSERT of :func:`upsert_params` for the parameters numbered
    ``indices`` (bound values ``%(n<i>)s``, ``%(v<i>)s``, ``%(d<i>)s``)."""
    rows = " UNION ALL ".join(
        f"SELECT {i} AS ord, %(n{i})s AS param_name, %(v{i})s AS param_value, "
        f"%(d{i})s AS distribution_json"
        for i in indices
    )
    return (
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        "SELECT t.trial_id, p.param_name, p.param_value, p.distribution_json "
        f"FROM trials AS t CROSS JOIN ({rows}) AS p "
        "WHERE t.trial_id = %(tid)s AND t.state IN ('RUNNING', 'WAITING') "
        "ORDER BY p.ord LOCK IN SHARE MODE "
        "ON DUPLICATE KEY UPDATE param_value = VALUES(param_value), "
        "distribution_json = VALUES(distribution_json)"
    )


def _mysql_upsert_params_of_locked_trial(indices: range) -> str:
    """MySQL/MariaDB: the INSERT of the parameters numbered ``indices`` (bound values as in
    :func:`_mysql_upsert_params`) into the trial ``%(tid)s``, for a transaction that holds
    that trial's row lock and has found it unfinished: plain rows, with no read of the trial
    (the lock already guards them)."""
    rows = ", ".join(f"(%(tid)s, %(n{i})s, %(v{i})s, %(d{i})s)" for i in indices)
    return (
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
        f"VALUES {rows} "
        "ON DUPLICATE KEY UPDATE param_value = VALUES(param_value), "
        "distribution_json = VALUES(distribution_json)"
    )


@functools.cache
def upsert_params(dialect: str, n_params: int) -> Any:
    """MySQL/MariaDB or SQLite: the statement that sets ``n_params`` parameters of the trial
    ``tid`` at once, as :func:`pg_upsert_params` does on PostgreSQL (bound values ``n<i>``,
    ``v<i>``, ``d<i>``: name, internal value, distribution JSON of the i-th parameter).
    0 rows affected: the trial does not exist or is finished, and nothing was written.
    MySQL: a driver-level string (pyformat); SQLite: a SQLAlchemy text."""
    if dialect == "mysql":
        return _mysql_upsert_params(range(n_params))
    if dialect == "sqlite":
        rows = ", ".join(f"({i}, :n{i}, :v{i}, :d{i})" for i in range(n_params))
        # SQLite's write transactions are serialized: no row lock is needed (or available).
        text = (
            "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
            "SELECT t.trial_id, p.column2, p.column3, p.column4 "
            f"FROM trials AS t CROSS JOIN (VALUES {rows}) AS p "
            "WHERE t.trial_id = :tid AND t.state IN ('RUNNING', 'WAITING') "
            "ORDER BY p.column1 "
            "ON CONFLICT (trial_id, param_name) DO UPDATE "
            "SET param_value = excluded.param_value, "
            "distribution_json = excluded.distribution_json"
        )
        return sa.text(text).execution_options(preserve_rowcount=True)
    raise ValueError(f"no multi-row parameter upsert for {dialect!r}")


@functools.cache
def mariadb_finish(n_params: int, n_values: int) -> str:
    """MariaDB, one compound statement (``BEGIN NOT ATOMIC``: one round trip, its COMMIT
    included) that, in one transaction, locks the trial ``%(tid)s`` if it is unfinished,
    then upserts its ``n_params`` parameters (bound as for :func:`upsert_params`, in chunks
    of ``MAX_PARAMS_PER_STATEMENT``), finishes it (``%(new_state)s``, ``%(now)s``), upserts its
    ``n_values`` values (``%(value_<i>)s``, ``%(type_<i>)s``) and commits. Its one row holds
    1 if it did, else 0 (nothing written). As :func:`pg_params_then_finish` on PostgreSQL:
    a concurrent finish either waits for the lock or makes it find the trial finished; a
    connection lost before its reply leaves it committed or not, as a single statement in
    autocommit mode. An error rolls the transaction back and reaches the caller as the
    server raised it. Parameters in PyMySQL's pyformat."""
    params = "".join(
        _mysql_upsert_params_of_locked_trial(
            range(start, min(start + MAX_PARAMS_PER_STATEMENT, n_params))
        )
        + "; "
        for start in range(0, n_params, MAX_PARAMS_PER_STATEMENT)
    )
    values = ""
    if n_values:
        rows = ", ".join(f"(%(tid)s, {i}, %(value_{i})s, %(type_{i})s)" for i in range(n_values))
        values = (
            f"INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES {rows} "
            "ON DUPLICATE KEY UPDATE value = VALUES(value), value_type = VALUES(value_type); "
        )
    return (
        "BEGIN NOT ATOMIC "
        "DECLARE found INT; "
        "DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END; "
        "START TRANSACTION; "
        "SELECT COUNT(*) INTO found FROM trials WHERE trial_id = %(tid)s "
        "AND state IN ('RUNNING', 'WAITING') FOR UPDATE; "
        "IF found = 1 THEN "
        f"{params}"
        "UPDATE trials SET state = %(new_state)s, datetime_complete = %(now)s "
        "WHERE trial_id = %(tid)s; "
        f"{values}"
        "END IF; "
        "COMMIT; "
        "SELECT found; "
        "END"
    )


@functools.cache
def statements_for(dialect: str, deletions: bool = True, create_tokens: bool = True) -> Statements:
    """Return the (shared, immutable) statements of ``dialect`` (see :class:`Statements`)."""
    return Statements(dialect, deletions, create_tokens)
