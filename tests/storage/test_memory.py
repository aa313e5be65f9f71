"""InMemoryStorage (trialstore/storage/_memory.py): the conformance suite and memory specifics."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from trialstore.conformance import StorageConformance, StorageFactory
from trialstore.storage import BaseStorage, InMemoryStorage
from trialstore.study import StudyDirection


class TestInMemoryConformance(StorageConformance):
    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        def make(
            *, heartbeat_interval: float | None = None, grace_period: float | None = None
        ) -> BaseStorage:
            return InMemoryStorage(
                heartbeat_interval=heartbeat_interval, grace_period=grace_period
            )

        return make


def test_pickled_copy_is_an_independent_snapshot() -> None:
    storage = InMemoryStorage()
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "original")
    copy = pickle.loads(pickle.dumps(storage))
    copy.create_new_trial(study_id)
    storage.set_study_user_attr(study_id, "only", "original")
    assert storage.get_n_trials(study_id) == 0
    assert copy.get_study_user_attrs(study_id) == {}
    assert copy.get_study_id_from_name("original") == study_id


@pytest.mark.parametrize(
    ("interval", "grace"),
    [(None, 1.0), (0, None), (-1.0, None), (1.0, 0), (1.0, -2.0), ("1", None), (True, None)],
)
def test_bad_heartbeat_settings_raise_value_error(interval: Any, grace: Any) -> None:
    with pytest.raises(ValueError):
        InMemoryStorage(heartbeat_interval=interval, grace_period=grace)


def test_deepcopy_false_shares_stored_snapshots() -> None:
    storage = InMemoryStorage()
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    storage.create_new_trial(study_id)
    first = storage.get_all_trials(study_id, deepcopy=False)[0]
    assert storage.get_all_trials(study_id, deepcopy=False)[0] is first
    assert storage.get_all_trials(study_id)[0] is not first
