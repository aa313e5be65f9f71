"""RDBStorage (trialstore/storage/rdb/): URLs, errors, schema versions and upgrades, Optuna's
old databases, pickling, incremental reads."""

from __future__ import annotations

import pickle
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy as sa
from _fixtures import optuna_fixture
from _rdb_helpers import DIALECTS, database_url, trial_key

from trialstore.conformance._base import make_template
from trialstore.distributions import (
    FloatDistribution,
)
from trialstore.exceptions import (
    StorageInternalError,
    StorageNotFoundError,
)
from trialstore.storage import get_storage
from trialstore.storage.rdb import RDBStorage, _cache, _fast_paths
from trialstore.storage.rdb._engine import create_engine, normalize_url
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
    "system_attrs",
    [
        {},
        {"trialstore:create_request_id": "ab12"},
        {"a": [1, "x"], "b": None},
        # quoted on the client on PostgreSQL: quotes, array syntax, a backslash, SQL, unicode
        {"it's {a,b}": 'say "hi"; DROP TABLE trials; -- \\ é', "NULL": "{}"},
    ],
)
def test_running_template_with_system_attrs_only_reads_back(
    url: str, system_attrs: dict[str, Any]
) -> None:
    """What the gRPC proxy sends for every create; PostgreSQL writes it in one
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


@pytest.mark.parametrize("lost", ["before the statement", "after the statement"])
def test_mariadb_creates_in_one_statement_and_never_twice(
    request: pytest.FixtureRequest, tmp_path: Path, lost: str
) -> None:
    """On MariaDB, create_trial_or_list_waiting is one compound statement (lock, WAITING
    check, insert, token, COMMIT). A connection lost before it ran left nothing: the retry
    creates the one trial. Lost after it committed, the retry finds the create's token and
    returns that trial: never a second one. (Through SQLAlchemy's execution, as cursor
    listeners see it; test_rdb_driver.py injects the loss into the driver.)"""
    url = database_url(request, "mysql", tmp_path)
    storage = RDBStorage(url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "compound")
    first = storage.create_trial_or_list_waiting(study_id)
    statements: list[str] = []
    sa.event.listen(storage._engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    second = storage.create_trial_or_list_waiting(study_id)
    assert len(statements) == 1 and statements[0].startswith("BEGIN NOT ATOMIC")

    import pymysql

    interfered: list[str] = []

    def lose(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not interfered and statement.startswith("BEGIN NOT ATOMIC"):
            interfered.append(statement)
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    event = "before_cursor_execute" if lost == "before the statement" else "after_cursor_execute"
    sa.event.listen(storage._engine, event, lose)
    third = storage.create_trial_or_list_waiting(study_id)
    assert interfered
    trials = RDBStorage(url).get_all_trials(study_id, deepcopy=False)
    assert [(t._trial_id, t.number) for t in trials] == [(first, 0), (second, 1), (third, 2)]
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
