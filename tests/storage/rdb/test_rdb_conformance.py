"""RDBStorage (trialstore/storage/rdb/): the conformance suite on SQLite, PostgreSQL and
MySQL/MariaDB.

Each test gets its own database (a file, or a fresh server database from the conftest
fixtures); every ``make()`` returns a new handle on that database, as for several processes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialstore.conformance import StorageConformance, StorageFactory
from trialstore.storage import BaseStorage
from trialstore.storage.rdb import RDBStorage


def _factory(url: str) -> StorageFactory:
    def make(
        *, heartbeat_interval: float | None = None, grace_period: float | None = None
    ) -> BaseStorage:
        return RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period)

    return make


class TestRDBSqliteConformance(StorageConformance):
    shared_across_processes = True
    # Every example of the state machine runs on the same database (the factory returns new
    # handles on it), with the suite's default 200 examples x 50 steps.

    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        return _factory(f"sqlite:///{tmp_path / 'conformance.db'}")


@pytest.mark.postgresql
class TestRDBPostgresqlConformance(TestRDBSqliteConformance):
    @pytest.fixture
    def storage_factory(self, postgres_url: str) -> StorageFactory:
        return _factory(postgres_url)


@pytest.mark.mysql
class TestRDBMysqlConformance(TestRDBSqliteConformance):
    @pytest.fixture
    def storage_factory(self, mysql_url: str) -> StorageFactory:
        return _factory(mysql_url)
