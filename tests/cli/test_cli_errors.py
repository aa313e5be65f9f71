"""What a user can get wrong on the command line ends in one error line, never a traceback,
and read-only commands create nothing where no storage exists."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from _cli_helpers import error_line, tree
from _fixtures import optuna_fixture

import trialstore
from trialstore.cli import main
from trialstore.exceptions import StorageNotFoundError

#: Every command that only reads (or maintains, or changes a study of) a storage, with what
#: it needs besides it.
READ_ONLY = {
    "studies": [],
    "study-names": [],
    "trials": ["--study-name", "s"],
    "best-trial": ["--study-name", "s"],
    "best-trials": ["--study-name", "s"],
    "delete-study": ["--study-name", "s"],
    "ask": ["--study-name", "s"],
    "tell": ["--study-name", "s", "--trial-number", "0", "--values", "1"],
    "study set-user-attr": ["--study-name", "s", "--key", "k", "--value", "v"],
}


def _read_only_argv(command: str, url: str, tmp_path: Path) -> list[str]:
    if command == "copy":
        return ["copy", "--from", url, "--to", f"sqlite:///{tmp_path / 'target.db'}"]
    if command == "journal compact":
        return ["journal", "compact", "--storage", url]
    return [*command.split(), "--storage", url, *READ_ONLY[command]]


@pytest.mark.parametrize("command", [*READ_ONLY, "copy", "journal compact"])
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_read_only_commands_create_nothing_where_no_storage_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'typo.db'}"
        if kind == "sqlite"
        else f"journal://{tmp_path}/typo.log"
    )
    wrong_kind = command == "journal compact" and kind == "sqlite"  # a bad argument: 2
    argv = _read_only_argv(command, url, tmp_path)
    line = error_line(capsys, argv, code=2 if wrong_kind else 1, command=command)
    if wrong_kind:
        assert "--storage: not a journal URL" in line
    else:
        assert f"no storage at {url}: the file does not exist" in line
        assert "create-study --storage" in line  # says how to create one
    assert tree(tmp_path) == {}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://x.db", "use sqlite:///relative.db or sqlite:////absolute.db"),
        ("postgresql://", "no database name"),
        ("postgresql://postgres@127.0.0.1:1/x?bogus=1", "unknown connection option 'bogus'"),
        ("mysql://root@127.0.0.1:1/x?bogus=1", "unknown connection option 'bogus'"),
        ("journal+redis://127.0.0.1:1/notanint", "database 'notanint' is not a non-negative"),
        ("grpc://127.0.0.1:70000", "port '70000'"),
        ("nosuch://x", "storage URL scheme 'nosuch' is not supported"),
    ],
)
@pytest.mark.parametrize("command", ["studies", "create-study"])
def test_a_url_the_library_refuses_is_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    url: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    line = error_line(capsys, [command, "--storage", url], code=2)
    assert "error: --storage: " in line and message in line
    assert tree(tmp_path) == {}


def test_sqlite_directory_is_named_a_file_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "d").mkdir()
    line = error_line(capsys, ["studies", "--storage", f"sqlite:///{tmp_path / 'd'}"])
    assert line.endswith(f"no storage at sqlite:///{tmp_path / 'd'}: it is a directory.")
    assert "server" not in line


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal://"])
def test_storage_in_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    url = f"{scheme}{tmp_path / 'nodir' / 'x.db'}"
    line = error_line(capsys, ["studies", "--storage", url])
    assert line.endswith(f"no storage at {url}: its directory does not exist.")
    assert tree(tmp_path) == {}


def test_garbage_journal_is_one_line_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "g.log").write_text("garbage\n")
    before = tree(tmp_path)
    line = error_line(capsys, ["studies", "--storage", f"journal://{tmp_path / 'g.log'}"])
    assert "is not a journal file: line 1 is a corrupt record" in line
    assert tree(tmp_path) == before


def test_old_schema_is_one_line_with_the_upgrade_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = optuna_fixture("rdb-schema-2.6.0.a.db", tmp_path)
    line = error_line(capsys, ["trials", "--storage", f"sqlite:///{path}", "--study-name", "x"])
    assert "has an old schema (revision 'v2.6.0.a'" in line
    assert line.endswith(f"trialstore storage upgrade --storage 'sqlite:///{path}'")
    assert list(tree(tmp_path)) == [path.name]
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            assert revision.scalar() == "v2.6.0.a"
    finally:
        engine.dispose()


def test_unreachable_servers_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    line = error_line(capsys, ["studies", "--storage", "postgresql://postgres@127.0.0.1:1/x"])
    assert "check that the database server at 127.0.0.1:1 is running" in line
    line = error_line(capsys, ["studies", "--storage", "journal+redis://127.0.0.1:1/0"])
    assert "Redis journal at redis://127.0.0.1:1/0" in line and "refused" in line


def test_copy_of_a_missing_study_leaves_no_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"journal://{tmp_path / 'source.log'}"
    trialstore.create_study(study_name="s", storage=source)
    target = tmp_path / "target.db"
    line = error_line(
        capsys, ["copy", "--from", source, "--to", f"sqlite:///{target}", "--study", "nope"]
    )
    assert "no study named 'nope'" in line and "nothing was copied" in line
    assert not target.exists()


def test_best_trial_of_a_multi_objective_study_points_to_best_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"journal://{tmp_path / 'j.log'}"
    study = trialstore.create_study(
        study_name="m", storage=url, directions=["minimize", "minimize"]
    )
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)), 12)
    line = error_line(capsys, ["best-trial", "--storage", url, "--study-name", "m"])
    assert f"trialstore best-trials --storage {url} --study-name m" in line
    capsys.readouterr()
    assert main(["best-trials", "--storage", url, "--study-name", "m", "--format", "json"]) == 0
    import json

    shown = json.loads(capsys.readouterr().out)
    assert [t["number"] for t in shown] == sorted(t.number for t in study.best_trials)
    assert [t["values"] for t in shown] == [  # "values": several objectives
        t.values for t in sorted(study.best_trials, key=lambda t: t.number)
    ]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"trialstore {trialstore.__version__}\n"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_debug_shows_the_traceback(tmp_path: Path, how: str) -> None:
    argv = ["studies", "--storage", f"journal://{tmp_path / 'missing.log'}"]
    env = dict(os.environ)
    if how == "flag":
        argv.append("--debug")
    else:
        env["TRIALSTORE_DEBUG"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "trialstore.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Traceback")
    assert "trialstore.exceptions.StorageNotFoundError: no storage at" in done.stderr


def test_debug_flag_reraises_in_process(tmp_path: Path) -> None:
    with pytest.raises(StorageNotFoundError):
        main(["--debug", "studies", "--storage", f"journal://{tmp_path / 'missing.log'}"])


def test_unexpected_errors_name_their_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error nobody wrote a message for still ends in one line, naming its type and how
    to see the traceback."""
    import trialstore.study

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    url = f"journal://{tmp_path / 'j.log'}"
    trialstore.create_study(study_name="s", storage=url)
    monkeypatch.setattr(trialstore.study, "get_all_study_summaries", broken)
    line = error_line(capsys, ["studies", "--storage", url])
    assert line.endswith(
        "AttributeError: 'NoneType' object has no attribute 'x' "
        "(run with --debug for the traceback)"
    )


