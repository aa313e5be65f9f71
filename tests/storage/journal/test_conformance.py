"""JournalStorage (trialstore/storage/journal/): the conformance suite on both backends."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from trialstore.conformance import StorageConformance, StorageFactory
from trialstore.storage import BaseStorage
from trialstore.storage.journal import JournalFileBackend, JournalRedisBackend, JournalStorage


class TestJournalFileConformance(StorageConformance):
    shared_across_processes = True

    @pytest.fixture
    def storage_factory(self, tmp_path: Path) -> StorageFactory:
        counter = itertools.count()

        def make(
            *, heartbeat_interval: float | None = None, grace_period: float | None = None
        ) -> BaseStorage:
            # A fresh file per call (allowed by the suite) keeps the state machine linear.
            return JournalStorage(
                JournalFileBackend(tmp_path / f"journal-{next(counter)}.log"),
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
            )

        return make


@pytest.mark.redis
class TestJournalRedisConformance(StorageConformance):
    shared_across_processes = True

    @pytest.fixture
    def storage_factory(self, redis_url: str, redis_prefix: str) -> StorageFactory:
        counter = itertools.count()

        def make(
            *, heartbeat_interval: float | None = None, grace_period: float | None = None
        ) -> BaseStorage:
            return JournalStorage(
                JournalRedisBackend(redis_url, prefix=f"{redis_prefix}-{next(counter)}"),
                heartbeat_interval=heartbeat_interval,
                grace_period=grace_period,
            )

        return make
