"""RDBStorage (trialstore/storage/rdb/): URLs, errors, schema versions and upgrades, Optuna's
old databases, pickling, incremental reads."""

from __future__ import annotations

import math
import pickle
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _fixtures import optuna_fixture
from _rdb_helpers import DIALECTS, database_url, trial_key

from trialstore.conformance._base import make_template
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import (
    StorageInternalError,
    StorageNotFoundError,
    UpdateFinishedTrialError,
)
from trialstore.storage import get_storage
from trialstore.storage.rdb import RDBStorage, _cache, _fast_paths, _read
from trialstore.storage.rdb._dml import MAX_PARAMS_PER_STATEMENT
from trialstore.storage.rdb._engine import create_engine, normalize_url
from trialstore.storage.rdb._trial_writes import TrialWrites
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

SECRET = "s3cr3t-pw"

optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- URLs and errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "drivername"),
    [
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("mysql://u@h/db", "mysql+pymysql"),
        ("mariadb://u@h/db", "mariadb+pymysql"),
        ("mysql+pymysql://u@h/db", "mysql+pymysql"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_urls_pick_the_installed_drivers(url: str, drivername: str) -> None:
    assert normalize_url(url).drivername == drivername


def test_mysql_urls_default_to_utf8mb4() -> None:
    assert normalize_url("mysql://u@h/db").query["charset"] == "utf8mb4"
    assert normalize_url("mysql://u@h/db?charset=latin1").query["charset"] == "latin1"


def test_get_storage_accepts_rdb_urls(tmp_path: Path) -> None:
    storage = get_storage(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(storage, RDBStorage)
    storage.close()


def _message(error: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(error.value)
    assert SECRET not in text
    assert SECRET not in repr(error.value)
    return text


def test_unknown_database_names_the_supported_ones() -> None:
    with pytest.raises(ValueError) as error:
        RDBStorage(f"oracle://scott:{SECRET}@h/db")
    text = _message(error)
    assert "sqlite" in text and "postgresql" in text and "mysql" in text and "***" in text
    with pytest.raises(ValueError) as error:
        get_storage(f"nosuch://u:{SECRET}@h/db")
    _message(error)


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        ("postgresql+psycopg2://u:{pw}@h/db", "psycopg2-binary"),
        ("mysql+mysqldb://u:{pw}@h/db", "mysqlclient"),
    ],
)
def test_missing_driver_says_what_to_install(url: str, hint: str) -> None:
    with pytest.raises(ImportError) as error:
        RDBStorage(url.format(pw=SECRET))
    assert hint in _message(error)


@pytest.mark.parametrize(
    "url",
    [f"postgresql://postgres:{SECRET}@127.0.0.1:1/db", f"mysql://root:{SECRET}@127.0.0.1:1/db"],
)
def test_unreachable_server_is_one_clear_error(url: str) -> None:
    with pytest.raises(StorageInternalError) as error:
        RDBStorage(url)
    text = _message(error)
    assert "127.0.0.1:1 is running and reachable" in text
    assert "***" in text


@pytest.mark.mysql
def test_wrong_password_is_one_clear_error(mysql_url: str) -> None:
    url = sa.engine.make_url(mysql_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    user = f"ts_{url.database}"[:32]
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-pw'"))
    try:
        with pytest.raises(StorageInternalError) as error:
            RDBStorage(url.set(username=user, password=SECRET).render_as_string(False))
        text = _message(error)
        assert "check the user name and password" in text and "***" in text
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


@pytest.mark.postgresql
def test_missing_postgresql_role_is_one_clear_error(postgres_url: str) -> None:
    url = sa.engine.make_url(postgres_url).set(username="no_such_role", password=SECRET)
    with pytest.raises(StorageInternalError) as error:
        RDBStorage(url.render_as_string(hide_password=False))
    assert "check the user name and password" in _message(error)


# -- schema versions ---------------------------------------------------------------------------


def _copy_fixture(name: str, tmp_path: Path) -> str:
    return f"sqlite:///{optuna_fixture(name, tmp_path)}"


def _upgrade(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trialstore.cli", "storage", "upgrade", "--storage", url],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_old_schema_is_refused_with_the_upgrade_command(tmp_path: Path) -> None:
    url = _copy_fixture("rdb-schema-2.6.0.a.db", tmp_path)
    with pytest.raises(StorageInternalError) as error:
        RDBStorage(url)
    assert f"trialstore storage upgrade --storage '{url}'" in str(error.value)
    assert "v2.6.0.a" in str(error.value)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # Optuna reading its old distributions
@pytest.mark.parametrize(
    "fixture", ["rdb-schema-2.6.0.a.db", "rdb-schema-3.0.0.d.db", "rdb-schema-3.2.0.a.db"]
)
def test_optuna_fixture_databases_upgrade_and_read_as_optuna_reads_them(
    fixture: str, tmp_path: Path
) -> None:
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours_url = _copy_fixture(fixture, tmp_path / "ours")
    theirs_url = _copy_fixture(fixture, tmp_path / "theirs")
    result = _upgrade(ours_url)
    assert result.returncode == 0, result.stderr
    assert "v3.2.0.a" in result.stdout
    theirs = optuna.storages.RDBStorage(theirs_url, skip_compatibility_check=True)
    theirs.upgrade()
    ours = RDBStorage(ours_url)
    try:
        their_studies = theirs.get_all_studies()
        assert [s.study_name for s in ours.get_all_studies()] == [
            s.study_name for s in their_studies
        ]
        assert sum(len(theirs.get_all_trials(s._study_id)) for s in their_studies) > 0
        for study in their_studies:
            assert [trial_key(t) for t in ours.get_all_trials(study._study_id)] == [
                trial_key(t) for t in theirs.get_all_trials(study._study_id)
            ]
        # The upgraded database is at Optuna's head: Optuna opens it as is, and so do we
        # when it was Optuna that upgraded it.
        optuna.storages.RDBStorage(ours_url).engine.dispose()
        RDBStorage(theirs_url).close()
    finally:
        ours.close()
        theirs.engine.dispose()
    again = _upgrade(ours_url)
    assert again.returncode == 0 and "already at revision v3.2.0.a" in again.stdout


def test_upgrade_command_reports_errors_without_the_password() -> None:
    result = _upgrade(f"postgresql://u:{SECRET}@127.0.0.1:1/db")
    assert result.returncode == 1
    assert SECRET not in result.stderr and "***" in result.stderr


def test_skip_table_creation_never_creates(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    url = f"sqlite:///{path}"
    with pytest.raises(StorageNotFoundError, match="the file does not exist"):
        RDBStorage(url, skip_table_creation=True)
    assert not path.exists()
    path.touch()
    with pytest.raises(StorageNotFoundError, match="holds no trialstore/Optuna tables"):
        RDBStorage(url, skip_table_creation=True)
    RDBStorage(url).close()
    RDBStorage(url, skip_table_creation=True).close()


# -- behaviour ---------------------------------------------------------------------------------


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request, request.param, tmp_path)


def test_pickled_storage_works_in_a_child_process(url: str) -> None:
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "pickled")
    script = (
        "import pickle, sys\n"
        "from trialstore.trial import TrialState\n"
        "storage = pickle.loads(sys.stdin.buffer.read())\n"
        f"trial_id = storage.create_new_trial({study_id})\n"
        "storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(storage),
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert [t.values for t in storage.get_all_trials(study_id)] == [[2.0]]
    storage.close()


@pytest.mark.parametrize(
    "system_attrs", [{}, {"trialstore:create_request_id": "ab12"}, {"a": [1, "x"], "b": None}]
)
def test_running_template_with_system_attrs_only_reads_back(
    url: str, system_attrs: dict[str, Any]
) -> None:
    """What the gRPC proxy sends for every create; PostgreSQL writes it in one pipelined
    statement, the other dialects as any template."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "marked")
    template = make_template(TrialState.RUNNING, system_attrs=system_attrs)
    trial_id = storage.create_new_trial(study_id, template)
    second = storage.create_new_trial(study_id, template)
    fresh = RDBStorage(url)
    for reader in (storage, fresh):
        trial = reader.get_trial(trial_id)
        assert (trial.number, trial.state, trial.system_attrs) == (
            0, TrialState.RUNNING, system_attrs
        )  # fmt: skip
        assert trial.datetime_start == template.datetime_start
        assert trial.params == {} and trial.values is None
        assert reader.get_trial(second).number == 1
    with pytest.raises(KeyError):
        storage.create_new_trial(study_id + 1000, template)
    storage.close()
    fresh.close()


def test_reads_are_incremental(url: str) -> None:
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "incremental")
    for i in range(5):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        if i < 4:
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
    first = storage.get_all_trials(study_id, deepcopy=False)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    # Another process finishes the running trial and adds one: one query brings both.
    other.set_trial_state_values(first[4]._trial_id, TrialState.PRUNED)
    other.create_new_trial(study_id)
    second = storage.get_all_trials(study_id, deepcopy=False)
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1
    assert [t.state for t in second][4:] == [TrialState.PRUNED, TrialState.RUNNING]
    # finished trials are kept, not re-read
    assert all(a is b for a, b in zip(first[:4], second[:4], strict=True))
    storage.close()
    other.close()


@pytest.mark.parametrize("max_in_list", [500, 3])  # 3: unfinished trials read by id range
def test_state_filtered_reads_follow_trials_finishing_out_of_order(
    url: str, max_in_list: int, monkeypatch: Any
) -> None:
    """Finished trials are kept per state; whatever order trials finish in (by this process
    or another one), a filtered read equals filtering a fresh process's full read."""
    import random

    monkeypatch.setattr(_cache, "MAX_IN_LIST", max_in_list)
    rng = random.Random(7)
    reader, writer = RDBStorage(url), RDBStorage(url)
    study_id = reader.create_new_study([StudyDirection.MINIMIZE], "by-state")
    filters: list[tuple[TrialState, ...] | None] = [
        None,
        (TrialState.COMPLETE,),
        (TrialState.PRUNED,),
        (TrialState.FAIL,),
        (TrialState.COMPLETE, TrialState.PRUNED),
        (TrialState.RUNNING,),
        (TrialState.WAITING, TrialState.COMPLETE),
    ]
    open_ids: list[int] = []
    for step in range(60):
        if rng.random() < 0.5 or not open_ids:
            template = make_template(TrialState.WAITING) if rng.random() < 0.2 else None
            open_ids.append(rng.choice([reader, writer]).create_new_trial(study_id, template))
        else:
            trial_id = open_ids.pop(rng.randrange(len(open_ids)))
            state = rng.choice([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL])
            values = [float(step)] if state == TrialState.COMPLETE else None
            rng.choice([reader, writer]).set_trial_state_values(trial_id, state, values)
        fresh = RDBStorage(url)
        everything = fresh.get_all_trials(study_id, deepcopy=False)
        fresh.close()
        for states in filters:
            got = reader.get_all_trials(study_id, deepcopy=False, states=states)
            expected = [t for t in everything if states is None or t.state in states]
            assert [(t._trial_id, t.number, t.state) for t in got] == [
                (t._trial_id, t.number, t.state) for t in expected
            ], (step, states)
            held = {t._trial_id: t for t in reader.get_all_trials(study_id, deepcopy=False)}
            finished = [t for t in got if t.state.is_finished()]
            assert all(held[t._trial_id] is t for t in finished)  # one object per final trial
            got.clear()  # a new list each time: the caller may change it
    assert reader.get_all_trials(study_id, deepcopy=False, states=(TrialState.FAIL,))
    reader.close()
    writer.close()


@pytest.mark.parametrize("max_in_list", [2, 1000])
def test_create_or_list_waiting_matches_the_stored_trials(
    url: str, max_in_list: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """create_trial_or_list_waiting (on PostgreSQL one statement that probes from what this
    object saw before, shared with the WAITING reads) against the stored truth, while another
    object enqueues, claims and finishes trials."""
    import random

    monkeypatch.setattr(_cache, "MAX_IN_LIST", max_in_list)
    rng = random.Random(11)
    caller, other = RDBStorage(url), RDBStorage(url)
    study_id = caller.create_new_study([StudyDirection.MINIMIZE], "create-or-list")
    for step in range(80):
        action = rng.random()
        if action < 0.3:
            other.create_new_trial(study_id, make_template(TrialState.WAITING))
        elif action < 0.5:
            trials = other.get_all_trials(study_id, deepcopy=False)
            unfinished = [t for t in trials if not t.state.is_finished()]
            if unfinished:
                trial = rng.choice(unfinished)
                if trial.state == TrialState.WAITING and rng.random() < 0.5:
                    assert other.set_trial_state_values(trial._trial_id, TrialState.RUNNING)
                else:
                    other.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        elif action < 0.6:
            caller.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
        else:
            before = other.get_all_trials(study_id, deepcopy=False)
            waiting = [t._trial_id for t in before if t.state == TrialState.WAITING]
            got = caller.create_trial_or_list_waiting(study_id)
            if waiting:
                assert got == waiting, step
            else:
                assert isinstance(got, int), step
                assert other.get_trial(got).number == len(before), step
                assert other.get_trial(got).state == TrialState.RUNNING, step
    other.delete_study(study_id)
    with pytest.raises(KeyError):
        caller.create_trial_or_list_waiting(study_id)
    caller.close()
    other.close()


@pytest.mark.parametrize("lost", ["before the statement", "after the statement", "at COMMIT"])
def test_mariadb_creates_in_two_statements_and_never_twice(
    request: pytest.FixtureRequest, tmp_path: Path, lost: str
) -> None:
    """On MariaDB, create_trial_or_list_waiting is one compound statement (lock, WAITING
    check, insert), then COMMIT. A connection lost before COMMIT left nothing: the retry
    creates the one trial. Lost while committing, the outcome is unknown: the call raises
    StorageInternalError rather than risk a second trial."""
    url = database_url(request, "mysql", tmp_path)
    storage = RDBStorage(url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "compound")
    storage.create_trial_or_list_waiting(study_id)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    storage.create_trial_or_list_waiting(study_id)
    assert [s.split()[0] for s in statements] == ["BEGIN", "COMMIT"]
    assert statements[0].startswith("BEGIN NOT ATOMIC")

    import pymysql

    interfered: list[str] = []
    target = "COMMIT" if lost == "at COMMIT" else "BEGIN NOT ATOMIC"

    def lose(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and statement.startswith(target):
            interfered.append(statement)
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    event = "before_cursor_execute" if lost == "before the statement" else "after_cursor_execute"
    sa.event.listen(storage._engine, event, lose)
    if lost == "at COMMIT":  # the COMMIT ran, then its reply was lost
        with pytest.raises(StorageInternalError, match="may or may not"):
            storage.create_trial_or_list_waiting(study_id)
    else:
        assert isinstance(storage.create_trial_or_list_waiting(study_id), int)
    assert interfered
    numbers = [t.number for t in RDBStorage(url).get_all_trials(study_id, deepcopy=False)]
    assert numbers == [0, 1, 2]
    storage.close()


def test_waiting_trials_are_probed_with_one_light_query(url: str) -> None:
    """The study layer asks for WAITING trials before each new trial: with none waiting that
    is one query of ids and states, and a WAITING trial made elsewhere is still found (also
    on the next ask, until it is claimed)."""
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "probe")
    waiting_only = (TrialState.WAITING,)
    for _ in range(3):
        storage.set_trial_state_values(storage.create_new_trial(study_id), TrialState.PRUNED)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert storage.get_all_trials(study_id, states=waiting_only) == []
    assert len(statements) == 1 and "trial_params" not in statements[0]
    waiting = other.create_new_trial(study_id, make_template(TrialState.WAITING))
    other.create_new_trial(study_id)
    for _ in range(2):
        found = storage.get_all_trials(study_id, deepcopy=False, states=waiting_only)
        assert [(t._trial_id, t.number, t.state) for t in found] == [
            (waiting, 3, TrialState.WAITING)
        ]
    assert other.set_trial_state_values(waiting, TrialState.RUNNING)
    assert storage.get_all_trials(study_id, states=waiting_only) == []
    assert storage.get_all_trials(study_id, states=[TrialState.WAITING, TrialState.RUNNING])
    other.delete_study(study_id)
    with pytest.raises(KeyError):
        storage.get_all_trials(study_id, states=waiting_only)
    storage.close()
    other.close()


def test_close_releases_connections(url: str) -> None:
    storage = RDBStorage(url)
    storage.create_new_study([StudyDirection.MINIMIZE])
    storage.close()
    pool = storage._engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    assert pool.checkedout() == 0


def test_engine_kwargs_are_passed_through(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kw.db'}"
    storage = RDBStorage(url, engine_kwargs={"pool_size": 3, "connect_args": {"timeout": 7}})
    assert storage._engine.pool.size() == 3  # type: ignore[attr-defined]
    storage.close()
    with pytest.raises(ValueError, match="isolation_level"):
        RDBStorage(url, engine_kwargs={"isolation_level": "SERIALIZABLE"})


def test_schema_check_sees_what_the_inspector_sees(url: str) -> None:
    """The one-query catalog read of the schema check agrees with SQLAlchemy's inspector, and
    a missing trialstore index makes the schema incomplete (the next open adds it back)."""
    from trialstore.storage.rdb._schema import inspect_schema
    from trialstore.storage.rdb._tables import EXTRA_INDEXES

    RDBStorage(url).close()
    engine = sa.create_engine(url)
    extra = EXTRA_INDEXES[0]
    try:
        with engine.connect() as connection:
            state = inspect_schema(connection)
            inspector = sa.inspect(connection)
            assert state.tables == set(inspector.get_table_names())
            assert {str(i["name"]) for i in inspector.get_indexes("trials")} <= state.indexes
            assert state.complete
        with engine.begin() as connection:
            extra.drop(connection)
        with engine.connect() as connection:
            state = inspect_schema(connection)
            assert extra.name not in state.indexes and not state.complete
        RDBStorage(url).close()
        with engine.connect() as connection:
            assert inspect_schema(connection).complete
    finally:
        engine.dispose()


def test_upgrade_from_optunas_first_schema(url: str) -> None:
    """Optuna's own scripts build its first schema (v0.9.0.a, one direction per study, one
    value per trial, numbers in a system attribute, old distribution names); trialstore's
    migrations bring it to the head, and both libraries read the result."""
    from alembic import command
    from alembic.config import Config

    optuna_rdb = Path(optuna.__file__).parent / "storages" / "_rdb"
    config = Config(str(optuna_rdb / "alembic.ini"))
    config.set_main_option("script_location", str(optuna_rdb / "alembic"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "v0.9.0.a")
    engine = sa.create_engine(url)
    uniform = '{"name": "UniformDistribution", "attributes": {"low": 0.0, "high": 1.0}}'
    with engine.begin() as connection:
        run = connection.execute
        run(sa.text("INSERT INTO version_info VALUES (1, 10, '0.9.0')"))
        run(
            sa.text(
                "INSERT INTO studies (study_id, study_name, direction) "
                "VALUES (1, 'old', 'MAXIMIZE')"
            )
        )
        run(
            sa.text(
                "INSERT INTO trials (trial_id, study_id, state, value, datetime_start, "
                "datetime_complete) VALUES (1, 1, 'COMPLETE', 1.5, "
                "'2019-03-01 10:00:00', '2019-03-01 10:00:05')"
            )
        )
        run(
            sa.text(
                "INSERT INTO trial_params (trial_id, param_name, param_value, "
                "distribution_json) VALUES (1, 'x', 0.5, :d)"
            ),
            {"d": uniform},
        )
        run(sa.text("INSERT INTO trial_values (trial_id, step, value) VALUES (1, 0, 0.25)"))
        run(
            sa.text(
                'INSERT INTO trial_system_attributes (trial_id, "key", value_json) '
                "VALUES (1, '_number', '0')"
                if engine.dialect.name != "mysql"
                else "INSERT INTO trial_system_attributes (trial_id, `key`, value_json) "
                "VALUES (1, '_number', '0')"
            )
        )
    engine.dispose()
    result = _upgrade(url)
    assert result.returncode == 0, result.stderr
    storage = RDBStorage(url)
    try:
        assert storage.get_study_directions(1) == [StudyDirection.MAXIMIZE]
        (trial,) = storage.get_all_trials(1)
        assert (trial.number, trial.state, trial.values) == (0, TrialState.COMPLETE, [1.5])
        assert trial.params == {"x": 0.5}
        assert trial.distributions == {"x": FloatDistribution(0.0, 1.0)}
        assert trial.intermediate_values == {0: 0.25}
        assert trial.system_attrs == {}
    finally:
        storage.close()
    theirs = optuna.storages.RDBStorage(url)
    assert [t.value for t in theirs.get_all_trials(1)] == [1.5]
    theirs.engine.dispose()


@pytest.mark.mysql
def test_plain_mysql_url_works_without_mysqlclient(mysql_url: str) -> None:
    plain = "mysql://" + mysql_url.split("://", 1)[1]
    storage = RDBStorage(plain)
    assert storage._engine.dialect.driver == "pymysql"
    assert storage.create_new_study([StudyDirection.MINIMIZE], "plain") >= 0
    storage.close()


@pytest.mark.mysql
@pytest.mark.parametrize(("connect_args", "tls_contexts"), [({}, 0), ({"ssl_disabled": False}, 1)])
def test_loopback_mysql_connections_build_no_tls_context(
    mysql_url: str, connect_args: dict[str, Any], tls_contexts: int, monkeypatch: Any
) -> None:
    import pymysql.connections

    built: list[Any] = []
    create = pymysql.connections.Connection._create_ssl_ctx

    def recording_create(self: Any, sslp: Any) -> Any:
        built.append(sslp)
        return create(self, sslp)

    monkeypatch.setattr(pymysql.connections.Connection, "_create_ssl_ctx", recording_create)
    assert sa.engine.make_url(mysql_url).host == "127.0.0.1"
    storage = RDBStorage(mysql_url, engine_kwargs={"connect_args": connect_args})
    try:
        assert storage.create_new_study([StudyDirection.MINIMIZE], "tls") >= 0
        assert len(built) == tls_contexts  # one connection: the pool keeps it
    finally:
        storage.close()


@pytest.mark.parametrize(
    ("url", "connect_args", "tls_off"),
    [
        ("mysql+pymysql://u@127.0.0.1/db", {}, True),
        ("mysql+pymysql://u@127.3.4.5/db", {"connect_timeout": 3}, True),
        ("mysql+pymysql://u@[::1]/db", {}, True),
        ("mysql+pymysql://u@localhost/db", {}, True),
        ("mysql+pymysql://u@/db?unix_socket=/run/mysqld/mysqld.sock", {}, True),
        ("mysql+pymysql://u@db.example.org/db", {}, False),
        ("mysql+pymysql://u@198.18.0.1/db", {}, False),
        ("mysql+pymysql://u@127.0.0.1/db?ssl_ca=/ca.pem", {}, False),
        ("mysql+pymysql://u@127.0.0.1/db", {"ssl_verify_cert": True}, False),
        ("mysql+pymysql://u@127.0.0.1/db", {"ssl_disabled": False}, False),
    ],
)
def test_only_loopback_mysql_urls_without_tls_options_turn_tls_off(
    url: str, connect_args: dict[str, Any], tls_off: bool, monkeypatch: Any
) -> None:
    seen: dict[str, Any] = {}

    def capture(url: sa.URL, **kwargs: Any) -> None:
        seen.update(kwargs)
        raise LookupError("captured")

    monkeypatch.setattr(sa, "create_engine", capture)
    with pytest.raises(LookupError, match="captured"):
        create_engine(normalize_url(url), {"connect_args": connect_args})
    assert seen["connect_args"].get("ssl_disabled", False) is tls_off
    assert seen["connect_args"].items() >= connect_args.items()  # the caller's, kept


@pytest.mark.postgresql
def test_postgres_alias_url_works(postgres_url: str) -> None:
    alias = "postgres://" + postgres_url.split("://", 1)[1]
    storage = RDBStorage(alias)
    assert storage._engine.dialect.driver == "psycopg"
    assert storage.create_new_study([StudyDirection.MINIMIZE], "alias") >= 0
    storage.close()


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_first_write_of_a_name_sees_a_finish_committed_meanwhile(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    dialect: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A parameter name new to this object is written in a transaction that first reads the
    study's earlier distribution of it. A finish committed by another process after that read
    must still make the write fail. (Found by the stress suite on MariaDB: the state check
    after the write found nothing to update used a plain read, which sees the transaction's
    snapshot, so the write was reported done and was lost.) SQLite is left out: its write
    transactions are serialized, so the finish cannot commit in between."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "snapshot")
    trial_id = storage.create_new_trial(study_id)
    real = TrialWrites.known_distribution

    def finish_meanwhile(self: TrialWrites, connection: sa.Connection, sid: int, name: str) -> Any:
        found = real(self, connection, sid, name)
        other.set_trial_state_values(trial_id, TrialState.FAIL)
        return found

    monkeypatch.setattr(TrialWrites, "known_distribution", finish_meanwhile)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    monkeypatch.undo()
    assert other.get_trial(trial_id).params == {}
    assert other.get_trial(trial_id).state == TrialState.FAIL
    storage.close()
    other.close()


def _transient_error(dialect: str) -> Exception:
    """A driver error that the storage retries (a conflict), raised by hand."""
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.OperationalError("database is locked")
    if dialect == "postgresql":
        import psycopg

        return psycopg.errors.SerializationFailure("could not serialize access")
    import pymysql

    deadlock: Exception = pymysql.err.OperationalError(
        1213, "Deadlock found when trying to get lock"
    )
    return deadlock


@pytest.mark.parametrize(
    ("dialect", "target"),
    [
        ("sqlite", TrialState.RUNNING),
        ("postgresql", TrialState.RUNNING),
        ("postgresql", TrialState.PRUNED),  # PostgreSQL finishes in one autocommit statement
        ("mysql", TrialState.RUNNING),
    ],
)
def test_retry_after_a_lost_reply_tells_whose_claim_or_finish_it_was(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, target: TrialState
) -> None:
    """A claim or finish is retried after a transient error; the retry finds the trial no
    longer claimable or finishable and must tell whether the first attempt did that.

    Claim: the first attempt took the trial, its reply was lost, and another process failed
    the trial in between: the claim succeeded (found by the stress suite: a claim cut off by
    a MariaDB SIGKILL raised UpdateFinishedTrialError although it took the trial). Finish:
    the first attempt never ran and another process finished the trial in the same state:
    the finish was not ours and must raise, not report success."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "retry")
    claim = target == TrialState.RUNNING
    trial_id = storage.create_new_trial(
        study_id, make_template(TrialState.WAITING if claim else TrialState.RUNNING)
    )
    column = "datetime_start" if claim else "datetime_complete"
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and "UPDATE trials" in statement and column in statement:
            interfered.append(statement)
            other.set_trial_state_values(trial_id, TrialState.FAIL if claim else target)
            raise _transient_error(dialect)

    event = "after_cursor_execute" if claim else "before_cursor_execute"
    sa.event.listen(storage._engine, event, interfere)
    if claim:
        assert storage.set_trial_state_values(trial_id, target) is True
        assert storage.get_trial(trial_id).state == TrialState.FAIL
    else:
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_state_values(trial_id, target)
    assert interfered
    storage.close()
    other.close()


def _check_a_retried_params_and_finish(
    storage: RDBStorage, other: RDBStorage, trial_id: int, first_attempt_ran: bool
) -> None:
    """Finish ``trial_id`` with a batch through ``storage``, whose first attempt is
    interfered with: if that attempt ran, the retry returns True and the batch is stored;
    else ``other`` finished the trial first (value 2.0), and the call raises
    UpdateFinishedTrialError with nothing of the batch stored. Closes both storages."""
    batch = {"x": (0.25, FloatDistribution(0, 1))}
    if first_attempt_ran:
        assert storage.set_trial_params_and_state_values(
            trial_id, batch, TrialState.COMPLETE, [2.0]
        )
        assert other.get_trial(trial_id).params == {"x": 0.25}
    else:
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_params_and_state_values(trial_id, batch, TrialState.COMPLETE, [2.0])
        assert other.get_trial(trial_id).params == {}
    assert other.get_trial(trial_id).values == [2.0]
    storage.close()
    other.close()


@pytest.mark.parametrize("first_attempt_ran", [True, False])
def test_postgresql_params_and_finish_is_one_statement_and_retried_safely(
    request: pytest.FixtureRequest, tmp_path: Path, first_attempt_ran: bool
) -> None:
    """set_trial_params_and_state_values on PostgreSQL, with names the object knows: one
    statement. Retried after a transient error, it finds the trial finished and must tell
    whether its first attempt did it (True) or another process did (UpdateFinishedTrialError,
    nothing of the batch stored)."""
    url = database_url(request, "postgresql", tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "combined")
    dist = FloatDistribution(0, 1)
    storage.set_trial_params(storage.create_new_trial(study_id), {"x": (0.5, dist)})
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    warm = storage.create_new_trial(study_id)
    statements.clear()
    assert storage.set_trial_params_and_state_values(
        warm, {"x": (0.75, dist)}, TrialState.COMPLETE, [3.0]
    )
    assert len(statements) == 1
    assert (other.get_trial(warm).params, other.get_trial(warm).values) == ({"x": 0.75}, [3.0])

    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and "trial_params" in statement and "UPDATE trials" in statement:
            interfered.append(statement)
            if not first_attempt_ran:
                other.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
            raise _transient_error("postgresql")

    event = "after_cursor_execute" if first_attempt_ran else "before_cursor_execute"
    sa.event.listen(storage._engine, event, interfere)
    _check_a_retried_params_and_finish(storage, other, trial_id, first_attempt_ran)
    assert interfered


def _lost_connection(dialect: str) -> Exception:
    """A driver error that SQLAlchemy takes for a lost connection, raised by hand."""
    if dialect == "sqlite":
        import sqlite3

        return sqlite3.ProgrammingError("Cannot operate on a closed database.")
    import pymysql

    lost: Exception = pymysql.err.OperationalError(2013, "Lost connection to server during query")
    return lost


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
@pytest.mark.parametrize("first_attempt_ran", [True, False])
def test_params_and_finish_is_one_transaction_and_retried_safely(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dialect: str,
    first_attempt_ran: bool,
) -> None:
    """set_trial_params_and_state_values on MySQL and SQLite, with names the object knows:
    one transaction, one commit. Retried after its commit's reply was lost, it finds the
    trial finished by itself (True, the batch stored); retried after a conflict, with
    another process's finish in between, it raises UpdateFinishedTrialError and stores
    nothing of the batch (the retry tells the two apart by the finish's timestamp)."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "combined")
    dist = FloatDistribution(0, 1)
    storage.set_trial_params(storage.create_new_trial(study_id), {"x": (0.5, dist)})
    warm = storage.create_new_trial(study_id)
    statements: list[str] = []
    commits: list[object] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    sa.event.listen(storage._engine, "commit", commits.append)
    assert storage.set_trial_params_and_state_values(
        warm, {"x": (0.75, dist)}, TrialState.COMPLETE, [3.0]
    )
    writes = [" ".join(s.split()[:3]) for s in statements if s.startswith(("INSERT", "UPDATE"))]
    assert writes == ["INSERT INTO trial_params", "UPDATE trials SET", "INSERT INTO trial_values"]
    assert len(commits) == 1
    assert (other.get_trial(warm).params, other.get_trial(warm).values) == ({"x": 0.75}, [3.0])

    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []
    if first_attempt_ran:
        commit = storage._engine.dialect.do_commit

        def commit_then_lose_the_reply(dbapi_connection: Any) -> None:
            commit(dbapi_connection)
            if not interfered:
                interfered.append("commit")
                raise _lost_connection(dialect)

        monkeypatch.setattr(storage._engine.dialect, "do_commit", commit_then_lose_the_reply)
    else:

        def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # before the transaction begins (SQLite's BEGIN IMMEDIATE would block `other`)
            if not interfered and statement.startswith(("BEGIN", "START TRANSACTION")):
                interfered.append(statement)
                other.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0])
                raise _transient_error(dialect)

        sa.event.listen(storage._engine, "before_cursor_execute", interfere)
    _check_a_retried_params_and_finish(storage, other, trial_id, first_attempt_ran)
    assert interfered


def test_a_param_batch_is_one_statement_once_its_names_are_known(url: str) -> None:
    """set_trial_params: names new to the process are checked in a transaction that locks the
    study (as set_trial_param does); after that a batch is one autocommit statement, and a
    batch larger than one statement carries is split inside one transaction."""
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "batch")
    dist = FloatDistribution(0, 1)
    batch = {f"x{i}": (i / 10, dist) for i in range(5)}
    storage.set_trial_params(storage.create_new_trial(study_id), batch)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    trial_id = storage.create_new_trial(study_id)
    statements.clear()
    storage.set_trial_params(trial_id, batch)
    assert len(statements) == 1 and statements[0].lstrip().startswith("INSERT INTO trial_params")
    big = {f"y{i}": (0.5, dist) for i in range(MAX_PARAMS_PER_STATEMENT + 5)}
    storage.set_trial_params(trial_id, big)  # new names: checked under the study lock
    statements.clear()
    storage.set_trial_params(storage.create_new_trial(study_id), big)
    inserts = [s for s in statements if "trial_params" in s]
    begun = any(s.strip().upper().startswith(("BEGIN", "START TRANSACTION")) for s in statements)
    if storage._dialect == "postgresql":
        assert len(inserts) == 1  # one statement whatever the size (arrays)
    else:
        assert len(inserts) == 2 and begun
    trial = RDBStorage(url).get_trial(trial_id)
    assert list(trial.params) == [*batch, *big]
    storage.close()


# -- MariaDB: one row per trial (_read_folded) -------------------------------------------------


def _varied_study(storage: RDBStorage) -> int:
    """A study holding every kind of stored value: each distribution, whole and special
    floats, non-ASCII names, nested attributes, unfinished trials."""
    rnd = random.Random(7)
    study_id = storage.create_new_study(
        [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE], "varied"
    )
    dists: list[tuple[BaseDistribution, Callable[[], float]]] = [  # with internal values
        (FloatDistribution(-1e300, 1e300), lambda: rnd.choice([rnd.uniform(-1e300, 1e300), 2.0])),
        (FloatDistribution(1e-9, 1.0, log=True), lambda: min(1.0, 10 ** rnd.uniform(-9, 0))),
        (FloatDistribution(0, 10, step=0.5), lambda: rnd.randint(0, 20) * 0.5),
        (IntDistribution(-5, 5), lambda: rnd.randint(-5, 5)),
        (IntDistribution(1, 1024, log=True), lambda: rnd.randint(1, 1024)),
        (CategoricalDistribution([None, 1, 2.5, "a", True]), lambda: rnd.randrange(5)),
    ]  # fmt: skip
    specials = [math.inf, -math.inf, math.nan, 0.1 + 0.2, 1e-300, 5e-324, 3.0]
    for i in range(150):
        trial_id = storage.create_new_trial(study_id)
        for j in rnd.sample(range(len(dists)), k=rnd.randint(0, len(dists))):
            dist, draw = dists[j]
            storage.set_trial_param(trial_id, f"p{j}-é✓", draw(), dist)
        for step in range(rnd.randint(0, 3)):
            storage.set_trial_intermediate_value(trial_id, step, rnd.choice(specials))
        if rnd.random() < 0.5:
            storage.set_trial_user_attr(trial_id, "nested ü", {"a": [1, 2.5, None, "x\n"]})
            storage.set_trial_system_attr(trial_id, "s", [True, 1e-300])
        if i % 5:
            finite = [v for v in specials if not math.isnan(v)]
            values = [rnd.choice(finite), rnd.choice(finite)]
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values)
    return study_id


def test_mariadb_reads_one_row_per_trial_with_the_same_trials(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On MariaDB with PyMySQL, a study's first read is one row of JSON text per trial, read
    in batches as they arrive; every value reads back as the row-per-value read gives it
    (types and special floats included)."""
    from trialstore.storage.rdb import _read_folded

    study_id = _varied_study(RDBStorage(mysql_url))
    monkeypatch.setattr(_fast_paths, "FOLDED_BATCH", 16)  # 10 batches, the study row in one
    folded_reads: list[int] = []
    build = _read_folded.build_trials

    def recording_build(rows: Any) -> Any:
        folded_reads.append(1)
        return build(rows)

    monkeypatch.setattr(_read_folded, "build_trials", recording_build)
    folded = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(folded._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    got = folded.get_all_trials(study_id, deepcopy=False)
    assert folded_reads
    monkeypatch.setattr(_fast_paths, "mariadb_with_pymysql", lambda dialect: False)
    expected = RDBStorage(mysql_url).get_all_trials(study_id, deepcopy=False)
    assert len(folded_reads) == 1
    assert len(got) == 150
    assert [repr(t) for t in got] == [repr(t) for t in expected]


def test_mariadb_read_cut_short_by_the_server_reads_row_by_row(mysql_url: str) -> None:
    """A trial's array over ``group_concat_max_len`` (1 MiB) is cut by the server with a
    warning (JSON_ARRAYAGG). The read is done again row by row, and nothing is lost."""
    storage = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "big attrs")
    trial_id = storage.create_new_trial(study_id)
    attrs = {f"k{i:02}": "x" * 60_000 for i in range(20)}  # 20 x 60 kB (TEXT holds 64 kB)
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    union_reads: list[int] = []
    build = _read.build_trials

    def recording_build(rows: Any) -> Any:
        union_reads.append(1)
        return build(rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_read, "build_trials", recording_build)
        got = RDBStorage(mysql_url).get_all_trials(study_id)
    assert union_reads
    assert {t._trial_id: t.user_attrs for t in got} == {trial_id: attrs}


def test_mariadb_reads_large_trials_one_row_each(mysql_url: str) -> None:
    """64 trials of 20 kB each (1.3 MB together) come through the first read's rows of one
    trial each, with no read row by row."""
    storage = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "large trials")
    expected = {}
    for i in range(64):
        trial_id = storage.create_new_trial(study_id)
        expected[trial_id] = {"k": chr(ord("a") + i % 26) * 20_000}
        storage.set_trial_user_attr(trial_id, "k", expected[trial_id]["k"])
    union_reads: list[int] = []
    build = _read.build_trials

    def recording_build(rows: Any) -> Any:
        union_reads.append(1)
        return build(rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_read, "build_trials", recording_build)
        got = RDBStorage(mysql_url).get_all_trials(study_id)
    assert not union_reads
    assert {t._trial_id: t.user_attrs for t in got} == expected


# -- a write stored by an attempt whose reply was lost -----------------------------------------


_LOST_REPLY_WRITES: dict[str, tuple[str, Callable[[RDBStorage, int], None]]] = {
    "intermediate": (
        "trial_intermediate_values",
        lambda s, t: s.set_trial_intermediate_value(t, 3, math.nan),
    ),
    "user_attr": ("trial_user_attributes", lambda s, t: s.set_trial_user_attr(t, "k", (1, "a"))),
    "system_attr": ("trial_system_attributes", lambda s, t: s.set_trial_system_attr(t, "k", 2.5)),
    "param": (
        "trial_params",
        lambda s, t: s.set_trial_param(t, "x", 0.25, FloatDistribution(0, 1)),
    ),
    "params": (
        "trial_params",
        lambda s, t: s.set_trial_params(t, {"x": (0.25, FloatDistribution(0, 1))}),
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", list(_LOST_REPLY_WRITES))
@pytest.mark.parametrize("stored", [True, False])
def test_write_stored_before_a_lost_reply_and_a_finish_succeeds(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str, kind: str, stored: bool
) -> None:
    """A trial write is stored, its reply is lost (a server restart), another process
    finishes the trial, and the retry finds it finished: the write succeeded and must not
    raise UpdateFinishedTrialError, which promises nothing was written (found by the MariaDB
    full tier: an intermediate value reported failed was in the trial). A write whose
    first attempt did not take effect still raises."""
    url = database_url(request, dialect, tmp_path)
    storage = RDBStorage(url)
    other = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "lost reply")
    dist = FloatDistribution(0, 1)
    storage.set_trial_param(storage.create_new_trial(study_id), "x", 0.5, dist)  # name known
    table, write = _LOST_REPLY_WRITES[kind]
    trial_id = storage.create_new_trial(study_id)
    interfered: list[str] = []

    def interfere(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and statement.lstrip().startswith("INSERT") and table in statement:
            interfered.append(statement)
            other.set_trial_state_values(trial_id, TrialState.FAIL)
            raise _transient_error(dialect)

    # after the statement ran: its effect stays (autocommit); before: it never ran
    sa.event.listen(
        storage._engine, "after_cursor_execute" if stored else "before_cursor_execute", interfere
    )
    if stored:
        write(storage, trial_id)
    else:
        with pytest.raises(UpdateFinishedTrialError):
            write(storage, trial_id)
    assert interfered
    trial = other.get_trial(trial_id)
    assert trial.state == TrialState.FAIL
    held = {
        "intermediate": 3 in trial.intermediate_values,
        "user_attr": trial.user_attrs.get("k") == [1, "a"],
        "system_attr": trial.system_attrs.get("k") == 2.5,
        "param": trial.params.get("x") == 0.25,
        "params": trial.params.get("x") == 0.25,
    }[kind]
    assert held is stored
    storage.close()
    other.close()
