"""Conformance: the two combined writes a study makes per trial (private).

``create_trial_or_list_waiting`` starts a trial unless some are enqueued (then it lists them
and creates nothing); ``set_trial_params_and_state_values`` writes a trial's parameters and
then its state. Both have defaults in BaseStorage built from the single operations, and a
backend may send each as one round trip; either way they must behave as specified here.
"""

from __future__ import annotations

from typing import Any

import pytest

from trialstore._core import TrialState
from trialstore.conformance._base import ConformanceBase, make_template
from trialstore.conformance._concurrency import run_threads
from trialstore.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["CombinedWritesConformance"]

F01 = FloatDistribution(0.0, 1.0)
I05 = IntDistribution(0, 5)
TWO_CHOICES = CategoricalDistribution(["a", "b"])


class CombinedWritesConformance(ConformanceBase):
    """create_trial_or_list_waiting and set_trial_params_and_state_values."""

    # -- create_trial_or_list_waiting -------------------------------------------------------

    def test_create_or_list_creates_a_running_trial_when_none_waits(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        storage.create_new_trial(study_id, make_template(TrialState.COMPLETE, values=[1.0]))
        storage.create_new_trial(study_id)  # RUNNING: not enqueued
        got = storage.create_trial_or_list_waiting(study_id)
        assert isinstance(got, int) and not isinstance(got, bool), got
        trial = storage.get_trial(got)
        assert trial.number == 2 and storage.get_trial_number_from_id(got) == 2
        assert trial.state == TrialState.RUNNING
        assert trial.datetime_start is not None and trial.datetime_complete is None
        assert trial.params == {} and trial.values is None
        assert [t._trial_id for t in storage.get_all_trials(study_id)][-1] == got

    def test_create_or_list_lists_waiting_trials_by_number_and_creates_nothing(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        first = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        storage.create_new_trial(study_id)
        second = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        assert storage.create_trial_or_list_waiting(study_id) == [first, second]
        assert storage.get_n_trials(study_id) == 3, "listing creates nothing"
        assert storage.set_trial_state_values(second, TrialState.RUNNING)
        assert storage.create_trial_or_list_waiting(study_id) == [first]
        assert storage.set_trial_state_values(first, TrialState.RUNNING)
        created = storage.create_trial_or_list_waiting(study_id)
        assert isinstance(created, int)
        assert storage.get_trial(created).number == 3

    def test_create_or_list_with_a_template_creates_that_trial_or_lists(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        plain = make_template(TrialState.RUNNING, system_attrs={"mark": "m1"})
        full = make_template(
            TrialState.RUNNING,
            params={"x": 0.25},
            distributions={"x": F01},
            user_attrs={"u": [1, "two"]},
            system_attrs={"mark": "m2"},
            intermediate_values={3: 1.5},
        )
        for template in (plain, full):
            got = storage.create_trial_or_list_waiting(study_id, template)
            assert isinstance(got, int) and not isinstance(got, bool), got
            trial = storage.get_trial(got)
            assert trial.state == TrialState.RUNNING
            assert trial.datetime_start == template.datetime_start
            assert trial.system_attrs == template.system_attrs
            assert trial.params == template.params
            assert trial.user_attrs == template.user_attrs
            assert trial.intermediate_values == template.intermediate_values
        waiting = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        assert storage.create_trial_or_list_waiting(study_id, plain) == [waiting]
        assert storage.get_n_trials(study_id) == 3, "listing creates nothing"

    def test_create_or_list_rejects_a_template_not_running_and_stores_nothing(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        bad: list[Any] = [
            make_template(TrialState.WAITING),
            make_template(TrialState.COMPLETE, values=[1.0]),
            make_template(TrialState.RUNNING, values=[1.0, 2.0]),  # values while RUNNING
            {"state": TrialState.RUNNING},  # not a FrozenTrial
        ]
        for template in bad:
            with pytest.raises(ValueError):
                storage.create_trial_or_list_waiting(study_id, template)
        assert storage.get_n_trials(study_id) == 0

    def test_create_or_list_on_a_missing_study_raises_key_error(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.create_trial_or_list_waiting(study_id)

    def test_threads_creating_or_claiming_get_each_trial_once(self, storage: BaseStorage) -> None:
        self.require("thread_safe")
        study_id = self.new_study(storage)
        enqueued = [
            storage.create_new_trial(study_id, make_template(TrialState.WAITING)) for _ in range(3)
        ]
        n = min(8, self.max_threads)

        def start(_: int) -> tuple[int, bool]:
            while True:
                got = storage.create_trial_or_list_waiting(study_id)
                if isinstance(got, int):
                    return got, False
                for trial_id in got:
                    if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                        return trial_id, True

        started = run_threads(n, start)
        ids = [trial_id for trial_id, _ in started]
        assert len(set(ids)) == n, f"a trial was handed to two callers: {started}"
        claimed = sorted(trial_id for trial_id, was_claimed in started if was_claimed)
        assert claimed == sorted(enqueued), "every enqueued trial is claimed before any create"
        trials = storage.get_all_trials(study_id)
        assert [t.number for t in trials] == list(range(n)), "numbers unique and dense"
        assert all(t.state == TrialState.RUNNING for t in trials)

    # -- set_trial_params_and_state_values --------------------------------------------------

    def test_params_and_state_writes_both(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "z", 0.75, F01)
        updated = storage.set_trial_params_and_state_values(
            trial_id, {"b": (3.0, I05), "a": (0.5, F01)}, TrialState.COMPLETE, [2.5]
        )
        assert updated is True
        trial = storage.get_trial(trial_id)
        assert trial.state == TrialState.COMPLETE and trial.values == [2.5]
        assert trial.datetime_complete is not None
        assert list(trial.params) == ["z", "b", "a"]
        assert trial.params == {"z": 0.75, "b": 3, "a": 0.5}
        assert trial.distributions == {"z": F01, "b": I05, "a": F01}

    def test_params_and_state_with_an_empty_batch_is_the_state_write(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        waiting = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        assert storage.set_trial_params_and_state_values(waiting, {}, TrialState.RUNNING) is True
        assert storage.set_trial_params_and_state_values(waiting, {}, TrialState.RUNNING) is False
        assert storage.set_trial_params_and_state_values(waiting, {}, TrialState.PRUNED) is True
        assert storage.get_trial(waiting).state == TrialState.PRUNED

    def test_params_and_state_store_values_outside_the_range(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        params = {"x": (1.5, F01), "n": (7.5, I05)}
        assert storage.set_trial_params_and_state_values(
            trial_id, params, TrialState.COMPLETE, [1.0]
        )
        trial = storage.get_trial(trial_id)
        assert trial.params == {"x": 1.5, "n": 7} and trial.state == TrialState.COMPLETE

    def test_params_and_state_bad_input_stores_nothing(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        good = {"x": (0.5, F01)}
        cases: list[tuple[Any, TrialState, list[float] | None]] = [
            ({"c": (2.0, TWO_CHOICES)}, TrialState.COMPLETE, [1.0]),  # names no choice
            ({"x": 0.5}, TrialState.COMPLETE, [1.0]),  # not a (value, distribution) pair
            (good, TrialState.WAITING, None),  # not a settable state
            (good, TrialState.RUNNING, [1.0]),  # values with RUNNING
            (good, TrialState.COMPLETE, None),  # COMPLETE without values
            (good, TrialState.COMPLETE, [float("nan")]),
        ]
        for params, state, values in cases:
            with pytest.raises(ValueError):
                storage.set_trial_params_and_state_values(trial_id, params, state, values)
            trial = storage.get_trial(trial_id)
            assert trial.params == {} and trial.state == TrialState.RUNNING, (params, state)

    def test_params_and_state_rejected_batch_leaves_the_state(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        first = storage.create_new_trial(study_id)
        storage.set_trial_param(first, "x", 0.5, F01)
        trial_id = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):  # x is a float parameter in this study
            storage.set_trial_params_and_state_values(
                trial_id, {"y": (1.0, I05), "x": (1.0, I05)}, TrialState.COMPLETE, [1.0]
            )
        trial = storage.get_trial(trial_id)
        assert trial.params == {} and trial.state == TrialState.RUNNING and trial.values is None

    def test_params_and_state_on_missing_or_finished_trials(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        finished = storage.create_new_trial(
            study_id, make_template(TrialState.COMPLETE, values=[1.0])
        )
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_params_and_state_values(finished, {"x": (0.5, F01)}, TrialState.FAIL)
        trial = storage.get_trial(finished)
        assert trial.params == {} and trial.state == TrialState.COMPLETE
        assert trial.values == [1.0]
        missing = storage.create_new_trial(study_id)
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.set_trial_params_and_state_values(missing, {"x": (0.5, F01)}, TrialState.FAIL)

    def test_params_and_state_value_count_is_checked(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):
            storage.set_trial_params_and_state_values(
                trial_id, {"x": (0.5, F01)}, TrialState.COMPLETE, [1.0, 2.0]
            )
        assert storage.get_trial(trial_id).state == TrialState.RUNNING

    def test_threads_finishing_one_trial_with_params_have_one_winner(
        self, storage: BaseStorage
    ) -> None:
        self.require("thread_safe")
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        n = min(8, self.max_threads)

        def finish(i: int) -> str:
            try:
                storage.set_trial_params_and_state_values(
                    trial_id, {"x": (i / n, F01)}, TrialState.COMPLETE, [float(i)]
                )
            except UpdateFinishedTrialError:
                return "lost"
            return "won"

        outcomes = run_threads(n, finish)
        assert outcomes.count("won") == 1, outcomes
        trial = storage.get_trial(trial_id)
        assert trial.state == TrialState.COMPLETE
        assert trial.values == [float(outcomes.index("won"))]
        # A loser's batch may land between the winner's batch and its finish (the pair is not
        # one write), so the value is some caller's; a batch never lands after the finish.
        assert trial.params["x"] in {i / n for i in range(n)}
