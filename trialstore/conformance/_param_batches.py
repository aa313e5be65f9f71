"""Conformance: ``set_trial_params``, several parameters of a trial in one write (private).

What a batch must do: store every entry as ``set_trial_param`` would, in the mapping's order;
reject it as a whole (nothing stored, no distribution registered) when any entry is rejected;
and never be split by a concurrent finish of the trial. Error precedence is checked with the
other operations' in ``_errors``.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from trialstore._core import TrialState
from trialstore.conformance._base import (
    ConformanceBase,
    StorageFactory,
    assert_same_trial,
    make_template,
)
from trialstore.conformance._concurrency import run_threads
from trialstore.conformance._values import GOOD_PARAMS
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["ParamBatchesConformance"]

F01 = FloatDistribution(0.0, 1.0)
I05 = IntDistribution(0, 5)
CAT = CategoricalDistribution(["a", None, 2.5])


def _batch(entries: list[tuple[str, float, BaseDistribution]]) -> dict[str, Any]:
    return {name: (value, dist) for name, value, dist in entries}


class ParamBatchesConformance(ConformanceBase):
    """set_trial_params: contents and order, all-or-nothing rejection, races with a finish."""

    def _other_handle(self, storage: BaseStorage) -> BaseStorage | None:
        """A second object on the same store (a pickled copy), or None if not shared."""
        if not self.shared_across_processes:
            return None
        other: BaseStorage = pickle.loads(pickle.dumps(storage))
        return other

    def test_param_batch_sets_every_param_in_order(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "z", 0.25, F01)
        wide = FloatDistribution(-1.0, 2.0)
        storage.set_trial_params(
            trial_id, _batch([("b", 3.0, I05), ("a", 0.5, F01), ("z", 1.5, wide), ("c", 1, CAT)])
        )
        trial = storage.get_trial(trial_id)
        assert list(trial.params) == ["z", "b", "a", "c"], (
            "batch entries follow the mapping's order; a replaced name keeps its place"
        )
        assert trial.params == {"z": 1.5, "b": 3, "a": 0.5, "c": None}
        assert type(trial.params["b"]) is int
        assert trial.distributions == {"z": wide, "b": I05, "a": F01, "c": CAT}
        assert list(trial.distributions) == ["z", "b", "a", "c"]
        assert storage.get_trial_param(trial_id, "c") == 1.0
        assert storage.get_trial_params(trial_id) == trial.params
        [listed] = storage.get_all_trials(study_id)
        assert_same_trial(listed, trial)
        # The batch registered its distributions in the study, like set_trial_param.
        later = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):
            storage.set_trial_param(later, "b", 0.5, F01)
        other = self._other_handle(storage)
        if other is not None:
            try:
                assert_same_trial(other.get_trial(trial_id), trial)
            finally:
                other.close()

    def test_param_batch_round_trips_every_kind_of_param(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        entries = [(f"p{i}", internal, dist) for i, (dist, internal, _) in enumerate(GOOD_PARAMS)]
        storage.set_trial_params(trial_id, _batch(entries))
        trial = storage.get_trial(trial_id)
        assert list(trial.params) == [name for name, _, _ in entries]
        for (name, _, dist), (_, _, external) in zip(entries, GOOD_PARAMS, strict=True):
            got = trial.params[name]
            assert type(got) is type(external) and got == external, f"{name}: {got!r}"
            assert trial.distributions[name] == dist

    def test_param_batch_on_a_waiting_trial(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        storage.set_trial_params(trial_id, _batch([("a", 0.5, F01), ("b", 2, I05)]))
        trial = storage.get_trial(trial_id)
        assert trial.state == TrialState.WAITING
        assert trial.params == {"a": 0.5, "b": 2}

    def test_empty_param_batch_checks_the_trial_only(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "a", 0.5, F01)
        before = storage.get_trial(trial_id)
        storage.set_trial_params(trial_id, {})
        assert_same_trial(storage.get_trial(trial_id), before)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_params(trial_id, {})
        gone_study = self.new_study(storage)
        gone = storage.create_new_trial(gone_study)
        storage.delete_study(gone_study)
        missing: Any
        for missing in (gone, -1, True, "0"):
            with pytest.raises(KeyError):
                storage.set_trial_params(missing, {})

    def test_rejected_param_batch_stores_nothing(self, storage: BaseStorage) -> None:
        """A batch whose last entry conflicts with the study's distribution is rejected as a
        whole: its other entries are not stored, and their distributions not registered."""
        study_id = self.new_study(storage)
        first = storage.create_new_trial(study_id)
        storage.set_trial_param(first, "x", 0.5, F01)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "kept", 1.0, I05)
        before = storage.get_trial(trial_id)
        batch = _batch([("a", 0.5, F01), ("kept", 2.0, I05), ("x", 1.0, I05)])
        with pytest.raises(ValueError, match="'x'"):
            storage.set_trial_params(trial_id, batch)
        assert_same_trial(storage.get_trial(trial_id), before)
        # "a" was not registered: another distribution kind may still take the name.
        storage.set_trial_param(trial_id, "a", 1.0, I05)
        assert storage.get_trial(trial_id).params == {"kept": 1, "a": 1}

    @pytest.mark.parametrize(
        "bad",
        [
            (2.0, CategoricalDistribution(["a", "b"])),
            (float("nan"), F01),
            (0.5, "FloatDistribution"),
            0.5,
            (0.5,),
        ],
        ids=["no such choice", "NaN", "not a distribution", "not a pair", "short tuple"],
    )
    def test_param_batch_with_a_bad_entry_stores_nothing(
        self, storage: BaseStorage, bad: Any
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        before = storage.get_trial(trial_id)
        with pytest.raises(ValueError) as info:
            storage.set_trial_params(trial_id, {"a": (0.5, F01), "broken": bad})
        assert "'broken'" in str(info.value), f"the message names no parameter: {info.value}"
        assert_same_trial(storage.get_trial(trial_id), before)
        # Nothing was registered either.
        storage.set_trial_param(trial_id, "a", 1.0, I05)

    def test_param_batch_on_a_finished_trial_stores_nothing(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.PRUNED)
        finished = storage.get_trial(trial_id)
        with pytest.raises(UpdateFinishedTrialError, match=f"Trial#{finished.number} "):
            storage.set_trial_params(trial_id, _batch([("a", 0.5, F01), ("b", 1.0, I05)]))
        assert_same_trial(storage.get_trial(trial_id), finished)
        other = storage.create_new_trial(study_id)
        storage.set_trial_param(other, "a", 1.0, I05)  # "a" was not registered

    def test_param_batch_races_a_finish(self, storage: BaseStorage) -> None:
        """A batch and a finish of its trial, started together in two threads (the finish
        through another handle when the storage is shared): either every parameter lands
        before the finish, or the batch raises UpdateFinishedTrialError and none does; the
        finished trial then never changes."""
        self.require("thread_safe")
        study_id = self.new_study(storage)
        other = self._other_handle(storage)
        finisher = other if other is not None else storage
        names = [f"x{i}" for i in range(5)]
        outcomes = []
        try:
            for round_ in range(20):
                trial_id = storage.create_new_trial(study_id)
                batch = {name: (0.1 * i, F01) for i, name in enumerate(names)}

                def race(index: int, trial_id: int = trial_id, batch: Any = batch) -> str:
                    if index == 0:
                        try:
                            storage.set_trial_params(trial_id, batch)
                        except UpdateFinishedTrialError:
                            return "rejected"
                        return "stored"
                    assert finisher.set_trial_state_values(trial_id, TrialState.FAIL)
                    return "finished"

                outcome = run_threads(2, race)[0]
                outcomes.append(outcome)
                trial = finisher.get_trial(trial_id)
                assert trial.state == TrialState.FAIL
                expected = names if outcome == "stored" else []
                assert list(trial.params) == expected, (
                    f"round {round_}: the batch was {outcome}, the finished trial has params "
                    f"{list(trial.params)}"
                )
                assert_same_trial(storage.get_trial(trial_id), trial)
                with pytest.raises(UpdateFinishedTrialError):
                    storage.set_trial_params(trial_id, {"late": (0.5, F01)})
                assert_same_trial(finisher.get_trial(trial_id), trial)
        finally:
            if other is not None:
                other.close()
        assert set(outcomes) <= {"stored", "rejected"}

    def test_threads_write_param_batches_to_one_trial(self, storage: BaseStorage) -> None:
        """Concurrent batches of distinct names on one trial: none is lost, and each batch's
        names stay in their order."""
        self.require("thread_safe")
        n = max(2, min(8, self.max_threads))
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)

        def write(index: int) -> None:
            for round_ in range(3):
                names = [f"t{index}-{round_}-{i}" for i in range(3)]
                storage.set_trial_params(trial_id, {name: (0.5, F01) for name in names})

        run_threads(n, write)
        params = list(storage.get_trial(trial_id).params)
        assert len(params) == n * 3 * 3
        for index in range(n):
            for round_ in range(3):
                names = [f"t{index}-{round_}-{i}" for i in range(3)]
                positions = [params.index(name) for name in names]
                assert positions == sorted(positions), f"batch {names} was reordered"

    def test_param_batch_from_another_handle_is_checked_on_the_newest_state(
        self, storage_factory: StorageFactory
    ) -> None:
        """A batch through a handle that still holds the trial as RUNNING, after another
        handle finished it, is rejected; and one conflicting with a distribution another
        handle registered is rejected as a whole."""
        self.require("shared_across_processes")
        storage = storage_factory()
        other = pickle.loads(pickle.dumps(storage))
        try:
            study_id = self.new_study(storage)
            trial_id = storage.create_new_trial(study_id)
            storage.set_trial_params(trial_id, {"a": (0.5, F01)})
            running = storage.create_new_trial(study_id)
            assert storage.get_trial(trial_id).state == TrialState.RUNNING
            assert other.set_trial_state_values(trial_id, TrialState.FAIL)
            finished = other.get_trial(trial_id)
            with pytest.raises(UpdateFinishedTrialError):
                storage.set_trial_params(trial_id, {"b": (0.5, F01)})
            assert_same_trial(storage.get_trial(trial_id), finished)
            other.set_trial_param(other.create_new_trial(study_id), "c", 1.0, I05)
            with pytest.raises(ValueError, match="'c'"):
                storage.set_trial_params(running, {"d": (0.5, F01), "c": (0.5, F01)})
            assert storage.get_trial(running).params == {}
            assert other.get_trial(running).params == {}
        finally:
            other.close()
            storage.close()
