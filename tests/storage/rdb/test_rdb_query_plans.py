"""The statements a trial runs on an RDB storage cost the same in a study of any size.

A fresh process reads a study of :data:`N_TRIALS` trials once (that read is the whole study),
then runs trials in it with heartbeats on: claims an enqueued trial, creates others, checks
for stale trials, writes parameters (one trial a name new to the study) and intermediate
values, reads the study again while a trial runs (as TPE does), and finishes them. Every
statement those trials sent is then run again, alone, in a transaction rolled back, and its
work measured by the database itself: SQLite's virtual machine steps (a progress handler),
the rows PostgreSQL's plan nodes touched (``EXPLAIN ANALYZE``, sequential scans off, as on a
table too large for them), MariaDB's row reads (``Handler_read_*``). A statement that walks
the study's trials (an index range over the whole study, a scan) costs at least one unit per
trial; one that looks up and ranges over what it needs costs a few per row it returns. Each
must stay well below the study's size.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

import trialstore
from trialstore.conformance._base import make_template
from trialstore.storage.rdb import RDBStorage, _cache, _dml
from trialstore.storage.rdb._tables import trial_heartbeats, trial_params, trial_values, trials
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

#: Trials of the study a trial runs in.
N_TRIALS = 3000
#: Trials of another study, made first (lower ids): a statement that walks another
#: study's rows for its own also grows with the database.
N_OTHER = 1000
#: The most a statement may cost, in the units of its dialect (see the module docstring).
BUDGET = {"sqlite": N_TRIALS // 2, "postgresql": N_TRIALS // 10, "mysql": N_TRIALS // 10}

_FLOAT = json.dumps(
    {"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 1.0, "log": False}}
)
_REPLAYED = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN NOT ATOMIC")

#: (statement text, its parameters, what it was made from: the SQLAlchemy statement, or the
#: text itself for raw driver calls)
Captured = list[tuple[str, Any, Any]]


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return database_url(request, request.param, tmp_path)


def _fill(url: str) -> None:
    """Study "other" of :data:`N_OTHER` finished trials, then study "big" of
    :data:`N_TRIALS`, each with two parameters, a value and a heartbeat; one of "big"
    deleted."""
    storage = RDBStorage(url)
    study_ids = [storage.create_new_study([StudyDirection.MINIMIZE], n) for n in ("other", "big")]
    storage.close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for study_id, count in zip(study_ids, (N_OTHER, N_TRIALS), strict=True):
            connection.execute(
                trials.insert(),
                [{"number": i, "study_id": study_id, "state": "COMPLETE"} for i in range(count)],
            )

            def for_each_trial(
                table: sa.Table, row: dict[str, Any], study_id: int = study_id
            ) -> Any:
                values = [sa.literal(value, table.c[name].type) for name, value in row.items()]
                rows = sa.select(trials.c.trial_id, *values).where(trials.c.study_id == study_id)
                return table.insert().from_select(["trial_id", *row], rows)

            for name in ("x", "y"):
                row = {"param_name": name, "param_value": 0.5, "distribution_json": _FLOAT}
                connection.execute(for_each_trial(trial_params, row))
            row = {"objective": 0, "value": 1.0, "value_type": "FINITE"}
            connection.execute(for_each_trial(trial_values, row))
            beat = {"heartbeat": datetime.datetime(2020, 1, 1)}
            connection.execute(for_each_trial(trial_heartbeats, beat))
    if engine.dialect.name == "postgresql":  # the statistics autovacuum would gather
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    storage = RDBStorage(url)
    big = storage.get_study_id_from_name("big")
    storage.delete_trials(big, [storage.get_trial_id_from_study_id_trial_number(big, 7)])
    storage.close()


@contextmanager
def _capturing(dialect: str) -> Iterator[Captured]:
    """Record every statement sent while open: through SQLAlchemy, and on PostgreSQL also
    those of a create's query string of several statements, bound on the client
    (``ClientCursor.mogrify``), each with its values in its text."""
    captured: Captured = []

    def record(_c: Any, _cursor: Any, statement: str, params: Any, context: Any, _: Any) -> None:
        compiled = getattr(context, "compiled", None)
        captured.append((statement, params, statement if compiled is None else compiled.statement))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    undo: Callable[[], None] = lambda: None  # noqa: E731
    if dialect == "postgresql":
        import psycopg

        original = psycopg.ClientCursor.mogrify

        def mogrify(self: Any, query: Any, params: Any = None) -> str:
            bound = original(self, query, params)
            parts = zip(bound.split("; "), str(query).split("; "), strict=True)
            captured.extend((part, None, origin) for part, origin in parts)
            return bound

        psycopg.ClientCursor.mogrify = mogrify  # type: ignore[method-assign]

        def undo() -> None:
            psycopg.ClientCursor.mogrify = original  # type: ignore[method-assign]

    try:
        yield captured
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
        undo()


def _objective(trial: trialstore.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    if trial.number == N_TRIALS + 1:  # a name new to the study
        y += trial.suggest_float("z", 0.0, 1.0)
    trial.report(x, 0)
    trial.study.get_trials(deepcopy=False)  # an incremental read while the trial runs
    return x + y


def _run_trials(url: str, dialect: str) -> tuple[Captured, _dml.Statements]:
    """What a fresh process's trials in study "big" sent, after its first read; the
    storage's prebuilt statements."""
    storage = RDBStorage(url, heartbeat_interval=60, grace_period=120)
    sql = storage._sql
    study = trialstore.load_study(
        study_name="big", storage=storage, sampler=trialstore.samplers.RandomSampler(seed=0)
    )
    assert len(study.get_trials(deepcopy=False)) == N_TRIALS - 1
    with _capturing(dialect) as captured:
        study.enqueue_trial({"x": 0.25, "y": 0.75})
        study.optimize(_objective, n_trials=3)
    storage.close()
    assert len(study.get_trials(deepcopy=False)) == N_TRIALS + 2
    return captured, sql


