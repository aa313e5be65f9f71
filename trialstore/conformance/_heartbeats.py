"""Conformance: heartbeats, stale trials and failing them (private).

These tests sleep for real, a little longer than the grace period
(``heartbeat_test_grace_period``, 0.5 s by default).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trialstore._core import TrialState
from trialstore.conformance._base import ConformanceBase, StorageFactory, make_template
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["HeartbeatsConformance"]


class HeartbeatsConformance(ConformanceBase):
    """record_heartbeat, get_stale_trial_ids, fail_stale_trials and their settings."""

    @pytest.fixture
    def beating_storage(self, storage_factory: StorageFactory) -> Iterator[BaseStorage]:
        """A storage with the small test heartbeat interval and grace period."""
        self.require("supports_heartbeats")
        storage = storage_factory(
            heartbeat_interval=self.heartbeat_test_interval,
            grace_period=self.heartbeat_test_grace_period,
        )
        yield storage
        storage.close()

    def wait_past_grace(self) -> None:
        """Sleep until a heartbeat recorded before the call is stale."""
        time.sleep(self.heartbeat_test_grace_period * 1.2 + 0.1)

    def test_heartbeat_settings(self, storage_factory: StorageFactory) -> None:
        self.require("supports_heartbeats")
        for interval, grace, expected_grace in ((2.0, 5.0, 5.0), (1.5, None, 3.0)):
            storage = storage_factory(heartbeat_interval=interval, grace_period=grace)
            try:
                assert storage.get_heartbeat_interval() == interval
                assert storage.get_grace_period() == expected_grace
            finally:
                storage.close()

    def test_heartbeats_off_by_default(self, storage: BaseStorage) -> None:
        assert storage.get_heartbeat_interval() is None
        assert storage.get_grace_period() is None
        study_id = self.new_study(storage)
        storage.create_new_trial(study_id)
        assert storage.get_stale_trial_ids(study_id) == []
        assert storage.fail_stale_trials(study_id) == []

    def test_stale_trials(self, beating_storage: BaseStorage) -> None:
        storage = beating_storage
        study_id = self.new_study(storage)
        other_study = self.new_study(storage)
        beaten = storage.create_new_trial(study_id)
        never_beaten = storage.create_new_trial(study_id)
        finished = storage.create_new_trial(study_id)
        waiting = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        refreshed = storage.create_new_trial(study_id)
        elsewhere = storage.create_new_trial(other_study)
        for trial_id in (beaten, finished, refreshed, elsewhere):
            storage.record_heartbeat(trial_id)
        assert storage.get_stale_trial_ids(study_id) == []
        storage.set_trial_state_values(finished, TrialState.COMPLETE, [1.0])
        self.wait_past_grace()
        storage.record_heartbeat(refreshed)
        assert storage.get_stale_trial_ids(study_id) == [beaten]
        assert storage.get_stale_trial_ids(other_study) == [elsewhere]
        assert storage.get_trial(never_beaten).state == TrialState.RUNNING
        assert storage.get_trial(waiting).state == TrialState.WAITING
        storage.record_heartbeat(beaten)
        assert storage.get_stale_trial_ids(study_id) == []

    def test_stale_trial_ids_are_ordered(self, beating_storage: BaseStorage) -> None:
        storage = beating_storage
        study_id = self.new_study(storage)
        trial_ids = [storage.create_new_trial(study_id) for _ in range(5)]
        for trial_id in reversed(trial_ids):
            storage.record_heartbeat(trial_id)
        self.wait_past_grace()
        assert storage.get_stale_trial_ids(study_id) == sorted(trial_ids)

    def test_fail_stale_trials(self, beating_storage: BaseStorage) -> None:
        storage = beating_storage
        study_id = self.new_study(storage)
        stale = [storage.create_new_trial(study_id) for _ in range(2)]
        alive = storage.create_new_trial(study_id)
        for trial_id in [*stale, alive]:
            storage.record_heartbeat(trial_id)
        self.wait_past_grace()
        storage.record_heartbeat(alive)
        assert storage.fail_stale_trials(study_id) == stale
        for trial_id in stale:
            trial = storage.get_trial(trial_id)
            assert trial.state == TrialState.FAIL
            assert trial.datetime_complete is not None
            with pytest.raises(UpdateFinishedTrialError):
                storage.record_heartbeat(trial_id)
        assert storage.get_trial(alive).state == TrialState.RUNNING
        assert storage.fail_stale_trials(study_id) == []
        assert storage.get_stale_trial_ids(study_id) == []

    def test_heartbeat_on_waiting_trial_does_nothing(self, beating_storage: BaseStorage) -> None:
        storage = beating_storage
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        storage.record_heartbeat(trial_id)
        assert storage.get_trial(trial_id).state == TrialState.WAITING
        self.wait_past_grace()
        assert storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        assert storage.get_stale_trial_ids(study_id) == [], "a beat while WAITING counted"
        assert storage.fail_stale_trials(study_id) == []

    def test_record_heartbeat_errors(self, beating_storage: BaseStorage) -> None:
        storage = beating_storage
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.PRUNED)
        with pytest.raises(UpdateFinishedTrialError):
            storage.record_heartbeat(trial_id)
        storage.delete_study(study_id)
        for missing in (trial_id, -1):
            with pytest.raises(KeyError):
                storage.record_heartbeat(missing)
        with pytest.raises(KeyError):
            storage.get_stale_trial_ids(study_id)
        with pytest.raises(KeyError):
            storage.fail_stale_trials(study_id)
