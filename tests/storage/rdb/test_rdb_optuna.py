"""RDBStorage and Optuna 5.0 on one database: same schema, same data both ways."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url, trial_key

from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.storage.rdb import RDBStorage
from trialstore.storage.rdb._schema import OWN_TABLES
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

optuna.logging.set_verbosity(optuna.logging.ERROR)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, request.param, tmp_path)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_float("q", 0.0, 1.0, step=0.25)
    trial.suggest_int("n", 1, 9, step=2)
    trial.suggest_int("m", 1, 64, log=True)
    choice = trial.suggest_categorical("c", [None, True, "a", 2.5, 7])
    trial.set_user_attr("u", {"list": [1, 2.5, "x"], "none": None})
    trial.storage.set_trial_system_attr(trial._trial_id, "s", ["sys", 1])
    trial.report(math.inf, 0)
    trial.report(math.nan, 1)
    trial.report(-math.inf, 2)
    trial.report(x, 3)
    if trial.number == 3:
        raise optuna.TrialPruned()
    if trial.number == 4:
        raise RuntimeError("failing on purpose")
    if trial.number == 5:
        return math.inf
    return x * x + (1.0 if choice is None else 0.0)


def _fill_with_optuna(url: str) -> None:
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(study_name="single", storage=storage)
    study.set_user_attr("goal", {"target": 0.5})
    storage.set_study_system_attr(study._study_id, "sys", [1, "two"])
    study.optimize(_objective, n_trials=8, catch=(RuntimeError,))
    running = study.ask()
    running.suggest_float("x", -5.0, 5.0)
    study.enqueue_trial({"x": 1.5, "c": "a"}, user_attrs={"enqueued": True})
    multi = optuna.create_study(
        study_name="multi", directions=["minimize", "maximize"], storage=storage
    )
    multi.optimize(lambda t: (t.suggest_float("y", 0, 1), -math.inf), n_trials=3)
    optuna.create_study(study_name="", storage=storage)
    storage.engine.dispose()


def _same_studies(ours: RDBStorage, theirs: Any) -> None:
    our_studies = ours.get_all_studies()
    their_studies = theirs.get_all_studies()
    assert [(s.study_name, s._study_id) for s in our_studies] == [
        (s.study_name, s._study_id) for s in their_studies
    ]
    for mine, other in zip(our_studies, their_studies, strict=True):
        assert [int(d) for d in mine.directions] == [int(d) for d in other.directions]
        assert mine.user_attrs == other.user_attrs
        assert mine.system_attrs == other.system_attrs
        our_trials = [trial_key(t) for t in ours.get_all_trials(mine._study_id)]
        their_trials = [trial_key(t) for t in theirs.get_all_trials(other._study_id)]
        assert our_trials == their_trials
        for trial in ours.get_all_trials(mine._study_id):
            assert trial_key(ours.get_trial(trial._trial_id)) == trial_key(
                theirs.get_trial(trial._trial_id)
            )


def test_trialstore_reads_what_optuna_wrote(url: str) -> None:
    _fill_with_optuna(url)
    ours = RDBStorage(url)
    theirs = optuna.storages.RDBStorage(url)
    try:
        _same_studies(ours, theirs)
        single = ours.get_study_id_from_name("single")
        states = [t.state for t in ours.get_all_trials(single)]
        assert TrialState.WAITING in states and TrialState.RUNNING in states
        assert TrialState.PRUNED in states and TrialState.FAIL in states
        assert ours.get_best_trial(single).number == theirs.get_best_trial(single).number
    finally:
        ours.close()
        theirs.engine.dispose()


def _fill_with_trialstore(storage: RDBStorage) -> None:
    single = storage.create_new_study([StudyDirection.MAXIMIZE], "ts-single")
    storage.set_study_user_attr(single, "k", {"nested": [1, None]})
    storage.set_study_system_attr(single, "s", "v")
    dists = {
        "x": FloatDistribution(-1.0, 1.0),
        "lr": FloatDistribution(1e-5, 1.0, log=True),
        "n": IntDistribution(0, 10, step=2),
        "c": CategoricalDistribution([None, "b", 3.5]),
    }
    for i, state in enumerate(
        [
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
            TrialState.RUNNING,
            TrialState.COMPLETE,
        ]
    ):
        trial_id = storage.create_new_trial(single)
        storage.set_trial_param(trial_id, "x", 0.1 * i, dists["x"])
        storage.set_trial_param(trial_id, "lr", 1e-3, dists["lr"])
        storage.set_trial_param(trial_id, "n", 4, dists["n"])
        storage.set_trial_param(trial_id, "c", i % 3, dists["c"])
        storage.set_trial_intermediate_value(trial_id, 0, math.nan)
        storage.set_trial_intermediate_value(trial_id, 5, -math.inf)
        storage.set_trial_user_attr(trial_id, "i", i)
        storage.set_trial_system_attr(trial_id, "sys", {"i": [i]})
        storage.record_heartbeat(trial_id)
        if state == TrialState.COMPLETE:
            storage.set_trial_state_values(trial_id, state, [math.inf if i == 4 else 0.5 * i])
        elif state != TrialState.RUNNING:
            storage.set_trial_state_values(trial_id, state)
    template = FrozenTrial(
        number=0,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={"x": 0.25},
        distributions={"x": dists["x"]},
        user_attrs={"t": 1},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )
    storage.create_new_trial(single, template)
    multi = storage.create_new_study([StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE])
    trial_id = storage.create_new_trial(multi)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [-math.inf, 1e300])


def test_optuna_reads_what_trialstore_wrote(url: str) -> None:
    ours = RDBStorage(url)
    _fill_with_trialstore(ours)
    theirs = optuna.storages.RDBStorage(url)  # checks the schema version: must accept it
    try:
        _same_studies(ours, theirs)
        study = optuna.load_study(study_name="ts-single", storage=url)
        assert study.best_trial.number == 4
        assert study.best_trial.value == math.inf
        # Optuna keeps writing to it, and trialstore sees that.
        study.optimize(lambda t: t.suggest_float("x", -1.0, 1.0), n_trials=2)
        _same_studies(ours, theirs)
        assert ours.get_n_trials(ours.get_study_id_from_name("ts-single")) == 7
    finally:
        ours.close()
        theirs.engine.dispose()


def _schema(url: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        schema: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            columns = []
            for column in inspector.get_columns(table):
                column_type = column["type"]
                kind = type(column_type).__name__.upper()
                enums = tuple(getattr(column_type, "enums", ()) or ())
                length = getattr(column_type, "length", None)
                if kind in ("DATETIME", "TIMESTAMP"):
                    kind = "DATETIME"  # MySQL: DATETIME(6) here, DATETIME in Optuna
                columns.append((column["name"], kind, enums, length, column["nullable"]))
            uniques = sorted(
                tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)
            )
            unique_indexes = sorted(
                tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]
            )
            indexes = {tuple(i["column_names"]) for i in inspector.get_indexes(table)}
            fks = sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            )
            pk = tuple(inspector.get_pk_constraint(table)["constrained_columns"])
            schema[table] = {
                "columns": columns,
                "unique": sorted(set(uniques) | set(unique_indexes)),
                "indexes": indexes,
                "fks": fks,
                "pk": pk,
            }
        with engine.connect() as connection:
            schema["_rows"] = (
                connection.execute(sa.text("SELECT version_num FROM alembic_version")).all(),
                connection.execute(
                    sa.text("SELECT version_info_id, schema_version FROM version_info")
                ).all(),
            )
        return schema
    finally:
        engine.dispose()


def test_schema_equals_optunas(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Optuna 5.0 and trialstore create the same tables, columns, enums, keys and version
    rows on every dialect (trialstore adds indexes, and its tables of deleted trials and
    snapshot segments)."""
    for dialect in DIALECTS:
        (tmp_path / dialect).mkdir()
        (tmp_path / f"{dialect}-o").mkdir()
    for dialect in DIALECTS:
        try:
            ours_url = database_url(request, dialect, tmp_path / dialect)
        except pytest.skip.Exception:
            continue
        if dialect == "sqlite":
            theirs_url = f"sqlite:///{tmp_path / (dialect + '-o') / 'test.db'}"
        else:
            theirs_url = _sibling_database(ours_url)
        RDBStorage(ours_url).close()
        optuna.storages.RDBStorage(theirs_url).engine.dispose()
        ours, theirs = _schema(ours_url), _schema(theirs_url)
        # trialstore's tables of its own, which Optuna ignores
        assert set(ours) == set(theirs) | OWN_TABLES, dialect
        for table in theirs:
            if table == "_rows":
                assert ours[table] == theirs[table], dialect
                continue
            for key in ("columns", "unique", "fks", "pk"):
                assert ours[table][key] == theirs[table][key], (dialect, table, key)
            # trialstore may add indexes, never drop Optuna's
            assert theirs[table]["indexes"] <= ours[table]["indexes"], (dialect, table)


def _sibling_database(url: str) -> str:
    """Create a second empty database next to the fixture's (dropped with the server's
    fixture database name as prefix by the test itself)."""
    parsed = sa.engine.make_url(url)
    name = f"{parsed.database}_o"
    parsed = parsed.set(database="postgres" if parsed.get_backend_name() == "postgresql" else "")
    admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    _CLEANUP.append((parsed, name))
    return parsed.set(database=name).render_as_string(hide_password=False)


_CLEANUP: list[tuple[sa.URL, str]] = []


@pytest.fixture(autouse=True)
def _drop_siblings() -> Any:
    yield
    while _CLEANUP:
        parsed, name = _CLEANUP.pop()
        admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            if parsed.get_backend_name() == "postgresql":
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
