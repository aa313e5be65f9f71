"""``trialstore storage upgrade`` (trialstore/cli/_storage.py) on SQLite: one line saying
what it did (created, already current, upgraded from a revision), the storage then usable; a
URL that is not an RDB's is exit 2, a database it cannot reach exit 1, each one line.
(Every Optuna schema and the server databases: tests/storage/rdb/test_rdb.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from _cli_helpers import error_line, run, tree
from _fixtures import optuna_fixture

import trialstore
from trialstore.storage.rdb._tables import ALEMBIC_HEAD


def _upgrade(capsys: pytest.CaptureFixture[str], url: str) -> str:
    code, out, err = run(capsys, ["storage", "upgrade", "--storage", url, "-q"])
    assert (code, err) == (0, ""), err
    return out


def test_an_empty_database_gets_the_schema_then_is_current(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert _upgrade(capsys, url) == f"{url}: created the schema at revision {ALEMBIC_HEAD}.\n"
    assert _upgrade(capsys, url) == f"{url}: already at revision {ALEMBIC_HEAD}.\n"
    trialstore.create_study(study_name="s", storage=url)
    assert trialstore.get_all_study_names(url) == ["s"]


def test_an_optuna_2_6_database_is_upgraded_and_keeps_its_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{optuna_fixture('rdb-schema-2.6.0.a.db', tmp_path)}"
    assert _upgrade(capsys, url) == (
        f"{url}: upgraded from revision v2.6.0.a to {ALEMBIC_HEAD}.\n"
    )
    assert trialstore.get_all_study_names(url) == [
        "single_empty",
        "single",
        "multi_empty",
        "multi",
        "schema migration",
    ]
    assert _upgrade(capsys, url) == f"{url}: already at revision {ALEMBIC_HEAD}.\n"


def test_the_upgrade_is_logged_unless_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{optuna_fixture('rdb-schema-2.6.0.a.db', tmp_path)}"
    code, _, err = run(capsys, ["storage", "upgrade", "--storage", url])
    assert code == 0
    assert f"Upgrading {url} from v2.6.0.a to {ALEMBIC_HEAD}." in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("journal:///{tmp}/j.log", "--storage: storage URL 'journal:///"),
        ("sqlite://x.db", "--storage: "),
        ("nosuch://x", "--storage: "),
    ],
)
def test_a_url_that_is_not_a_databases_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    argv = ["storage", "upgrade", "--storage", url.format(tmp=tmp_path)]
    assert message in error_line(capsys, argv, code=2, command="storage upgrade")
    assert tree(tmp_path) == {}


def test_an_unreachable_database_is_exit_1_with_the_password_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql://user:s3cret@127.0.0.1:1/db"
    line = error_line(capsys, ["storage", "upgrade", "--storage", url], command="storage upgrade")
    assert "s3cret" not in line and "127.0.0.1" in line


def test_a_file_in_a_missing_directory_is_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    line = error_line(capsys, ["storage", "upgrade", "--storage", url], command="storage upgrade")
    assert "unable to open database file" in line
    assert tree(tmp_path) == {}
