"""The trial writes of the RDB storage: their transaction bodies (private).

A body is a function of one :class:`sqlalchemy.Connection` that
:class:`~trialstore.storage.rdb._transactions.Transactions` runs, again after a transient
failure. A write into an existing trial checks that the trial is unfinished in the statement
that writes, so it costs one statement. One that finds nothing to write raises what the
trial's state calls for, after telling whether an earlier run of the same body, whose
connection was lost before its reply, did the write: then it succeeded. Arguments are checked
already.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import sqlalchemy as sa

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution, distribution_to_json
from trialstore.exceptions import StorageInternalError, UpdateFinishedTrialError
from trialstore.storage import validation as check
from trialstore.storage.rdb import _codec, _driver, _fast_paths, _read
from trialstore.storage.rdb._cache import StudyCache
from trialstore.storage.rdb._dml import (
    MAX_PARAMS_PER_STATEMENT,
    PG_SCALAR_PARAMS,
    Statements,
    mariadb_finish,
    pg_finish_with_values,
    pg_params_then_finish,
    pg_upsert_params,
    upsert_params,
)
from trialstore.storage.rdb._tables import (
    trial_intermediate_values,
    trial_params,
    trial_system_attributes,
    trial_user_attributes,
    trial_values,
    trials,
)
from trialstore.storage.rdb._transactions import Body, Runs

__all__ = [
    "CheckedParams",
    "TrialWrites",
    "holds_attr",
    "holds_intermediate_value",
    "holds_params",
]

#: Checked parameters: (name, internal value, distribution), in the order given.
CheckedParams = Sequence[tuple[str, float, BaseDistribution]]
#: A list of (statement, bound values): a driver-level SQL string (PostgreSQL) or a
#: SQLAlchemy statement.
_Writes = list[tuple[Any, dict[str, Any]]]


def holds_params(checked: CheckedParams) -> Callable[[FrozenTrial], bool]:
    """Whether a trial holds each of ``checked``."""

    def holds(trial: FrozenTrial) -> bool:
        for name, internal, distribution in checked:
            if name not in trial.params or trial.distributions.get(name) != distribution:
                return False
            if distribution.to_internal_repr(trial.params[name]) != internal:
                return False
        return True

    return holds


def holds_intermediate_value(step: int, value: float) -> Callable[[FrozenTrial], bool]:
    """Whether a trial holds ``value`` (NaN included) at ``step``."""

    def holds(trial: FrozenTrial) -> bool:
        held = trial.intermediate_values.get(step)
        return held is not None and (held == value or (math.isnan(held) and math.isnan(value)))

    return holds


def holds_attr(user: bool, key: str, expected: Any) -> Callable[[FrozenTrial], bool]:
    """Whether a trial holds ``expected`` (as read back) at ``key`` of its user (``user``) or
    system attributes."""

    def holds(trial: FrozenTrial) -> bool:
        held = trial.user_attrs if user else trial.system_attrs
        return key in held and held[key] == expected

    return holds


def _value_rows(trial_id: int, values: Sequence[float]) -> list[dict[str, Any]]:
    rows = []
    for objective, value in enumerate(values):
        stored, value_type = _codec.to_stored_value(value)
        rows.append(
            {
                "trial_id": trial_id,
                "objective": objective,
                "value": stored,
                "value_type": value_type,
            }
        )
    return rows


def _value_params(values: Sequence[float] | None) -> dict[str, Any]:
    """The bound values of the trial values in a finish of one statement (``value_<i>``,
    ``type_<i>``)."""
    params: dict[str, Any] = {}
    for objective, value in enumerate(values or ()):
        params[f"value_{objective}"], params[f"type_{objective}"] = _codec.to_stored_value(value)
    return params


def _pg_param_values(checked: CheckedParams) -> dict[str, Any]:
    """The bound values of ``checked`` in ``pg_param_rows``: scalars, or arrays for a large
    batch."""
    if len(checked) <= PG_SCALAR_PARAMS:
        return _param_values(checked)
    return {
        "names": [name for name, _, _ in checked],
        "values": [internal for _, internal, _ in checked],
        "dists": [distribution_to_json(d) for _, _, d in checked],
    }


def _param_values(checked: CheckedParams) -> dict[str, Any]:
    """The bound values ``n<i>``, ``v<i>``, ``d<i>`` of ``checked``, numbered from 0 (see
    ``upsert_params``, ``mariadb_finish`` and ``pg_param_rows``)."""
    bound: dict[str, Any] = {}
    for i, (name, internal, distribution) in enumerate(checked):
        bound[f"n{i}"] = name
        bound[f"v{i}"] = internal
        bound[f"d{i}"] = distribution_to_json(distribution)
    return bound


def _positive(rowcount: int) -> bool:
    return rowcount > 0


def _first_is_true(rows: list[tuple[Any, ...]]) -> bool:
    return bool(rows[0][0])


def _none(result: object) -> None:
    return None


def _true(result: object) -> bool:
    return True


def _execute(connection: sa.Connection, statement: Any, values: dict[str, Any]) -> int:
    """Run a write; return the rows it affected. A string is a driver-level statement (see
    :mod:`_driver`)."""
    if isinstance(statement, str):
        return _driver.rowcount(connection, statement, values)
    return int(connection.execute(statement, values).rowcount)


class TrialWrites:
    """The bodies of one storage object's trial writes: ``sql`` its statements, ``dialect``
    its engine's dialect, ``cache`` what it remembers (the distributions the studies
    stored). Safe for many threads (it holds no state of a call)."""

    def __init__(self, sql: Statements, dialect: sa.Dialect, cache: StudyCache) -> None:
        self._sql = sql
        self._engine_dialect = dialect
        self._dialect = "mysql" if dialect.name == "mariadb" else dialect.name
        self._cache = cache

    @property
    def finishes_in_one_statement(self) -> bool:
        """Whether a finish (with or without parameters) is one statement, which needs no
        transaction around it (run its body in mode ``"none"``): on PostgreSQL, and on
        MariaDB through PyMySQL (a compound statement); elsewhere a write transaction. (The
        engine tells MariaDB from MySQL once it has connected.)"""
        return self._dialect == "postgresql" or _fast_paths.mariadb_with_pymysql(
            self._engine_dialect
        )

    # -- checks inside a transaction --------------------------------------------------------

    def raise_not_updatable(self, connection: sa.Connection, trial_id: int) -> None:
        """Raise KeyError, TrialDeletedError or UpdateFinishedTrialError for the trial's
        current state (returns if it is unfinished). The state is read with a locking read:
        inside a MySQL/MariaDB transaction a plain read would see the transaction's snapshot,
        which may predate the finish (or deletion) that made a write find nothing to
        update. A deleted trial that was unfinished is FAIL, so no write finds it
        updatable.

        A finished trial is checked for a deletion once more: on PostgreSQL, a locking read
        that waited for a deletion's transaction returns the trial row that transaction
        wrote (FAIL) but evaluates the deletion flag with the snapshot taken before the
        wait, which misses the deletion."""
        params = {"tid": trial_id}
        row = connection.execute(self._sql.trial_state_current, params).first()
        if row is None:
            raise KeyError(f"No trial with id {trial_id!r}.")
        finished = _codec.STATE_BY_NAME[row[0]].is_finished()
        again = self._sql.deletion_current
        if row[2] or (
            finished and again is not None and connection.execute(again, params).first()
        ):
            raise _read.deleted_trial(trial_id, row[1])
        if finished:
            raise UpdateFinishedTrialError(
                f"Trial#{row[1]} has already finished and can not be updated."
            )

    def _fail(self, connection: sa.Connection, trial_id: int) -> NoReturn:
        """A write found nothing to write: raise what the trial's state calls for."""
        self.raise_not_updatable(connection, trial_id)
        raise StorageInternalError(f"trial {trial_id} could not be updated.")

    def known_distribution(
        self, connection: sa.Connection, study_id: int, name: str
    ) -> BaseDistribution | None:
        """The distribution the study stored first for ``name`` (that of the lowest trial id
        carrying it, deleted trials included), or None: remembered, else by one statement
        that asks only about the trials this object's reads did not see finished (see
        :meth:`StudyCache.name_scope`)."""
        cached = self._cache.distributions.get(study_id, {}).get(name)
        if cached is not None:
            return cached
        floor, unfinished, known = self._cache.name_scope(study_id, name)
        params = {"study_id": study_id, "name": name, "floor": floor, "ids": unfinished}
        row = connection.execute(self._sql.known_distribution, params).first()
        if row is not None and (known is None or int(row[0]) < known[0]):
            return _codec.parse_distribution(row[1])
        return None if known is None else known[1]

    def _check_new_names(
        self,
        connection: sa.Connection,
        trial_id: int,
        study_id: int,
        names: Sequence[tuple[str, BaseDistribution]],
    ) -> None:
        """For parameter names new to this object: lock the study row (serializing with
        other first users of the names), then check each distribution against the study's.

        Raises:
            KeyError: no such trial (its study is gone).
            UpdateFinishedTrialError: a distribution conflicts and the trial is finished.
            ValueError: a distribution conflicts with the study's.
        """
        if connection.execute(self._sql.lock_study, {"study_id": study_id}).scalar() is None:
            raise KeyError(f"No trial with id {trial_id!r}.")
        try:
            for name, distribution in names:
                previous = self.known_distribution(connection, study_id, name)
                check.check_distribution_against(name, previous, distribution)
        except ValueError:
            self.raise_not_updatable(connection, trial_id)
            raise

    def _stored_by_an_earlier_attempt(
        self, connection: sa.Connection, trial_id: int, holds: Callable[[FrozenTrial], bool]
    ) -> bool:
        """A retried write found the trial not updatable: whether an earlier attempt, whose
        connection was lost before its reply, stored the write before the trial finished
        (the finished trial ``holds`` it). Then the write succeeded and must not raise
        UpdateFinishedTrialError, which promises that nothing was written."""
        found = _read.build_trials(
            _read.raw_rows(connection.execute(self._sql.read_one, {"tid": trial_id}))
        ).trials
        return bool(found) and found[0].state.is_finished() and holds(found[0])

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

    # -- creating a trial -------------------------------------------------------------------

    def create(self, study_id: int, template: FrozenTrial | None) -> Body[tuple[int, int]]:
        """The body of a write transaction that creates the study's next trial (RUNNING, or
        as ``template`` says) and returns (trial id, number). The study row is locked while
        numbering, so numbers are dense under any concurrency.

        Raises:
            KeyError: no such study.
            ValueError: a template distribution conflicts with the study's.
        """
        sql = self._sql

        def body(connection: sa.Connection) -> tuple[int, int]:
            if connection.execute(sql.lock_study, {"study_id": study_id}).scalar() is None:
                raise KeyError(f"No study with id {study_id!r}.")
            if template is not None:
                for name, dist in template.distributions.items():
                    previous = self.known_distribution(connection, study_id, name)
                    check.check_distribution_against(name, previous, dist)
            last = connection.execute(sql.max_number, {"study_id": study_id}).scalar()
            number = 0 if last is None else int(last) + 1
            row = _trial_row(study_id, number, template)
            trial_id = int(connection.execute(sql.insert_trial, row).inserted_primary_key[0])  # type: ignore[index]
            if template is not None:
                _insert_template_rows(connection, trial_id, template)
            return trial_id, number

        return body

    # -- parameters, intermediate values, attributes ----------------------------------------

    def upserts(
        self,
        trial_id: int,
        writes: _Writes,
        holds: Callable[[FrozenTrial], bool],
        new_names: tuple[int, Sequence[tuple[str, BaseDistribution]]] | None = None,
    ) -> Body[None]:
        """The body that runs ``writes`` (upserts into an unfinished trial, each writing a
        row unless the trial is finished) in order; ``holds``: whether a finished trial holds
        what they write (see :meth:`_stored_by_an_earlier_attempt`). With ``new_names``
        (study id, [(name, distribution)]) of parameter names new to this object, the study
        row is locked and their distributions checked first (see :meth:`_check_new_names`).

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: a new name's distribution conflicts with the study's.
        """

        def not_written(connection: sa.Connection, again: bool) -> None:
            if again and self._stored_by_an_earlier_attempt(connection, trial_id, holds):
                return
            self._fail(connection, trial_id)

        if new_names is None and len(writes) == 1 and isinstance(writes[0][0], str):
            statement, values = writes[0]
            return _driver.Statement(
                statement,
                values,
                rows=False,
                written=_positive,
                value=_none,
                not_written=not_written,
            )
        runs = Runs()

        def body(connection: sa.Connection) -> None:
            again = runs.start()
            if new_names is not None:
                self._check_new_names(connection, trial_id, *new_names)
            for statement, values in writes:
                if _execute(connection, statement, values) == 0:
                    not_written(connection, again)
                    return

        return body

    def param_upserts(self, trial_id: int, checked: CheckedParams) -> _Writes:
        """The writes that upsert ``checked`` into the trial, in order: one statement on
        PostgreSQL, else one per ``MAX_PARAMS_PER_STATEMENT`` parameters."""
        if self._dialect == "postgresql":
            bound = {"tid": trial_id, **_pg_param_values(checked)}
            return [(pg_upsert_params(len(checked)), bound)]
        writes = []
        for start in range(0, len(checked), MAX_PARAMS_PER_STATEMENT):
            chunk = checked[start : start + MAX_PARAMS_PER_STATEMENT]
            bound = {"tid": trial_id, **_param_values(chunk)}
            writes.append((upsert_params(self._dialect, len(chunk)), bound))
        return writes

    # -- state and values -------------------------------------------------------------------

    def state_values(
        self, trial_id: int, state: TrialState, values: list[float] | None, now: Any
    ) -> Body[bool]:
        """The body of ``set_trial_state_values`` (``now``: the stored timestamp of this
        call, which tells a retry whether an earlier attempt did the write): returns what that
        returns, raises what it raises. A finish is one statement where
        :attr:`finishes_in_one_statement`; elsewhere an UPDATE and the values' upsert (run it
        in a write transaction)."""
        if state == TrialState.RUNNING:
            return self._claim(trial_id, now)
        return self._finish(trial_id, state, values, now)

    def _claim(self, trial_id: int, now: Any) -> Body[bool]:
        """Claim a WAITING trial (RUNNING, started ``now``); False if another one did."""
        runs = Runs()
        params = {"tid": trial_id, "now": now}

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            if connection.execute(self._sql.claim_trial, params).rowcount > 0:
                return True
            if again and self._done_by_us(connection, trial_id, TrialState.RUNNING, now):
                return True
            self.raise_not_updatable(connection, trial_id)
            return False

        return body

    def _finish(
        self, trial_id: int, state: TrialState, values: list[float] | None, now: Any
    ) -> Body[bool]:
        """Finish an unfinished trial in ``state`` at ``now``, with ``values``: one statement
        where :attr:`finishes_in_one_statement`, else an UPDATE and the values' upsert."""
        if self.finishes_in_one_statement:
            return self._one_statement_finish(trial_id, (), state, values, now)
        params: dict[str, Any] = {"tid": trial_id, "new_state": state.name, "now": now}
        value_rows = _value_rows(trial_id, values or ())
        runs = Runs()

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            if not connection.execute(self._sql.finish_trial, params).rowcount:
                if again and self._done_by_us(connection, trial_id, state, now):
                    return True
                self._fail(connection, trial_id)
            if value_rows:
                rows = value_rows[0] if len(value_rows) == 1 else value_rows
                connection.execute(self._sql.upsert_value, rows)
            return True

        return body

    def params_then_finish(
        self,
        trial_id: int,
        checked: CheckedParams,
        state: TrialState,
        values: list[float] | None,
        now: Any,
    ) -> Body[bool]:
        """The body that upserts the parameters (of names whose distributions this object
        knows), then finishes the trial, as :meth:`state_values` does: one statement where
        :attr:`finishes_in_one_statement`, else a write transaction. An upsert finds
        nothing to write once the trial is finished: on a retry, that is the earlier
        attempt's own finish (its timestamp ``now``) when its commit's reply was lost, as the
        writes committed together."""
        if self.finishes_in_one_statement:
            return self._one_statement_finish(trial_id, checked, state, values, now)
        writes = self.param_upserts(trial_id, checked)
        finish = self._finish(trial_id, state, values, now)
        runs = Runs()

        def body(connection: sa.Connection) -> bool:
            again = runs.start()
            for statement, bound in writes:
                if _execute(connection, statement, bound) == 0:
                    if again and self._done_by_us(connection, trial_id, state, now):
                        return True
                    self._fail(connection, trial_id)
            return finish(connection)

        return body

    def _one_statement_finish(
        self,
        trial_id: int,
        checked: CheckedParams,
        state: TrialState,
        values: list[float] | None,
        now: Any,
    ) -> Body[bool]:
        """Upsert ``checked`` (maybe none) and finish the trial, in one statement: on
        PostgreSQL ``pg_finish_with_values`` or ``pg_params_then_finish``, on MariaDB
        ``mariadb_finish``. Its result says whether it wrote; when it did not, a retry
        tells the earlier attempt's own finish (its timestamp ``now``) from another one."""
        n_values = len(values or ())
        bound: dict[str, Any] = {
            "tid": trial_id,
            "new_state": state.name,
            "now": now,
            **_value_params(values),
        }
        if self._dialect != "postgresql":
            statement = mariadb_finish(len(checked), n_values)
            bound.update(_param_values(checked))
        elif checked:
            statement = pg_params_then_finish(len(checked), n_values)
            bound.update(_pg_param_values(checked))
        else:
            statement = pg_finish_with_values(n_values)

        def not_written(connection: sa.Connection, again: bool) -> bool:
            if again and self._done_by_us(connection, trial_id, state, now):
                return True
            self._fail(connection, trial_id)

        return _driver.Statement(
            statement,
            bound,
            rows=True,
            written=_first_is_true,
            value=_true,
            not_written=not_written,
        )


def _trial_row(study_id: int, number: int, template: FrozenTrial | None) -> dict[str, Any]:
    """The ``trials`` row of a new trial (RUNNING from now, or as ``template`` says)."""
    if template is None:
        return {
            "number": number,
            "study_id": study_id,
            "state": "RUNNING",
            "datetime_start": _codec.to_stored_datetime(datetime.datetime.now()),
            "datetime_complete": None,
        }
    return {
        "number": number,
        "study_id": study_id,
        "state": template.state.name,
        "datetime_start": _codec.to_stored_datetime(template.datetime_start),
        "datetime_complete": _codec.to_stored_datetime(template.datetime_complete),
    }


def _insert_template_rows(connection: sa.Connection, trial_id: int, template: FrozenTrial) -> None:
    """Insert what ``template`` holds besides the trial row."""
    if template.values is not None:
        connection.execute(trial_values.insert(), _value_rows(trial_id, template.values))
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
