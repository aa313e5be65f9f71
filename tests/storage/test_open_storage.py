"""open_storage: open what exists, create nothing (trialstore/storage/_url.py and the
backends' ``create=False``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from trialstore.exceptions import StorageNotFoundError
from trialstore.storage import get_storage, open_storage
from trialstore.study import StudyDirection


def _sees_a_study_made_by_get_storage(url: str) -> None:
    maker = get_storage(url)
    maker.create_new_study([StudyDirection.MINIMIZE], "made")
    maker.close()
    opened = open_storage(url)
    try:
        assert [s.study_name for s in opened.get_all_studies()] == ["made"]
    finally:
        opened.close()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_embedded_storages(tmp_path: Path, kind: str) -> None:
    url = (
        f"sqlite:///{tmp_path / 'db.sqlite3'}"
        if kind == "sqlite"
        else f"journal://{tmp_path / 'journal.log'}"
    )
    with pytest.raises(StorageNotFoundError, match="the file does not exist"):
        open_storage(url)
    assert list(tmp_path.iterdir()) == []
    _sees_a_study_made_by_get_storage(url)


def test_an_empty_journal_file_is_an_empty_storage(tmp_path: Path) -> None:
    (tmp_path / "journal.log").touch()
    storage = open_storage(f"journal://{tmp_path / 'journal.log'}")
    assert storage.get_all_studies() == []
    storage.close()


def test_an_empty_sqlite_file_is_no_storage_and_gets_no_tables(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(StorageNotFoundError, match="holds no trialstore/Optuna tables"):
        open_storage(f"sqlite:///{path}")
    assert path.read_bytes() == b""


def test_sqlite_in_memory_is_never_found() -> None:
    with pytest.raises(StorageNotFoundError):
        open_storage("sqlite://")


def test_only_urls() -> None:
    with pytest.raises(ValueError, match="a URL str"):
        open_storage(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_database_servers(request: pytest.FixtureRequest, dialect: str) -> None:
    url = request.getfixturevalue("postgres_url" if dialect == "postgresql" else "mysql_url")
    with pytest.raises(StorageNotFoundError, match="holds no trialstore/Optuna tables"):
        open_storage(url)
    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    _sees_a_study_made_by_get_storage(url)


def test_redis(redis_url: str, redis_prefix: str) -> None:
    import redis

    url = f"journal+{redis_url}?prefix={redis_prefix}"
    with pytest.raises(StorageNotFoundError, match="no journal under the prefix"):
        open_storage(url)
    client = redis.Redis.from_url(redis_url)
    try:
        assert list(client.scan_iter(match=f"{redis_prefix}*")) == []
    finally:
        client.close()
    _sees_a_study_made_by_get_storage(url)
