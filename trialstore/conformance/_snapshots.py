"""Conformance: returned objects are snapshots, and storages pickle (private)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from typing import Any

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.conformance._base import (
    ConformanceBase,
    StorageFactory,
    assert_same_trial,
    canonical_trial,
)
from trialstore.distributions import FloatDistribution
from trialstore.storage.base import BaseStorage

__all__ = ["SnapshotsConformance"]

MIN = StudyDirection.MINIMIZE


class SnapshotsConformance(ConformanceBase):
    """Returned FrozenTrial/FrozenStudy/dict/list objects never change; pickling."""

    def test_returned_trials_are_not_changed_by_later_writes(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_user_attr(trial_id, "u", [1])
        dist = FloatDistribution(0, 1)
        writes: list[Callable[[], Any]] = [
            lambda: storage.set_trial_user_attr(trial_id, "u", [1, 2]),
            lambda: storage.set_trial_user_attr(trial_id, "v", 2),
            lambda: storage.set_trial_system_attr(trial_id, "s", 3),
            lambda: storage.set_trial_param(trial_id, "x", 0.5, dist),
            lambda: storage.set_trial_param(trial_id, "x", 0.25, dist),
            lambda: storage.set_trial_intermediate_value(trial_id, 0, 1.0),
            lambda: storage.set_trial_intermediate_value(trial_id, 0, 2.0),
            lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0]),
        ]
        held: list[tuple[FrozenTrial, Any]] = []
        for write in writes:
            snapshots = [
                storage.get_trial(trial_id),
                storage.get_all_trials(study_id)[0],
                storage.get_all_trials(study_id, deepcopy=False)[0],
                storage.get_all_trials(study_id, states=(storage.get_trial(trial_id).state,))[0],
            ]
            held.extend((t, canonical_trial(t)) for t in snapshots)
            write()
            for snapshot, expected in held:
                assert canonical_trial(snapshot) == expected, "a snapshot changed after a write"
        best = storage.get_best_trial(study_id)
        storage.create_new_trial(study_id)
        assert best.state == TrialState.COMPLETE

    def test_returned_study_objects_are_not_changed_by_later_writes(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        storage.set_study_user_attr(study_id, "u", {"a": [1]})
        storage.set_study_system_attr(study_id, "s", 1)
        studies = [s for s in storage.get_all_studies() if s._study_id == study_id]
        user_attrs = storage.get_study_user_attrs(study_id)
        system_attrs = storage.get_study_system_attrs(study_id)
        storage.set_study_user_attr(study_id, "u", {"a": [1, 2]})
        storage.set_study_user_attr(study_id, "w", 0)
        storage.set_study_system_attr(study_id, "s", 2)
        assert studies[0].user_attrs == {"u": {"a": [1]}}
        assert studies[0].system_attrs == {"s": 1}
        assert user_attrs == {"u": {"a": [1]}}
        assert system_attrs == {"s": 1}

    def test_mutating_returned_objects_does_not_change_the_storage(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        storage.set_study_user_attr(study_id, "u", {"a": [1]})
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_user_attr(trial_id, "u", {"a": [1]})
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        storage.set_trial_intermediate_value(trial_id, 1, 1.0)
        expected = canonical_trial(storage.get_trial(trial_id))

        storage.get_study_user_attrs(study_id)["u"]["a"].append(2)
        storage.get_study_system_attrs(study_id)["new"] = 1
        storage.get_study_directions(study_id).append(StudyDirection.MAXIMIZE)
        next(s for s in storage.get_all_studies() if s._study_id == study_id).user_attrs["u"] = 0
        trial = storage.get_trial(trial_id)
        trial.user_attrs["u"]["a"].append(2)
        trial.params["x"] = 0.75
        trial.intermediate_values[2] = 2.0
        trial.state = TrialState.FAIL
        storage.get_all_trials(study_id)[0].system_attrs["s"] = 1
        storage.get_trial_params(trial_id)["x"] = 0.0
        storage.get_trial_user_attrs(trial_id)["u"]["a"].append(3)
        storage.get_trial_system_attrs(trial_id)["y"] = 1

        assert storage.get_study_user_attrs(study_id) == {"u": {"a": [1]}}
        assert storage.get_study_system_attrs(study_id) == {}
        assert storage.get_study_directions(study_id) == [MIN]
        assert canonical_trial(storage.get_trial(trial_id)) == expected

    def test_stored_attribute_values_are_copies(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        value = {"list": [1, 2]}
        storage.set_study_user_attr(study_id, "v", value)
        storage.set_trial_user_attr(trial_id, "v", value)
        value["list"].append(3)
        value["other"] = []
        assert storage.get_study_user_attrs(study_id) == {"v": {"list": [1, 2]}}
        assert storage.get_trial(trial_id).user_attrs == {"v": {"list": [1, 2]}}

    def test_storage_pickles(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        storage.set_study_user_attr(study_id, "u", 1)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        expected = storage.get_trial(trial_id)
        copy = pickle.loads(pickle.dumps(storage))
        try:
            assert isinstance(copy, BaseStorage)
            assert copy.get_study_user_attrs(study_id) == {"u": 1}
            assert_same_trial(copy.get_trial(trial_id), expected)
            other = copy.create_new_trial(study_id)
            copy.set_trial_state_values(other, TrialState.COMPLETE, [1.0])
            assert copy.get_trial(other).number == 1
            if self.shared_across_processes:
                assert storage.get_trial(other).state == TrialState.COMPLETE
                storage.set_trial_user_attr(trial_id, "from_original", True)
                assert copy.get_trial(trial_id).user_attrs == {"from_original": True}
        finally:
            copy.close()

    def test_storage_with_heartbeats_pickles(self, storage_factory: StorageFactory) -> None:
        self.require("supports_heartbeats")
        storage = storage_factory(heartbeat_interval=3.0, grace_period=7.0)
        try:
            copy = pickle.loads(pickle.dumps(storage))
            assert copy.get_heartbeat_interval() == 3.0
            assert copy.get_grace_period() == 7.0
            copy.close()
        finally:
            storage.close()

    def test_pickled_storage_keeps_attribute_json(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        storage.set_study_system_attr(study_id, "k", {"1": [None, 1.5]})
        copy = pickle.loads(pickle.dumps(storage))
        try:
            got = copy.get_study_system_attrs(study_id)
            assert json.dumps(got) == json.dumps({"k": {"1": [None, 1.5]}})
        finally:
            copy.close()
