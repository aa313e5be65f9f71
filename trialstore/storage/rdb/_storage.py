"""RDBStorage: studies and trials in SQLite, PostgreSQL or MySQL/MariaDB."""

from __future__ import annotations

import datetime
import json
import logging
import math
import uuid
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState, copy_trial
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution, distribution_to_json
from trialstore.exceptions import (
    DuplicatedStudyError,
    StorageInternalError,
    UpdateFinishedTrialError,
)
from trialstore.storage import validation as check
from trialstore.storage.base import BaseStorage
from trialstore.storage.rdb import _codec, _engine, _fast_paths, _read, _schema
from trialstore.storage.rdb._cache import StudyCache, only_waiting
from trialstore.storage.rdb._dml import (
    MAX_PARAMS_PER_STATEMENT,
    PG_UPSERT_PARAMS,
    pg_finish_with_values,
    pg_params_then_finish,
    statements_for,
    upsert_params,
)
from trialstore.storage.rdb._tables import (
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
from trialstore.storage.rdb._transactions import (
    Runs,
    Transactions,
    retry_conflicts,
)

__all__ = ["RDBStorage"]

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")


def _holds_params(
    checked: Sequence[tuple[str, float, BaseDistribution]],
) -> Callable[[FrozenTrial], bool]:
    """Whether a trial holds each of ``checked`` (name, internal value, distribution)."""

    def holds(trial: FrozenTrial) -> bool:
        for name, internal, distribution in checked:
            if name not in trial.params or trial.distributions.get(name) != distribution:
                return False
            if distribution.to_internal_repr(trial.params[name]) != internal:
                return False
        return True

    return holds


def _study_key(study_id: Any) -> int:
    """Return ``study_id`` as a plain int; anything else names no study (KeyError)."""
    return check.check_id(study_id, "study")


def _trial_key(trial_id: Any) -> int:
    """Return ``trial_id`` as a plain int; anything else names no trial (KeyError)."""
    return check.check_id(trial_id, "trial")


class RDBStorage(BaseStorage):
    """A storage in a relational database, shared by processes and machines.

    ``url`` is a SQLAlchemy URL: ``sqlite:///path.db``, ``postgresql://user:pw@host/db``
    (psycopg 3; ``postgres://`` also works), ``mysql://user:pw@host/db`` or
    ``mariadb://…`` (PyMySQL unless mysqlclient is installed). ``engine_kwargs`` go to
    :func:`sqlalchemy.create_engine` (except ``isolation_level``: trialstore runs the driver
    in autocommit mode and begins its transactions itself). Pooled connections that were idle
    for more than a second are pinged before use and replaced if the server dropped them;
    ``engine_kwargs={"pool_pre_ping": True}`` pings every time. :meth:`close` closes them all.
    PyMySQL connections to this machine (a loopback address, ``localhost`` or a socket) turn
    TLS off unless ``connect_args`` or the URL set an ``ssl*`` option: there it protects
    nothing, and PyMySQL would build a TLS context for each connection.

    The schema is Optuna 5.0's (Alembic head ``v3.2.0.a``): Optuna opens databases made here and
    the other way round. A new database gets the schema on first open, also when many
    processes open it at once. An older schema must be upgraded first with
    ``trialstore storage upgrade --storage URL``. ``skip_table_creation=True`` never changes
    the schema nor creates a SQLite file: where there is no schema it raises
    :class:`StorageNotFoundError`.

    Concurrency: safe for many threads on one object and many processes or machines on one
    database. Trial numbers are unique and dense per study, also against Optuna writing the
    same study (both lock the study row while numbering). Deadlocks, serialization failures,
    "database is locked" and lost connections are retried inside the storage with backoff
    (for up to ``retry_timeout`` seconds); an operation whose commit was cut off by a lost
    connection is retried only when repeating it is harmless, otherwise it raises
    :class:`StorageInternalError` saying the outcome is unknown.

    A lost connection is re-established (after a server restart, every operation retries
    until ``retry_timeout``); a commit cut off by the loss is ambiguous: creating a study or
    a trial then raises :class:`StorageInternalError` (it may have happened), finishing a
    trial or claiming a WAITING one checks whether it did (the trial carries the attempt's own
    timestamp, to the microsecond), the other writes are repeated (they are idempotent).

    Reads are incremental: this object keeps the finished trials it has read (they never
    change), so reading a study costs one query for the trials that are new or unfinished.

    Heartbeats use the database's clock. Datetimes are stored as naive UTC and returned as naive
    local time (Optuna's convention); MySQL keeps microseconds. The object pickles (the
    copy opens its own connections), so it can be handed to child processes.

    Raises:
        ValueError: the URL is not a supported database URL, or bad heartbeat settings.
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
    ) -> None:
        self._heartbeat_interval, self._grace_period = check.check_heartbeat_settings(
            heartbeat_interval, grace_period
        )
        self._url = _engine.normalize_url(url)
        self._engine_kwargs = dict(engine_kwargs or {})
        self._skip_table_creation = skip_table_creation
        self._retry_timeout = float(retry_timeout)
        if skip_table_creation:
            _schema.check_sqlite_file(self._url)  # connecting would create the file
        self._setup()
        try:
            self._ensure_schema()
        except exc.DBAPIError as e:
            self._engine.dispose()
            raise _engine.connection_error(self._url, e) from None
        except BaseException:
            self._engine.dispose()
            raise

    def _ensure_schema(self) -> None:
        """Create or check the schema. A lock conflict with other processes opening the same
        database (SQLite's "database is locked" while another one switches the file to WAL or
        creates the tables; a deadlock) is retried with backoff for up to ``retry_timeout``
        seconds; other errors are raised at once."""
        retry_conflicts(
            lambda: _schema.ensure_schema(self._engine, create=not self._skip_table_creation),
            self._retry_timeout,
        )

    def _setup(self) -> None:
        self._engine = _engine.create_engine(self._url, self._engine_kwargs)
        self._dialect = self._engine.dialect.name
        if self._dialect == "mariadb":
            self._dialect = "mysql"
        self._sql = statements_for(self._dialect)
        self._transactions = Transactions(
            self._engine,
            shown_url=self.url,
            retry_timeout=self._retry_timeout,
            serialize=_engine.is_sqlite_memory(self._url),
        )
        self._run = self._transactions.run
        self._cache = StudyCache(self._transactions, self._sql)

    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self._url.render_as_string(hide_password=False),
            "engine_kwargs": self._engine_kwargs,
            "heartbeat_interval": self._heartbeat_interval,
            "grace_period": self._grace_period,
            "skip_table_creation": self._skip_table_creation,
            "retry_timeout": self._retry_timeout,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._url = sa.engine.make_url(state["url"])
        self._engine_kwargs = state["engine_kwargs"]
        self._heartbeat_interval = state["heartbeat_interval"]
        self._grace_period = state["grace_period"]
        self._skip_table_creation = state["skip_table_creation"]
        self._retry_timeout = state["retry_timeout"]
        self._setup()

    def __repr__(self) -> str:
        return f"RDBStorage({_engine.masked(self._url)!r})"

    @property
    def url(self) -> str:
        """The database URL with the password masked."""
        return _engine.masked(self._url)

    # -- transactions -----------------------------------------------------------------------

    # -- helpers ----------------------------------------------------------------------------

    def _study_directions(self, study_id: int) -> list[StudyDirection]:
        _study_key(study_id)
        directions = self._cache.directions.get(study_id)
        if directions is not None:
            return directions
        rows = self._run(
            lambda c: c.execute(
                sa.select(study_directions.c.objective, study_directions.c.direction).where(
                    study_directions.c.study_id == study_id
                )
            ).all(),
            mode="none",
        )
        if not rows:
            raise KeyError(f"No study with id {study_id!r}.")
        directions = [_codec.DIRECTION_BY_NAME[d] for _, d in sorted(rows)]
        self._cache.directions[study_id] = directions
        return directions

    def _study_of_trial(self, trial_id: int) -> int:
        _trial_key(trial_id)
        study_id = self._cache.trial_study.get(trial_id)
        if study_id is not None:
            return study_id
        if isinstance(trial_id, bool) or not isinstance(trial_id, int):
            raise KeyError(f"No trial with id {trial_id!r}.")
        found = self._run(
            lambda c: c.execute(self._sql.study_of_trial, {"tid": trial_id}).scalar(),
            mode="none",
        )
        if found is None:
            raise KeyError(f"No trial with id {trial_id!r}.")
        self._cache.trial_study[trial_id] = found
        return int(found)

    def _raise_not_updatable(self, connection: sa.Connection, trial_id: int) -> None:
        """Raise KeyError or UpdateFinishedTrialError for the trial's current state (returns
        if it is unfinished). The state is read with a locking read: inside a MySQL/MariaDB
        transaction a plain read would see the transaction's snapshot, which may predate the
        finish that made a write find nothing to update."""
        row = connection.execute(self._sql.trial_state_current, {"tid": trial_id}).first()
        if row is None:
            raise KeyError(f"No trial with id {trial_id!r}.")
        if _codec.STATE_BY_NAME[row[0]].is_finished():
            raise UpdateFinishedTrialError(
                f"Trial#{row[1]} has already finished and can not be updated."
            )

    def _check_updatable(self, trial_id: int) -> None:
        """Raise what a write to ``trial_id`` would raise for its state (error paths only)."""
        self._run(lambda c: self._raise_not_updatable(c, trial_id), mode="none")

    def _known_distribution(
        self, connection: sa.Connection, study_id: int, name: str
    ) -> BaseDistribution | None:
        cached = self._cache.distributions.get(study_id, {}).get(name)
        if cached is not None:
            return cached
        text = connection.execute(
            self._sql.known_distribution, {"study_id": study_id, "name": name}
        ).scalar()
        return None if text is None else _codec.parse_distribution(text)

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked = check.check_directions(directions)
        name = check.check_study_name(study_name)
        generated = name is None

        def body(connection: sa.Connection) -> int:
            study_name = name if name is not None else f"no-name-{uuid.uuid4()}"
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
                    for i, d in enumerate(checked)
                ],
            )
            return study_id

        while True:
            try:
                study_id = self._run(body, mode="write", idempotent=False)
            except DuplicatedStudyError:
                if generated:
                    continue
                raise
            self._cache.directions[study_id] = checked
            return study_id

    def delete_study(self, study_id: int) -> None:
        _study_key(study_id)

        def body(connection: sa.Connection) -> None:
            found = connection.execute(
                sa.select(studies.c.study_id)
                .where(studies.c.study_id == study_id)
                .with_for_update()
            ).scalar()
            if found is None:
                raise KeyError(f"No study with id {study_id!r}.")
            trial_ids = sa.select(trials.c.trial_id).where(trials.c.study_id == study_id)
            for table in (
                trial_params,
                trial_values,
                trial_intermediate_values,
                trial_user_attributes,
                trial_system_attributes,
                trial_heartbeats,
            ):
                connection.execute(table.delete().where(table.c.trial_id.in_(trial_ids)))
            connection.execute(trials.delete().where(trials.c.study_id == study_id))
            for table in (study_user_attributes, study_system_attributes, study_directions):
                connection.execute(table.delete().where(table.c.study_id == study_id))
            connection.execute(studies.delete().where(studies.c.study_id == study_id))

        self._run(body, mode="write")
        with self._cache.study_lock(study_id):  # after a sync in progress, if any
            self._cache.forget(study_id)

    def _set_study_attr(self, statement: Any, study_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        _study_key(study_id)
        params = {"study_id": study_id, "key": key, "value_json": json.dumps(stored)}

        def body(connection: sa.Connection) -> None:
            exists = connection.execute(self._sql.study_exists, {"study_id": study_id}).scalar()
            if exists is None:
                raise KeyError(f"No study with id {study_id!r}.")
            connection.execute(statement, params)

        self._run(body, mode="write")

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(self._sql.upsert_study_user_attr, study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._set_study_attr(self._sql.upsert_study_system_attr, study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        if not isinstance(study_name, str):
            raise KeyError(f"No such study {study_name!r}.")
        found = self._run(
            lambda c: c.execute(
                sa.select(studies.c.study_id).where(studies.c.study_name == study_name)
            ).scalar(),
            mode="none",
        )
        if found is None:
            raise KeyError(f"No such study {study_name!r}.")
        return int(found)

    def get_study_name_from_id(self, study_id: int) -> str:
        _study_key(study_id)
        found = self._run(
            lambda c: c.execute(
                sa.select(studies.c.study_name).where(studies.c.study_id == study_id)
            ).scalar(),
            mode="none",
        )
        if found is None:
            raise KeyError(f"No study with id {study_id!r}.")
        return str(found)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        self._cache.directions.pop(study_id, None)  # the study may have been deleted elsewhere
        return list(self._study_directions(study_id))

    def _get_study_attrs(self, table: sa.Table, study_id: int) -> dict[str, Any]:
        _study_key(study_id)

        def body(connection: sa.Connection) -> list[Any]:
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
                    raise KeyError(f"No study with id {study_id!r}.")
            return list(rows)

        return {key: json.loads(text) for key, text in self._run(body, mode="none")}

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_user_attributes, study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._get_study_attrs(study_system_attributes, study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        def body(connection: sa.Connection) -> tuple[Sequence[Any], ...]:
            return (
                connection.execute(
                    sa.select(studies.c.study_id, studies.c.study_name).order_by(
                        studies.c.study_id
                    )
                ).all(),
                connection.execute(
                    sa.select(
                        study_directions.c.study_id,
                        study_directions.c.objective,
                        study_directions.c.direction,
                    )
                ).all(),
                connection.execute(
                    sa.select(
                        study_user_attributes.c.study_id,
                        study_user_attributes.c.key,
                        study_user_attributes.c.value_json,
                    ).order_by(study_user_attributes.c.study_user_attribute_id)
                ).all(),
                connection.execute(
                    sa.select(
                        study_system_attributes.c.study_id,
                        study_system_attributes.c.key,
                        study_system_attributes.c.value_json,
                    ).order_by(study_system_attributes.c.study_system_attribute_id)
                ).all(),
            )

        study_rows, direction_rows, user_rows, system_rows = self._run(body, mode="read")
        directions: dict[int, dict[int, StudyDirection]] = {}
        for study_id, objective, direction in direction_rows:
            directions.setdefault(study_id, {})[objective] = _codec.DIRECTION_BY_NAME[direction]
        user: dict[int, dict[str, Any]] = {}
        for study_id, key, text in user_rows:
            user.setdefault(study_id, {})[key] = json.loads(text)
        system: dict[int, dict[str, Any]] = {}
        for study_id, key, text in system_rows:
            system.setdefault(study_id, {})[key] = json.loads(text)
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

    # -- trials -----------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        template = None if template_trial is None else check.check_template(template_trial)
        n_objectives = len(self._study_directions(study_id))
        if template is not None:
            try:
                check.check_values_count(template.values, n_objectives)
                known = self._cache.distributions.get(study_id, {})
                for name, dist in template.distributions.items():
                    check.check_distribution_against(name, known.get(name), dist)
            except ValueError:
                self.get_study_directions(study_id)  # KeyError if deleted meanwhile
                raise
        sql = self._sql

        def body(connection: sa.Connection) -> tuple[int, int]:
            locked = connection.execute(sql.lock_study, {"study_id": study_id}).scalar()
            if locked is None:
                raise KeyError(f"No study with id {study_id!r}.")
            if template is not None:
                for name, dist in template.distributions.items():
                    check.check_distribution_against(
                        name, self._known_distribution(connection, study_id, name), dist
                    )
            last = connection.execute(sql.max_number, {"study_id": study_id}).scalar()
            number = 0 if last is None else int(last) + 1
            if template is None:
                row = {
                    "number": number,
                    "study_id": study_id,
                    "state": "RUNNING",
                    "datetime_start": _codec.to_stored_datetime(datetime.datetime.now()),
                    "datetime_complete": None,
                }
            else:
                row = {
                    "number": number,
                    "study_id": study_id,
                    "state": template.state.name,
                    "datetime_start": _codec.to_stored_datetime(template.datetime_start),
                    "datetime_complete": _codec.to_stored_datetime(template.datetime_complete),
                }
            result = connection.execute(sql.insert_trial, row)
            trial_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            if template is not None:
                self._insert_template_rows(connection, trial_id, template)
            return trial_id, number

        if _fast_paths.pg_creates(self._dialect, template):
            rows = self._run(
                lambda c: _fast_paths.pg_create_trial(c, study_id, template),
                mode="none",
                idempotent=False,
            )
            trial_id, number = int(rows[0][0]), int(rows[0][1])
        else:
            trial_id, number = self._run(body, mode="write", idempotent=False)
        self._cache.note_created(study_id, trial_id, number)
        if template is not None:
            for name, dist in template.distributions.items():
                self._cache.remember_distribution(study_id, name, dist)
        return trial_id

    def create_trial_or_list_waiting(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int | list[int]:
        """See :meth:`BaseStorage.create_trial_or_list_waiting`. On PostgreSQL (with a
        template that only sets system attributes, or none) and on MariaDB (with no template):
        one transaction of two round trips, which lists the trials that may be WAITING (as
        :meth:`StudyCache.may_have_waiting` does) and creates the trial unless one is."""
        check.check_running_template(template_trial)
        template = None if template_trial is None else check.check_template(template_trial)
        pg = _fast_paths.pg_creates(self._dialect, template)
        mariadb = template is None and _fast_paths.mariadb_with_pymysql(self._engine.dialect)
        if not (pg or mariadb):
            return super().create_trial_or_list_waiting(study_id, template)
        _study_key(study_id)
        # No study lock of this process: the database's lock on the study row orders the
        # creates, and concurrent probes may be noted in any order (see
        # StudyCache.note_probe).
        probe = self._cache.probe(study_id)

        def body(connection: sa.Connection) -> list[tuple[Any, ...]]:
            if pg:
                return _fast_paths.pg_create_trial(connection, study_id, template, probe)
            return _fast_paths.mariadb_create_trial(connection, study_id, probe)

        try:
            rows = self._run(body, mode="none", idempotent=False)
        except KeyError:
            self._cache.forget(study_id)
            raise
        created = [(int(r[0]), int(r[1])) for r in rows if r[3]]
        seen = [(int(r[0]), int(r[1]), r[2]) for r in rows]
        self._cache.note_probe(study_id, probe[0], [(tid, state) for tid, _, state in seen])
        if created:
            trial_id, number = created[0]
            self._cache.note_created(study_id, trial_id, number)
            return trial_id
        return [tid for _, tid in sorted((n, tid) for tid, n, state in seen if state == "WAITING")]

    def _insert_template_rows(
        self, connection: sa.Connection, trial_id: int, template: FrozenTrial
    ) -> None:
        if template.values is not None:
            rows = []
            for objective, value in enumerate(template.values):
                stored, value_type = _codec.to_stored_value(value)
                rows.append(
                    {
                        "trial_id": trial_id,
                        "objective": objective,
                        "value": stored,
                        "value_type": value_type,
                    }
                )
            connection.execute(trial_values.insert(), rows)
        if template.params:
            connection.execute(
                trial_params.insert(),
                [
                    {
                        "trial_id": trial_id,
                        "param_name": name,
                        "param_value": dist.to_internal_repr(template.params[name]),
                        "distribution_json": distribution_to_json(dist),
                    }
                    for name, dist in template.distributions.items()
                ],
            )
        for table, attrs in (
            (trial_user_attributes, template.user_attrs),
            (trial_system_attributes, template.system_attrs),
        ):
            if attrs:
                connection.execute(
                    table.insert(),
                    [
                        {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                        for key, value in attrs.items()
                    ],
                )
        if template.intermediate_values:
            rows = []
            for step, value in template.intermediate_values.items():
                stored, value_type = _codec.to_stored_intermediate(value)
                rows.append(
                    {
                        "trial_id": trial_id,
                        "step": step,
                        "intermediate_value": stored,
                        "intermediate_value_type": value_type,
                    }
                )
            connection.execute(trial_intermediate_values.insert(), rows)

    def _write_unfinished(
        self,
        trial_id: int,
        statement: Any,
        params: dict[str, Any],
        holds: Callable[[FrozenTrial], bool],
    ) -> None:
        """Run one upsert into an unfinished trial (``holds``: whether a trial holds what it
        writes, see :meth:`_stored_by_an_earlier_attempt`)."""
        params["tid"] = trial_id
        runs = Runs()

        def body(connection: sa.Connection) -> None:
            again = runs.start()
            if connection.execute(statement, params).rowcount == 0:
                if again and self._stored_by_an_earlier_attempt(connection, trial_id, holds):
                    return
                self._raise_not_updatable(connection, trial_id)
                raise StorageInternalError(f"trial {trial_id} could not be updated.")

        self._run(body, mode="none")

    def _stored_by_an_earlier_attempt(
        self, connection: sa.Connection, trial_id: int, holds: Callable[[FrozenTrial], bool]
    ) -> bool:
        """A retried write found the trial not updatable: whether an earlier attempt, whose
        connection was lost before its reply, stored the write before the trial finished
        (the finished trial ``holds`` it). Then the write succeeded and must not raise
        UpdateFinishedTrialError, which promises that nothing was written (found by the
        MariaDB stress run: an intermediate value cut off by a server restart was stored, the
        trial was then reaped, and the retry reported the write as failed)."""
        _, found = _read.build_trials(
            _read.raw_rows(connection.execute(self._sql.read_one, {"tid": trial_id}))
        )
        return bool(found) and found[0].state.is_finished() and holds(found[0])

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        study_id = self._study_of_trial(trial_id)
        statement = self._sql.upsert_param
        params = {
            "tid": trial_id,
            "param_name": name,
            "param_value": internal,
            "distribution_json": distribution_to_json(distribution),
        }
        holds = _holds_params([(name, internal, distribution)])
        known = self._cache.distributions.get(study_id, {}).get(name)
        if known is not None:
            try:
                check.check_distribution_against(name, known, distribution)
            except ValueError:
                self._check_updatable(trial_id)
                raise
            self._write_unfinished(trial_id, statement, params, holds)
            return
        sql = self._sql
        runs = Runs()

        def body(connection: sa.Connection) -> None:
            # A name new to this process: serialize with other first users of the name.
            again = runs.start()
            if connection.execute(sql.lock_study, {"study_id": study_id}).scalar() is None:
                raise KeyError(f"No trial with id {trial_id!r}.")
            previous = self._known_distribution(connection, study_id, name)
            try:
                check.check_distribution_against(name, previous, distribution)
            except ValueError:
                self._raise_not_updatable(connection, trial_id)
                raise
            if connection.execute(statement, params).rowcount == 0:
                if again and self._stored_by_an_earlier_attempt(connection, trial_id, holds):
                    return
                self._raise_not_updatable(connection, trial_id)
                raise StorageInternalError(f"trial {trial_id} could not be updated.")

        self._run(body, mode="write")
        self._cache.remember_distribution(study_id, name, distribution)

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
            _trial_key(trial_id)
            self._check_updatable(trial_id)
            return
        study_id = self._study_of_trial(trial_id)
        known = self._cache.distributions.get(study_id, {})
        try:
            for name, _, distribution in checked:
                check.check_distribution_against(name, known.get(name), distribution)
        except ValueError:
            self._check_updatable(trial_id)
            raise
        unknown = [(name, d) for name, _, d in checked if known.get(name) is None]
        writes = self._param_upserts(trial_id, checked)
        sql = self._sql
        holds = _holds_params(checked)
        runs = Runs()

        def upsert(connection: sa.Connection) -> None:
            again = runs.start()
            for statement, values in writes:
                if isinstance(statement, str):
                    result = connection.exec_driver_sql(statement, values)
                else:
                    result = connection.execute(statement, values)
                if result.rowcount == 0:
                    if again and self._stored_by_an_earlier_attempt(connection, trial_id, holds):
                        return
                    self._raise_not_updatable(connection, trial_id)
                    raise StorageInternalError(f"trial {trial_id} could not be updated.")

        def body(connection: sa.Connection) -> None:
            # Names new to this process: serialize with other first users of the names.
            if connection.execute(sql.lock_study, {"study_id": study_id}).scalar() is None:
                raise KeyError(f"No trial with id {trial_id!r}.")
            try:
                for name, distribution in unknown:
                    previous = self._known_distribution(connection, study_id, name)
                    check.check_distribution_against(name, previous, distribution)
            except ValueError:
                self._raise_not_updatable(connection, trial_id)
                raise
            upsert(connection)

        if unknown:
            self._run(body, mode="write")
        else:
            self._run(upsert, mode="none" if len(writes) == 1 else "write")
        for name, _, distribution in checked:
            self._cache.remember_distribution(study_id, name, distribution)

    def _param_upserts(
        self, trial_id: int, checked: list[tuple[str, float, BaseDistribution]]
    ) -> list[tuple[Any, dict[str, Any]]]:
        """The statements (a driver-level SQL string on PostgreSQL, else a SQLAlchemy
        statement) and their parameters that upsert ``checked`` into the trial, in order."""
        if self._dialect == "postgresql":
            values = {
                "tid": trial_id,
                "names": [name for name, _, _ in checked],
                "values": [internal for _, internal, _ in checked],
                "dists": [distribution_to_json(d) for _, _, d in checked],
            }
            return [(PG_UPSERT_PARAMS, values)]
        writes = []
        for start in range(0, len(checked), MAX_PARAMS_PER_STATEMENT):
            chunk = checked[start : start + MAX_PARAMS_PER_STATEMENT]
            bound: dict[str, Any] = {"tid": trial_id}
            for i, (name, internal, distribution) in enumerate(chunk):
                bound[f"n{i}"] = name
                bound[f"v{i}"] = internal
                bound[f"d{i}"] = distribution_to_json(distribution)
            writes.append((upsert_params(self._dialect, len(chunk)), bound))
        return writes

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        _study_key(study_id)
        cached = self._cache.trial_id_of(study_id, trial_number)
        if cached is not None:
            return cached

        def body(connection: sa.Connection) -> Any:
            found = connection.execute(
                sa.select(trials.c.trial_id).where(
                    trials.c.study_id == study_id, trials.c.number == trial_number
                )
            ).scalar()
            if found is None:
                exists = connection.execute(
                    sa.select(studies.c.study_id).where(studies.c.study_id == study_id)
                ).scalar()
                if exists is None:
                    raise KeyError(f"No study with id {study_id!r}.")
                raise KeyError(f"No trial with number {trial_number!r} in study {study_id}.")
            return found

        if isinstance(trial_number, bool) or not isinstance(trial_number, int):
            raise KeyError(f"No trial with number {trial_number!r} in study {study_id}.")
        return int(self._run(body, mode="none"))

    def get_trial_number_from_id(self, trial_id: int) -> int:
        _trial_key(trial_id)
        number = self._cache.number_of(trial_id)
        if number is not None:
            return number
        row = self._run(
            lambda c: c.execute(self._sql.trial_state, {"tid": trial_id}).first(), mode="none"
        )
        if row is None:  # deleting a study deletes its trials' rows
            raise KeyError(f"No trial with id {trial_id!r}.")
        return int(row[1])

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        state, checked_values = check.check_state_values(state, values)
        study_id = self._study_of_trial(trial_id)
        try:
            check.check_values_count(checked_values, len(self._study_directions(study_id)))
        except ValueError:
            self._check_updatable(trial_id)
            raise
        now = _codec.to_stored_datetime(datetime.datetime.now())
        body = self._state_values_body(trial_id, state, checked_values, now)
        # PostgreSQL finishes in one statement (no BEGIN/COMMIT round trips); the others in
        # a transaction of an UPDATE and the values' upsert.
        single = state == TrialState.RUNNING or self._dialect == "postgresql"
        return self._run(body, mode="none" if single else "write")

    def _state_values_body(
        self,
        trial_id: int,
        state: TrialState,
        checked_values: list[float] | None,
        now: Any,
    ) -> Callable[[sa.Connection], bool]:
        """The transaction body of ``set_trial_state_values`` (checked arguments; ``now``:
        the stored timestamp of this call, which tells a retry whether an earlier attempt
        did the write): returns what that returns, raises what it raises."""
        sql = self._sql
        runs = Runs()
        pg_finish = None
        if self._dialect == "postgresql" and state != TrialState.RUNNING:
            pg_finish = pg_finish_with_values(len(checked_values or ()))

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            if state == TrialState.RUNNING:
                updated = connection.execute(
                    sql.claim_trial, {"tid": trial_id, "now": now}
                ).rowcount
                if updated == 0:
                    if again and self._done_by_us(connection, trial_id, state, now):
                        return True
                    self._raise_not_updatable(connection, trial_id)
                    return False
                return True
            params = {"tid": trial_id, "new_state": state.name, "now": now}
            if pg_finish is not None:
                for objective, value in enumerate(checked_values or ()):
                    params[f"value_{objective}"], params[f"type_{objective}"] = (
                        _codec.to_stored_value(value)
                    )
                updated = connection.exec_driver_sql(pg_finish, params).scalar_one()
            else:
                updated = connection.execute(sql.finish_trial, params).rowcount
            if updated == 0:
                if again and self._done_by_us(connection, trial_id, state, now):
                    return True
                self._raise_not_updatable(connection, trial_id)
                raise StorageInternalError(f"trial {trial_id} could not be updated.")
            if checked_values is not None and pg_finish is None:
                rows = []
                for objective, value in enumerate(checked_values):
                    stored, value_type = _codec.to_stored_value(value)
                    rows.append(
                        {
                            "trial_id": trial_id,
                            "objective": objective,
                            "value": stored,
                            "value_type": value_type,
                        }
                    )
                connection.execute(sql.upsert_value, rows[0] if len(rows) == 1 else rows)
            return True

        return body

    def set_trial_params_and_state_values(
        self,
        trial_id: int,
        params: Mapping[str, tuple[float, BaseDistribution]],
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> bool:
        """Finishing a trial with a batch of names this object already knows the study's
        distributions of: on PostgreSQL one statement (``pg_params_then_finish``), so one
        round trip and one commit instead of two; on MySQL and SQLite one transaction (the
        parameters' upserts, then the finish), so one commit instead of two. Otherwise the
        two calls."""
        checked = check.check_params(params)
        state, checked_values = check.check_state_values(state, values)
        if not checked or state == TrialState.RUNNING:
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        study_id = self._study_of_trial(trial_id)
        known = self._cache.distributions.get(study_id, {})
        if any(known.get(name) is None for name, _, _ in checked):
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        try:
            for name, _, distribution in checked:
                check.check_distribution_against(name, known[name], distribution)
            check.check_values_count(checked_values, len(self._study_directions(study_id)))
        except ValueError:
            self._check_updatable(trial_id)
            raise
        now = _codec.to_stored_datetime(datetime.datetime.now())
        if self._dialect != "postgresql":
            return self._run(
                self._params_then_finish_body(trial_id, checked, state, checked_values, now),
                mode="write",
            )
        bound: dict[str, Any] = {
            "tid": trial_id,
            "names": [name for name, _, _ in checked],
            "values": [internal for _, internal, _ in checked],
            "dists": [distribution_to_json(d) for _, _, d in checked],
            "new_state": state.name,
            "now": now,
        }
        for objective, value in enumerate(checked_values or ()):
            bound[f"value_{objective}"], bound[f"type_{objective}"] = _codec.to_stored_value(value)
        statement = pg_params_then_finish(len(checked_values or ()))
        runs = Runs()

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            if connection.exec_driver_sql(statement, bound).scalar_one():
                return True
            if again and self._done_by_us(connection, trial_id, state, now):
                return True
            self._raise_not_updatable(connection, trial_id)
            raise StorageInternalError(f"trial {trial_id} could not be updated.")

        return self._run(body, mode="none")

    def _params_then_finish_body(
        self,
        trial_id: int,
        checked: list[tuple[str, float, BaseDistribution]],
        state: TrialState,
        checked_values: list[float] | None,
        now: Any,
    ) -> Callable[[sa.Connection], bool]:
        """The body of one write transaction (MySQL, SQLite) that upserts the parameters,
        then finishes the trial. An upsert finds nothing to write once the trial is finished:
        on a retry, that is the earlier attempt's own finish (its timestamp ``now``) when its
        commit's reply was lost, as the two writes committed together."""
        writes = self._param_upserts(trial_id, checked)
        finish = self._state_values_body(trial_id, state, checked_values, now)
        runs = Runs()

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            for statement, values in writes:
                if connection.execute(statement, values).rowcount == 0:
                    if again and self._done_by_us(connection, trial_id, state, now):
                        return True
                    self._raise_not_updatable(connection, trial_id)
                    raise StorageInternalError(f"trial {trial_id} could not be updated.")
            return finish(connection)

        return body

    def _done_by_us(
        self, connection: sa.Connection, trial_id: int, state: TrialState, now: Any
    ) -> bool:
        """After an attempt cut off by a lost connection, the retry finds the trial no longer
        claimable or finishable: whether the first attempt did it. It did if the trial carries
        that attempt's own timestamp (``now``, to the microsecond: ``datetime_start`` of a
        claim, ``datetime_complete`` of a finish) and, for a finish, its state. Another
        process that claimed or finished the trial in between left its own timestamp."""
        column = (
            trials.c.datetime_start if state == TrialState.RUNNING else trials.c.datetime_complete
        )
        row = connection.execute(
            sa.select(trials.c.state, column).where(trials.c.trial_id == trial_id)
        ).first()
        if row is None or row[1] != now:
            return False
        return state == TrialState.RUNNING or row[0] == state.name

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        self._study_of_trial(trial_id)
        stored, value_type = _codec.to_stored_intermediate(value)

        def holds(trial: FrozenTrial) -> bool:
            held = trial.intermediate_values.get(checked_step)
            return held is not None and (held == value or (math.isnan(held) and math.isnan(value)))

        self._write_unfinished(
            trial_id,
            self._sql.upsert_intermediate,
            {
                "step": checked_step,
                "intermediate_value": stored,
                "intermediate_value_type": value_type,
            },
            holds,
        )

    def _set_trial_attr(
        self, statement: Any, user: bool, trial_id: int, key: str, value: Any
    ) -> None:
        text = json.dumps(check.check_attr(key, value))
        expected = json.loads(text)  # as it reads back (tuples become lists)
        self._study_of_trial(trial_id)

        def holds(trial: FrozenTrial) -> bool:
            held = trial.user_attrs if user else trial.system_attrs
            return key in held and held[key] == expected

        self._write_unfinished(trial_id, statement, {"key": key, "value_json": text}, holds)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(self._sql.upsert_user_attr, True, trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        self._set_trial_attr(self._sql.upsert_system_attr, False, trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        _trial_key(trial_id)
        trial = self._cache.finished_trial(trial_id)
        if trial is not None:
            return copy_trial(trial)
        _, found = _read.build_trials(
            self._run(
                lambda c: _read.raw_rows(c.execute(self._sql.read_one, {"tid": trial_id})),
                mode="none",
            )
        )
        if not found:
            raise KeyError(f"No trial with id {trial_id!r}.")
        return found[0]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        _study_key(study_id)
        if only_waiting(states) and not self._cache.may_have_waiting(study_id):
            return []
        with self._cache.fresh_view(study_id) as view:
            selected = view.select(states)
        return [copy_trial(t) for t in selected] if deepcopy else selected

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        _study_key(study_id)
        with self._cache.fresh_view(study_id) as view:
            ordered = view.ordered
            if state is None:
                return len(ordered)
            states = (state,) if isinstance(state, TrialState) else state
            return sum(1 for t in ordered if t.state in states)

    def remove_session(self) -> None:
        return None

    def close(self) -> None:
        """Close every pooled connection. The object must not be used afterwards."""
        self._engine.dispose()

    # -- heartbeats -------------------------------------------------------------------------

    def get_heartbeat_interval(self) -> float | None:
        return self._heartbeat_interval

    def get_grace_period(self) -> float | None:
        return self._grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        """Record the database's current time as the heartbeat of a RUNNING trial; a WAITING
        trial is left alone (it has no worker yet)."""
        _trial_key(trial_id)
        statement = self._sql.upsert_heartbeat

        def body(connection: sa.Connection) -> None:
            if connection.execute(statement, {"tid": trial_id}).rowcount == 0:
                self._raise_not_updatable(connection, trial_id)  # else: WAITING

        self._run(body, mode="none")

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        grace_period = self._grace_period
        _study_key(study_id)
        if grace_period is None:
            self.get_study_directions(study_id)  # KeyError for a missing study
            return []
        sql = self._sql

        def body(connection: sa.Connection) -> list[int]:
            rows = (
                connection.execute(sql.stale, {"study_id": study_id, "grace": grace_period})
                .scalars()
                .all()
            )
            if (
                not rows
                and connection.execute(sql.study_exists, {"study_id": study_id}).scalar() is None
            ):
                raise KeyError(f"No study with id {study_id!r}.")
            return [int(r) for r in rows]

        return self._run(body, mode="none")

    # -- schema -----------------------------------------------------------------------------

    def upgrade(self) -> tuple[str | None, str]:
        """Upgrade the schema to the current head; return (old, new) Alembic revisions."""
        return _schema.upgrade_schema(self._engine)
