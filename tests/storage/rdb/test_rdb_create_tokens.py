"""The tokens of trial creates (rdb/_fast_paths.py, table ``trialstore_trial_creates``): on
PostgreSQL and MariaDB a create commits in its one round trip and leaves its token, so that a
retry after a lost connection finds its trial (the retries themselves: test_rdb_driver.py and
test_rdb.py). Here: what the table holds, how tokens expire, and the portable path taken where
the table is missing."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

from trialstore.storage.rdb import RDBStorage, _fast_paths
from trialstore.storage.rdb._tables import CREATE_TOKENS_TABLE
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

MIN = [StudyDirection.MINIMIZE]


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh server database whose creates take a fast path (MariaDB for "mysql")."""
    url = database_url(request, request.param, tmp_path)
    storage = RDBStorage(url)
    if request.param == "mysql" and not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    storage.close()
    yield url


def _tokens(url: str) -> list[tuple[str, int, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(f"SELECT token, study_id, trial_id FROM {CREATE_TOKENS_TABLE}")
            ).all()
    finally:
        engine.dispose()
    return sorted((str(r[0]), int(r[1]), int(r[2])) for r in rows)


def _has_table(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return CREATE_TOKENS_TABLE in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _age_tokens(url: str, study_id: int, days: int) -> None:
    """Make every token of ``study_id`` ``days`` days older (by the server's clock)."""
    engine = sa.create_engine(url)
    shift = (
        f"created_at - INTERVAL '{days} days'"
        if engine.dialect.name == "postgresql"
        else f"created_at - INTERVAL {days} DAY"
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"UPDATE {CREATE_TOKENS_TABLE} SET created_at = {shift} WHERE study_id = :s"
                ),
                {"s": study_id},
            )
    finally:
        engine.dispose()


def test_each_create_leaves_one_token_of_its_trial(server_url: str) -> None:
    """Every create of the fast paths (create_trial_or_list_waiting; on PostgreSQL also
    create_new_trial, with a template of system attributes too) leaves one distinct token
    naming its study and trial."""
    storage = RDBStorage(server_url)
    study_id = storage.create_new_study(MIN, "tokens")
    created = [storage.create_trial_or_list_waiting(study_id) for _ in range(3)]
    if storage._engine.dialect.name == "postgresql":
        created.append(storage.create_new_trial(study_id))
    tokens = _tokens(server_url)
    assert sorted((s, t) for _, s, t in tokens) == sorted((study_id, t) for t in created)
    assert len({token for token, _, _ in tokens}) == len(created)
    assert all(len(token) == 32 for token, _, _ in tokens)
    storage.close()


def test_expired_tokens_of_the_study_go_with_its_next_create(server_url: str) -> None:
    """A create deletes its study's tokens older than a day; younger ones, and other
    studies' old ones, stay (their creates may still be retried)."""
    storage = RDBStorage(server_url)
    study_id = storage.create_new_study(MIN, "expiring")
    other_id = storage.create_new_study(MIN, "other")
    old = storage.create_trial_or_list_waiting(study_id)
    other_old = storage.create_trial_or_list_waiting(other_id)
    _age_tokens(server_url, study_id, 2)
    _age_tokens(server_url, other_id, 2)
    young = storage.create_trial_or_list_waiting(study_id)
    kept = [trial for _, _, trial in _tokens(server_url)]
    assert old not in kept
    assert young in kept and other_old in kept
    _age_tokens(server_url, study_id, 0)  # a token of today stays
    assert young in [trial for _, _, trial in _tokens(server_url)]
    storage.close()


def test_a_deleted_study_takes_its_tokens(server_url: str) -> None:
    storage = RDBStorage(server_url)
    study_id = storage.create_new_study(MIN, "deleted")
    kept_id = storage.create_new_study(MIN, "kept")
    storage.create_trial_or_list_waiting(study_id)
    kept = storage.create_trial_or_list_waiting(kept_id)
    storage.delete_study(study_id)
    assert [(s, t) for _, s, t in _tokens(server_url)] == [(kept_id, kept)]
    storage.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_without_the_table_creates_take_the_portable_path(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    """A database Optuna made, opened with skip_table_creation=True, has no table of
    tokens: creates are portable transactions there (numbers still dense, nothing
    created in the database's schema); opened normally, it gets the table. A storage
    whose retry_timeout outlasts a token's life never uses them either."""
    url = database_url(request, dialect, tmp_path)
    optuna.storages.RDBStorage(url).engine.dispose()
    reader = RDBStorage(url, skip_table_creation=True)
    assert not reader._sql.create_tokens
    study_id = reader.create_new_study(MIN, "portable")
    first = reader.create_trial_or_list_waiting(study_id)
    assert isinstance(first, int)
    second = reader.create_new_trial(study_id)
    assert [t.number for t in reader.get_all_trials(study_id)] == [0, 1]
    assert reader.get_trial(first).state == reader.get_trial(second).state == TrialState.RUNNING
    assert not _has_table(url)
    writer = RDBStorage(url)
    assert writer._sql.create_tokens
    assert _has_table(url)
    patient = RDBStorage(url, retry_timeout=datetime.timedelta(days=1).total_seconds())
    assert not patient._sql.create_tokens
    assert isinstance(patient.create_trial_or_list_waiting(study_id), int)
    for storage in (reader, writer, patient):
        storage.close()