def _replayed(captured: Captured) -> list[tuple[str, Any]]:
    """The statements that read rows (queries, and writes with a query or condition), with
    their parameters. A plain ``INSERT ... VALUES`` reads nothing (and would fail again on
    its unique keys)."""
    found = []
    for statement, params, _ in captured:
        text = " ".join(statement.split()).upper()
        plain_insert = text.startswith("INSERT") and " SELECT " not in text
        if text.startswith(_REPLAYED) and not plain_insert:
            found.append((statement, params))
    return found


def _sqlite_cost(raw: Any, statement: str, params: Any) -> int:
    """VM steps of ``statement`` (rolled back)."""
    raw.execute("SELECT 1 FROM trials LIMIT 0").fetchall()  # the schema is loaded: not counted
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0

    raw.set_progress_handler(step, 1)
    try:
        raw.execute(statement, params).fetchall()
    finally:
        raw.set_progress_handler(None, 1)
        raw.rollback()
    return steps


def _rows_touched(node: dict[str, Any]) -> float:
    """Rows a PostgreSQL plan node and those under it produced or filtered out."""
    per_loop = sum(
        node.get(key, 0)
        for key in (
            "Actual Rows",
            "Rows Removed by Filter",
            "Rows Removed by Index Recheck",
            "Rows Removed by Join Filter",
        )
    )
    own = per_loop * node.get("Actual Loops", 1)
    return float(own + sum(_rows_touched(child) for child in node.get("Plans", ())))


def _postgresql_cost(raw: Any, statement: str, params: Any) -> float:
    """Rows touched by ``statement``'s plan (run, then rolled back)."""
    with raw.cursor() as cursor:
        try:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", params)
            plan = cursor.fetchone()[0]
        finally:
            raw.rollback()
    return _rows_touched(plan[0]["Plan"])


def _handler_reads(cursor: Any) -> int:
    cursor.execute("SHOW SESSION STATUS LIKE 'Handler_read%%'")
    return sum(int(value) for _, value in cursor.fetchall())


def _mysql_cost(raw: Any, statement: str, params: Any) -> int:
    """Rows read by ``statement`` (``Handler_read_*``, less what reading them costs;
    rolled back)."""
    with raw.cursor() as cursor:
        try:
            before = _handler_reads(cursor)
            cursor.execute("DO 0")
            overhead = _handler_reads(cursor) - before
            before = _handler_reads(cursor)
            cursor.execute(statement, params)
            cursor.fetchall()
            while cursor.nextset():
                cursor.fetchall()
            return _handler_reads(cursor) - before - overhead
        finally:
            raw.rollback()


_COST = {"sqlite": _sqlite_cost, "postgresql": _postgresql_cost, "mysql": _mysql_cost}