# -- servers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_empty_database_is_no_storage_and_stays_empty(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], dialect: str
) -> None:
    url = request.getfixturevalue("postgres_url" if dialect == "postgresql" else "mysql_url")
    for command in READ_ONLY:
        argv = [*command.split(), "--storage", url, *READ_ONLY[command]]
        line = error_line(capsys, argv, command=command)
        assert "no storage at" in line and "holds no trialstore/Optuna tables" in line
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_missing_postgresql_database(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"ts_missing_{uuid.uuid4().hex[:12]}"
    url = sa.engine.make_url(postgres_url).set(database=missing)
    line = error_line(capsys, ["studies", "--storage", url.render_as_string(hide_password=False)])
    assert f"create the database '{missing}' first" in line
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            names = connection.execute(sa.text("SELECT datname FROM pg_database")).scalars()
            assert missing not in set(names)
    finally:
        engine.dispose()


def test_wrong_mysql_password(mysql_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "not-the-password-" + uuid.uuid4().hex[:6]
    url = sa.engine.make_url(mysql_url).set(password=secret)
    line = error_line(capsys, ["studies", "--storage", url.render_as_string(hide_password=False)])
    assert "check the user name and password" in line
    assert secret not in line


def test_redis_prefix_without_journal_creates_no_key(
    redis_url: str, redis_prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import redis

    url = f"journal+{redis_url}?prefix={redis_prefix}"
    line = error_line(capsys, ["studies", "--storage", url])
    assert f"no journal under the prefix {redis_prefix!r}" in line
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{redis_prefix}*")) == []
    finally:
        client.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n-trials", "0"], "--n-trials must be >= 1, got 0"),
        (["--n-jobs", "0"], "--n-jobs must be >= 1, or -1 (one per CPU), got 0"),
    ],
)
def test_demo_checks_its_counts_before_it_creates_anything(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    url = f"journal://{tmp_path / 'demo.log'}"
    line = error_line(capsys, ["demo", "--storage", url, *argv], code=2)
    assert line.endswith(message)
    assert tree(tmp_path) == {}
