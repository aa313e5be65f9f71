"""RDBStorage: studies and trials in SQLite, PostgreSQL or MySQL/MariaDB."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import Container, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState, copy_trial
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution, distribution_to_json
from trialstore.exceptions import DuplicatedStudyError, TrialDeletedError
from trialstore.storage import validation as check
from trialstore.storage.base import BaseStorage
from trialstore.storage.rdb import (
    _codec,
    _deletions,
    _engine,
    _fast_paths,
    _heartbeats,
    _read,
    _schema,
)
from trialstore.storage.rdb import _studies as studies
from trialstore.storage.rdb._cache import StudyCache, only_waiting
from trialstore.storage.rdb._create_or_list import create_or_list_waiting, create_trial, fast_path
from trialstore.storage.rdb._dml import statements_for
from trialstore.storage.rdb._tables import (
    CREATE_TOKENS_TABLE,
    DELETED_TRIALS_TABLE,
    max_integer,
    study_system_attributes,
    study_user_attributes,
)
from trialstore.storage.rdb._transactions import Transactions
from trialstore.storage.rdb._trial_writes import (
    TrialWrites,
    holds_attr,
    holds_intermediate_value,
    holds_params,
)

__all__ = ["RDBStorage"]

#: What a pickled RDBStorage holds beside its URL (each in the attribute ``_`` + name).
_PICKLED = (
    "engine_kwargs",
    "heartbeat_interval",
    "grace_period",
    "skip_table_creation",
    "retry_timeout",
    "own_tables",
    "snapshot_threshold",
)


class RDBStorage(BaseStorage):
    """A storage in a relational database, shared by processes and machines.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path.db``, ``postgresql://user:pw@host/db``
    (psycopg 3; ``postgres://`` also works; several hosts for failover), ``mysql://…`` or
    ``mariadb://…`` (PyMySQL unless mysqlclient is installed). ``engine_kwargs`` go to
    :func:`sqlalchemy.create_engine`, except ``isolation_level`` (see "Connections" on the
    reference page for pooling, pings and TLS). :meth:`close` closes the pooled connections.

    The schema is Optuna 5.0's (Alembic head ``v3.2.0.a``): Optuna opens databases made here and
    the other way round. A new database gets the schema on first open, also when many
    processes open it at once. An older schema must be upgraded first with
    ``trialstore storage upgrade --storage URL``. ``skip_table_creation=True`` never changes
    the schema nor creates a SQLite file: where there is no schema it raises
    :class:`StorageNotFoundError`.

    Concurrency: safe for many threads on one object and many processes or machines on one
    database. Trial numbers are unique per study and never reused, and dense until trials
    are deleted, also against Optuna writing the same study (both lock the study row while
    numbering). Deadlocks, serialization failures,
    "database is locked" and lost connections are retried inside the storage with backoff
    (for up to ``retry_timeout`` seconds; a lost connection is re-established, also after a
    server restart). A commit cut off by a lost connection is ambiguous: creating a study or
    a trial then raises :class:`StorageInternalError` (it may have happened), finishing a
    trial or claiming a WAITING one checks whether it did (the trial carries the attempt's own
    timestamp, to the microsecond), the other writes are repeated (they are idempotent).

    Reads are incremental: this object keeps the finished trials it has read (they never
    change), so reading a study costs one query for the trials that are new or unfinished,
    which also brings the study's trial deletions made since the previous one (by any
    process): see :meth:`delete_trials`. A study's first read in a process decodes the
    study's snapshot segments (its finished trials as binary columns, in trialstore's table
    ``trialstore_trial_segments``) and reads rows only for the rest. A storage object that
    has read ``snapshot_threshold`` finished trials of a study as rows (0: never) writes a
    segment of them in a background thread; see :meth:`write_snapshot`.

    Heartbeats use the database's clock. Datetimes are stored as naive UTC and returned as naive
    local time (Optuna's convention); MySQL keeps microseconds. The object pickles (the
    copy opens its own connections), so it can be handed to child processes.

    Raises:
        ValueError: not a supported database URL, bad heartbeat settings or snapshot_threshold.
        ImportError: the database driver is not installed (the message names the package).
        StorageInternalError: the database cannot be reached (wrong password, unknown host,
            server down) or holds an old schema; the message masks the password.
        StorageNotFoundError: ``skip_table_creation=True`` and there is no schema (or no
            SQLite file).
    """

    def __init__(
        self,
        url: str,
        engine_kwargs: dict[str, Any] | None = None,
        *,
        heartbeat_interval: float | None = None,
        grace_period: float | None = None,
        skip_table_creation: bool = False,
        retry_timeout: float = 120.0,
        snapshot_threshold: int = 2_000,
    ) -> None:
        self._heartbeat_interval, self._grace_period = check.check_heartbeat_settings(
            heartbeat_interval, grace_period
        )
        self._url = _engine.normalize_url(url)
        self._engine_kwargs = dict(engine_kwargs or {})
        self._skip_table_creation = skip_table_creation
        self._retry_timeout = float(retry_timeout)
        self._snapshot_threshold = check.check_snapshot_threshold(snapshot_threshold)
        if skip_table_creation:
            _schema.check_sqlite_file(self._url)  # connecting would create the file
        self._own_tables = _schema.OWN_TABLES
        self._setup()
        try:
            create = not skip_table_creation
            found = _schema.open_schema(self._engine, self._url, create, self._retry_timeout)
            if found != self._own_tables:
                self._own_tables = found
                self._setup_statements()
        except exc.DBAPIError as e:
            self._engine.dispose()
            raise _engine.connection_error(self._url, e) from None
        except BaseException:
            self._engine.dispose()
            raise

    def _setup(self) -> None:
        self._engine = _engine.create_engine(self._url, self._engine_kwargs)
        self._dialect = self._engine.dialect.name
        if self._dialect == "mariadb":
            self._dialect = "mysql"
        #: The largest id (and trial number) the id columns hold: beyond it, none exists.
        self._max_id = max_integer(self._dialect)
        self._transactions = Transactions(
            self._engine,
            shown_url=self.url,
            retry_timeout=self._retry_timeout,
            serialize=_engine.is_sqlite_memory(self._url),
        )
        self._run = self._transactions.run
        self._setup_statements()

    def _setup_statements(self) -> None:
        """The statements (for the trialstore tables the database holds: ``_own_tables``)
        and what uses them: the cache and the trial writes."""
        self._sql = statements_for(
            self._dialect,
            deletions=DELETED_TRIALS_TABLE in self._own_tables,
            # (a create that retries longer than its token is kept takes the portable path)
            create_tokens=CREATE_TOKENS_TABLE in self._own_tables
            and self._retry_timeout <= _fast_paths.MAX_RETRY_TIMEOUT,
        )
        self._cache = StudyCache(self._transactions, self._sql, self._snapshot_threshold)
        self._writes = TrialWrites(self._sql, self._engine.dialect, self._cache)

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, "_" + name) for name in _PICKLED}
        return {**state, "url": self._url.render_as_string(hide_password=False)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in _PICKLED:
            setattr(self, "_" + name, state[name])
        self._url = sa.engine.make_url(state["url"])
        self._setup()

    def __repr__(self) -> str:
        return f"RDBStorage({_engine.masked(self._url)!r})"

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return _engine.masked(self._url)

    def close(self) -> None:
        """Close every pooled connection. The object must not be used afterwards."""
        self._engine.dispose()

    # -- ids and what this object remembers -------------------------------------------------

    def _study_key(self, study_id: Any) -> int:
        """``study_id`` as a plain int; anything else names no study (KeyError)."""
        return check.check_id(study_id, "study", max_id=self._max_id)

    def _trial_key(self, trial_id: Any) -> int:
        """``trial_id`` as a plain int; anything else names no trial (KeyError)."""
        return check.check_id(trial_id, "trial", max_id=self._max_id)

    def _study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._cache.directions_of(self._study_key(study_id))

    def _trial_and_study(self, trial_id: Any) -> tuple[int, int]:
        """(``trial_id`` as a plain int, its study's id); KeyError: no such trial."""
        trial_id = self._trial_key(trial_id)
        return trial_id, self._cache.study_of_trial(trial_id)

    @contextlib.contextmanager
    def _bad_input_for(self, trial_id: int) -> Iterator[None]:
        """Checks of a write to ``trial_id`` run inside: a ``ValueError`` they raise comes out
        only if the trial takes writes, else what a write would raise for its state."""
        try:
            yield
        except ValueError:
            self._check_updatable(trial_id)
            raise

    def _check_updatable(self, trial_id: int) -> None:
        """Raise what a write to ``trial_id`` would raise for its state (error paths only)."""
        self._run(lambda c: self._writes.raise_not_updatable(c, trial_id), mode="none")

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked = check.check_directions(directions)
        name = check.check_study_name(study_name)
        while True:
            try:
                study_id = self._run(
                    lambda c: studies.insert_study(c, name, checked),
                    mode="write",
                    idempotent=False,
                )
            except DuplicatedStudyError:
                if name is None:
                    continue  # a generated name taken: draw another
                raise
            self._cache.directions[study_id] = checked
            return study_id

    def delete_study(self, study_id: int) -> None:
        study_id = self._study_key(study_id)
        deletions = self._sql.deletions
        self._run(lambda c: studies.delete_study(c, study_id, deletions), mode="write")
        with self._cache.study_lock(study_id):  # after a sync in progress, if any
            self._cache.forget(study_id)

    def _set_study_attr(self, statement: Any, study_id: int, key: str, value: Any) -> None:
        stored = json.dumps(check.check_attr(key, value))
        params = {"study_id": self._study_key(study_id), "key": key, "value_json": stored}
        self._run(lambda c: studies.set_study_attr(c, self._sql, statement, params), mode="write")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(self._sql.upsert_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._set_study_attr(self._sql.upsert_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        if not isinstance(study_name, str):
            raise KeyError(f"No such study {study_name!r}.")
        return self._run(lambda c: studies.read_study_id(c, study_name), mode="none")

    def get_study_name_from_id(self, study_id: int) -> str:
        study_id = self._study_key(study_id)
        return self._run(lambda c: studies.read_study_name(c, study_id), mode="none")

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        study_id = self._study_key(study_id)
        self._cache.directions.pop(study_id, None)  # the study may have been deleted elsewhere
        return list(self._study_directions(study_id))

    def _get_study_attrs(self, table: sa.Table, study_id: int) -> dict[str, Any]:
        study_id = self._study_key(study_id)
        return self._run(lambda c: studies.read_study_attrs(c, table, study_id), mode="none")

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_user_attributes, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_system_attributes, study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return studies.build_studies(self._run(studies.read_all_studies, mode="read"))

    # -- creating trials --------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        template = None if template_trial is None else check.check_template(template_trial)
        study_id = self._study_key(study_id)
        n_objectives = len(self._study_directions(study_id))
        if template is not None:
            self._cache.check_template(study_id, template, n_objectives)
        trial_id, number = create_trial(
            self._transactions, self._writes, self._sql, self._engine.dialect, study_id, template
        )
        self._cache.note_created(study_id, trial_id, number)
        if template is not None:
            for name, dist in template.distributions.items():
                self._cache.remember_distribution(study_id, name, dist)
        return trial_id

    def create_trial_or_list_waiting(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int | list[int]:
        """See :meth:`BaseStorage.create_trial_or_list_waiting`; in one transaction on
        PostgreSQL, MariaDB and SQLite (see :mod:`_create_or_list`)."""
        check.check_running_template(template_trial)
        template = None if template_trial is None else check.check_template(template_trial)
        path = fast_path(self._sql, self._engine.dialect, template)
        if path is not None:
            key = self._study_key(study_id)
            found = create_or_list_waiting(self._transactions, self._cache, key, template, path)
            if found is not None:
                return found
        return super().create_trial_or_list_waiting(study_id, template)

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        """Delete the trials, all or nothing, in one write transaction under the study row's
        lock (see :meth:`BaseStorage.delete_trials`). The trials' rows stay (Optuna counts
        and shows them; unfinished ones become FAIL); trialstore's table
        ``trialstore_deleted_trials`` records the deletion, which every trialstore reader,
        in any process, learns of with its next read of the study.

        Raises:
            StorageInternalError: also when the database lacks that table (made by Optuna
                or an older trialstore, and opened with ``skip_table_creation=True``).
        """
        checked = check.check_trial_ids(trial_ids)
        study_id = self._study_key(study_id)
        ids = [self._trial_key(trial_id) for trial_id in checked]
        if not self._sql.deletions:
            raise _deletions.missing_table(self.url)
        now = _codec.to_stored_datetime(datetime.datetime.now())
        self._run(_deletions.delete_trials(self._sql, study_id, ids, now), mode="write")
        self._cache.discard(ids)

    # -- trial writes -----------------------------------------------------------------------

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        trial_id, study_id = self._trial_and_study(trial_id)
        params = {
            "tid": trial_id,
            "param_name": name,
            "param_value": internal,
            "distribution_json": distribution_to_json(distribution),
        }
        writes = [(self._sql.upsert_param, params)]
        holds = holds_params([(name, internal, distribution)])
        known = self._cache.distributions.get(study_id, {}).get(name)
        if known is None:  # a name new to this object: checked in the transaction
            new_names = (study_id, [(name, distribution)])
            self._run(self._writes.upserts(trial_id, writes, holds, new_names), mode="write")
            self._cache.remember_distribution(study_id, name, distribution)
            return
        with self._bad_input_for(trial_id):
            check.check_distribution_against(name, known, distribution)
        self._run(self._writes.upserts(trial_id, writes, holds), mode="none")

    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, BaseDistribution]]
    ) -> None:
        """Set several parameters at once, all or nothing, in one transaction.

        When this object already knows the study's distribution of every name (from earlier
        writes or reads), the whole batch is one statement (PostgreSQL always; MySQL and
        SQLite up to ``MAX_PARAMS_PER_STATEMENT`` parameters, else one statement per so many,
        in one transaction), in autocommit: no BEGIN/COMMIT round trips. Otherwise the
        transaction first locks the study row and reads the distributions it does not know,
        as :meth:`set_trial_param` does for a name new to this process.
        """
        checked = check.check_params(params)
        if not checked:
            self._check_updatable(self._trial_key(trial_id))
            return
        trial_id, study_id = self._trial_and_study(trial_id)
        known = self._cache.distributions.get(study_id, {})
        with self._bad_input_for(trial_id):
            for name, _, distribution in checked:
                check.check_distribution_against(name, known.get(name), distribution)
        writes = self._writes.param_upserts(trial_id, checked)
        holds = holds_params(checked)
        unknown = [(name, d) for name, _, d in checked if known.get(name) is None]
        if unknown:
            body = self._writes.upserts(trial_id, writes, holds, (study_id, unknown))
            self._run(body, mode="write")
        else:
            body = self._writes.upserts(trial_id, writes, holds)
            self._run(body, mode="none" if len(writes) == 1 else "write")
        for name, _, distribution in checked:
            self._cache.remember_distribution(study_id, name, distribution)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        state, checked_values = check.check_state_values(state, values)
        trial_id, study_id = self._trial_and_study(trial_id)
        with self._bad_input_for(trial_id):
            check.check_values_count(checked_values, len(self._study_directions(study_id)))
        now = _codec.to_stored_datetime(datetime.datetime.now())
        body = self._writes.state_values(trial_id, state, checked_values, now)
        # PostgreSQL and MariaDB finish in one statement (no BEGIN/COMMIT round trips); the
        # others in a transaction of an UPDATE and the values' upsert.
        single = state == TrialState.RUNNING or self._writes.finishes_in_one_statement
        return self._run(body, mode="none" if single else "write")

    def set_trial_params_and_state_values(
        self,
        trial_id: int,
        params: Mapping[str, tuple[float, BaseDistribution]],
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> bool:
        """Finishing a trial with a batch of names this object already knows the study's
        distributions of: on PostgreSQL and MariaDB (through PyMySQL) one statement, so one
        round trip and one commit instead of two; on MySQL and SQLite one transaction (the
        parameters' upserts, then the finish), so one commit instead of two. Otherwise the
        two calls."""
        checked = check.check_params(params)
        state, checked_values = check.check_state_values(state, values)
        if not checked or state == TrialState.RUNNING:
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        trial_id, study_id = self._trial_and_study(trial_id)
        known = self._cache.distributions.get(study_id, {})
        if any(known.get(name) is None for name, _, _ in checked):
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        with self._bad_input_for(trial_id):
            for name, _, distribution in checked:
                check.check_distribution_against(name, known[name], distribution)
            check.check_values_count(checked_values, len(self._study_directions(study_id)))
        now = _codec.to_stored_datetime(datetime.datetime.now())
        body = self._writes.params_then_finish(trial_id, checked, state, checked_values, now)
        return self._run(body, mode="none" if self._writes.finishes_in_one_statement else "write")

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        trial_id, _ = self._trial_and_study(trial_id)
        stored, value_type = _codec.to_stored_intermediate(value)
        params = {
            "tid": trial_id,
            "step": checked_step,
            "intermediate_value": stored,
            "intermediate_value_type": value_type,
        }
        writes = [(self._sql.upsert_intermediate, params)]
        holds = holds_intermediate_value(checked_step, value)
        self._run(self._writes.upserts(trial_id, writes, holds), mode="none")

    def _set_trial_attr(
        self, statement: Any, user: bool, trial_id: int, key: str, value: Any
    ) -> None:
        text = json.dumps(check.check_attr(key, value))
        trial_id, _ = self._trial_and_study(trial_id)
        writes = [(statement, {"tid": trial_id, "key": key, "value_json": text})]
        holds = holds_attr(user, key, json.loads(text))  # as it reads back: tuples are lists
        self._run(self._writes.upserts(trial_id, writes, holds), mode="none")

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(self._sql.upsert_user_attr, True, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        self._set_trial_attr(self._sql.upsert_system_attr, False, trial_id, key, value)

    # -- trial reads ------------------------------------------------------------------------

    def get_trial(self, trial_id: int) -> FrozenTrial:
        """See :meth:`BaseStorage.get_trial`. A finished trial this object holds costs one
        light statement (was it deleted?) instead of a read of all it holds."""
        trial_id = self._trial_key(trial_id)
        trial = self._cache.finished_trial(trial_id)
        if trial is not None:
            if self._sql.deletions:
                self._trial_state(trial_id)  # KeyError, TrialDeletedError
            return copy_trial(trial)
        try:
            return self._run(
                lambda c: _read.read_trial(c, self._sql.read_one, trial_id), mode="none"
            )
        except TrialDeletedError:
            self._cache.discard([trial_id])
            raise

    def _trial_state(self, trial_id: int) -> tuple[str, int]:
        """The trial's state (its name) and number, by one statement.

        Raises:
            KeyError: no such trial.
            TrialDeletedError: the trial was deleted (this object forgets it).
        """
        statement = self._sql.trial_state
        row = self._run(lambda c: _read.trial_state(c, statement, trial_id), mode="none")
        if row[2]:
            self._cache.discard([trial_id])
            raise _read.deleted_trial(trial_id, row[1])
        return row[0], row[1]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        study_id = self._study_key(study_id)
        if only_waiting(states) and not self._cache.may_have_waiting(study_id):
            return []
        with self._cache.fresh_view(study_id) as view:
            selected = view.select(states)
        return [copy_trial(t) for t in selected] if deepcopy else selected

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        study_id = self._study_key(study_id)
        states = (state,) if isinstance(state, TrialState) else state
        with self._cache.fresh_view(study_id) as view:
            return len(view.select(states))

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        """See :meth:`BaseStorage.get_trial_id_from_study_id_trial_number`: one statement
        (the trial held by this object may have been deleted since; without the table of
        deleted trials, a trial held costs none)."""
        study_id = self._study_key(study_id)
        if not self._sql.deletions:
            cached = self._cache.trial_id_of(study_id, trial_number)
            if cached is not None:
                return cached
        number = check.check_trial_number(trial_number, study_id)
        if number > self._max_id:
            raise check.missing_trial_number(trial_number, study_id)
        by_number = self._sql.trial_by_number
        return self._run(
            lambda c: _read.read_trial_id(c, by_number, study_id, number), mode="none"
        )

    def get_trial_number_from_id(self, trial_id: int) -> int:
        """See :meth:`BaseStorage.get_trial_number_from_id`. A trial this object created
        lately costs no round trip: it is answered from memory until this object learns that
        the trial was deleted (its next read of the study, or of the trial)."""
        trial_id = self._trial_key(trial_id)
        number = self._cache.number_of(trial_id)
        if number is not None:
            return number
        return self._trial_state(trial_id)[1]

    # -- heartbeats -------------------------------------------------------------------------

    def get_heartbeat_interval(self) -> float | None:
        return self._heartbeat_interval

    def get_grace_period(self) -> float | None:
        return self._grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        """Record the database's current time as the heartbeat of a RUNNING trial; a WAITING
        trial is left alone (it has no worker yet)."""
        trial_id = self._trial_key(trial_id)
        not_updatable = self._writes.raise_not_updatable
        self._run(
            lambda c: _heartbeats.record_heartbeat(c, self._sql, trial_id, not_updatable),
            mode="none",
        )

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace_period = self._grace_period
        study_id = self._study_key(study_id)
        if grace_period is None:
            self.get_study_directions(study_id)  # KeyError for a missing study
            return []
        return _heartbeats.stale_trial_ids(
            self._transactions, self._cache, self._sql, study_id, grace_period
        )

    def write_snapshot(self, study_id: int | None = None) -> int:
        """Write a snapshot segment of the study's (None: every study's) finished trials that
        no segment holds yet, and merge small segments; return how many trials it holds (0:
        none, or the database has no table of segments). KeyError: no such study."""
        return self._cache.segments.write_all(
            None if study_id is None else self._study_key(study_id)
        )

    # -- schema -----------------------------------------------------------------------------

    def upgrade(self) -> tuple[str | None, str]:
        """Upgrade the schema to the current head; return (old, new) Alembic revisions."""
        return _schema.upgrade_schema(self._engine)