def _costs(url: str, statements: list[tuple[str, Any]]) -> dict[str, float]:
    """Each statement's cost (see the module docstring), run alone and rolled back: the
    highest of its runs with the parameters it was sent with."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    cost = _COST[engine.dialect.name]
    raw = engine.raw_connection()
    costs: dict[str, float] = {}
    try:
        for statement, params in statements:
            costs[statement] = max(
                costs.get(statement, 0), cost(raw.driver_connection, statement, params)
            )
    finally:
        raw.close()
        engine.dispose()
    return costs


def _ran(captured: Captured, *statements: Any) -> bool:
    """Whether one of ``statements`` (SQLAlchemy statements or raw texts) was sent."""
    return any(
        origin is s or (isinstance(origin, str) and origin == s)
        for _, _, origin in captured
        for s in statements
    )


def test_a_trial_costs_the_same_in_a_study_of_any_size(url: str) -> None:
    dialect = sa.engine.make_url(url).get_dialect().name
    _fill(url)
    captured, sql = _run_trials(url, dialect)
    # the WAITING probe (alone or in a create) and the read with unfinished ids were measured
    probes = (
        sql.probe_waiting,
        _dml.pg_insert_trial(False, True),
        _dml.MARIADB_INSERT_TRIAL_UNLESS_WAITING,
    )
    assert _ran(captured, *probes)
    assert _ran(captured, sql.read_newer_or_ids)
    assert _ran(captured, sql.stale)  # the heartbeat check
    assert _ran(captured, sql.known_distribution)  # the name new to the study
    costs = _costs(url, _replayed(captured))
    over = {" ".join(s.split())[:300]: c for s, c in costs.items() if c >= BUDGET[dialect]}
    assert not over, f"statements costing {BUDGET[dialect]}+ in a study of {N_TRIALS}: {over}"


def test_the_probe_and_the_read_return_each_trial_once(tmp_path: Any) -> None:
    """The split of ``> floor OR IN ids`` into two ranges keeps its rows: ids above the
    floor come once, an empty list adds none."""
    storage = RDBStorage(f"sqlite:///{tmp_path / 'x.db'}")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    ids = [storage.create_new_trial(study_id) for _ in range(6)]
    storage.close()
    sql = _dml.statements_for("sqlite")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:

        def probed(floor: int, listed: list[int]) -> list[int]:
            params = {"study_id": study_id, "floor": floor, "ids": listed}
            return sorted(r[1] for r in connection.execute(sql.probe_waiting, params))

        def read(max_id: int, listed: list[int]) -> list[int]:
            params = {"study_id": study_id, "max_id": max_id, "ids": listed, "deleted_after": -1}
            rows = connection.execute(sql.read_newer_or_ids, params).all()
            return sorted(r[1] for r in rows if r[0] == 0)

        for floor, listed, expected in (
            (ids[3], [ids[0], ids[4], ids[5]], [ids[0], ids[4], ids[5]]),
            (ids[3], [], [ids[4], ids[5]]),
            (ids[5], [ids[1]], [ids[1]]),
            (-1, [ids[2]], ids),
        ):
            assert probed(floor, listed) == expected
            assert read(floor, listed) == expected
        missing = {"study_id": study_id + 1, "floor": -1, "ids": []}
        assert connection.execute(sql.probe_waiting, missing).all() == []
    engine.dispose()


@pytest.mark.parametrize("max_in_list", [1, 1000])
def test_a_first_read_starts_the_waiting_probes(
    url: str, max_in_list: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh process's first read of a study leaves what a probe from the start would
    (the highest id, the WAITING ids; a range below them when they are too many): its first
    probe lists only newer trials, and still finds the WAITING ones, old and new."""
    monkeypatch.setattr(_cache, "MAX_IN_LIST", max_in_list)
    writer = RDBStorage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "seeded")
    waiting = [writer.create_new_trial(study_id, make_template(TrialState.WAITING))]
    writer.create_new_trial(study_id)
    waiting.append(writer.create_new_trial(study_id, make_template(TrialState.WAITING)))
    last = writer.create_new_trial(study_id)
    writer.set_trial_state_values(last, TrialState.COMPLETE, [1.0])
    reader = RDBStorage(url)
    assert reader._cache.probe(study_id) == (-1, [])
    reader.get_all_trials(study_id, deepcopy=False)
    expected = (last, waiting) if max_in_list > 1 else (waiting[0] - 1, [])
    assert reader._cache.probe(study_id) == expected

    def waiting_ids() -> list[int]:
        found = reader.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
        return [t._trial_id for t in found]

    assert waiting_ids() == waiting
    assert writer.set_trial_state_values(waiting[0], TrialState.RUNNING)
    assert waiting_ids() == waiting[1:]
    waiting.append(writer.create_new_trial(study_id, make_template(TrialState.WAITING)))
    assert waiting_ids() == waiting[1:]
    reader.close()
    writer.close()


def test_a_probe_that_sees_no_new_trial_keeps_its_floor(tmp_path: Any) -> None:
    """A probe that finds only listed trials (all below its floor) starts the next one from
    the same floor, not from below it (which would list trials seen finished again)."""
    storage = RDBStorage(f"sqlite:///{tmp_path / 'x.db'}")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    waiting = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
    last = storage.create_new_trial(study_id)
    for _ in range(2):
        found = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
        assert [t._trial_id for t in found] == [waiting]
        assert storage._cache.probe(study_id) == (last, [waiting])
    storage.close()
