"""ParamBatches (``param_writes="at_tell"``): what happens to a trial's batch after each
outcome of its write, and which names it knows, driven directly on a storage."""

from __future__ import annotations

from typing import Any

import pytest
from _recording import Recording

from trialstore.distributions import FloatDistribution, IntDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, ParamBatches, TrialState

F01 = FloatDistribution(0.0, 1.0)
I03 = IntDistribution(0, 3)


class Flaky(Recording):
    """A Recording whose next batch write (with or without the finish) raises ``error``
    without storing anything."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None
        self.finishes_with_params: list[int] = []

    def _fail(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error

    def set_trial_params(self, trial_id: int, params: Any) -> None:
        self._fail()
        super().set_trial_params(trial_id, params)

    def set_trial_params_and_state_values(self, trial_id: int, *args: Any) -> bool:
        self._fail()
        self.finishes_with_params.append(trial_id)
        return super().set_trial_params_and_state_values(trial_id, *args)


def _setup() -> tuple[Flaky, ParamBatches, int, FrozenTrial]:
    storage = Flaky()
    trial_id = storage.create_new_trial(storage.create_new_study([StudyDirection.MINIMIZE], "s"))
    shown = storage.get_trial(trial_id)
    return storage, ParamBatches(storage), trial_id, shown


def _add(batches: ParamBatches, trial_id: int, shown: FrozenTrial, name: str) -> None:
    batches.add(trial_id, shown, name, 0.5, F01)
    shown.params[name] = 0.5
    shown.distributions[name] = F01


def test_a_batch_whose_write_fails_for_an_unknown_reason_stays_and_is_written_again() -> None:
    storage, batches, trial_id, shown = _setup()
    _add(batches, trial_id, shown, "x")
    storage.error = ConnectionError("lost")
    with pytest.raises(ConnectionError):
        batches.flush(trial_id)
    assert batches.pending(trial_id) == {"x": (0.5, F01)}
    assert batches.trial_ids() == [trial_id]
    assert shown.params == {"x": 0.5}
    batches.flush(trial_id)
    assert storage.get_trial(trial_id).params == {"x": 0.5}
    assert batches.trial_ids() == []


def test_a_rejected_batch_is_dropped_and_unshown() -> None:
    storage, batches, trial_id, shown = _setup()
    _add(batches, trial_id, shown, "x")
    storage.error = ValueError("param 'x': incompatible")
    with pytest.raises(ValueError, match="'x'"):
        batches.flush(trial_id)
    assert batches.trial_ids() == [] and shown.params == {} and shown.distributions == {}
    _add(batches, trial_id, shown, "x")
    assert not batches.is_known(trial_id), "learned from a rejected batch"
    batches.flush(trial_id)
    assert storage.get_trial(trial_id).params == {"x": 0.5}


@pytest.mark.parametrize("error", [KeyError(1), UpdateFinishedTrialError("finished")], ids=repr)
def test_a_batch_of_a_trial_gone_or_finished_is_dropped(error: Exception) -> None:
    storage, batches, trial_id, shown = _setup()
    _add(batches, trial_id, shown, "x")
    storage.error = error
    with pytest.raises(type(error)):
        batches.flush(trial_id)
    assert batches.trial_ids() == []
    assert shown.params == {"x": 0.5}, "a batch the storage did not reject stays shown"


def test_names_become_known_from_written_batches_and_read_trials() -> None:
    storage, batches, trial_id, shown = _setup()
    _add(batches, trial_id, shown, "x")
    assert not batches.is_known(trial_id)
    batches.flush_unless_known(trial_id)
    assert storage.methods() == ["set_trial_params"]
    assert batches.is_known(trial_id), "an empty batch is known"
    batches.learn({"n": I03, "x": IntDistribution(0, 9)})
    _add(batches, trial_id, shown, "x")
    batches.add(trial_id, shown, "n", 1.0, I03)
    assert batches.is_known(trial_id)
    batches.flush_unless_known(trial_id)  # known: left for the finish
    assert batches.pending(trial_id) == {"x": (0.5, F01), "n": (1.0, I03)}
    with pytest.raises(ValueError, match="'n'"):
        batches.add(trial_id, shown, "n", 0.5, F01)  # the first known distribution stays
    assert batches.finish(trial_id, TrialState.COMPLETE, [1.0])
    assert storage.finishes_with_params == [trial_id]
    stored = storage.get_trial(trial_id)
    assert stored.state == TrialState.COMPLETE and stored.params == {"x": 0.5, "n": 1}
    assert batches.trial_ids() == []


def test_finish_without_a_batch_writes_the_state_only() -> None:
    storage, batches, trial_id, _ = _setup()
    assert batches.finish(trial_id, TrialState.FAIL, None)
    assert storage.methods() == ["set_trial_state_values"]


def test_a_finish_that_fails_for_an_unknown_reason_keeps_the_batch() -> None:
    storage, batches, trial_id, shown = _setup()
    batches.learn({"x": F01})
    _add(batches, trial_id, shown, "x")
    storage.error = ConnectionError("lost")
    with pytest.raises(ConnectionError):
        batches.finish(trial_id, TrialState.COMPLETE, [1.0])
    assert batches.trial_ids() == [trial_id]
    storage.error = ValueError("values rejected")
    with pytest.raises(ValueError):
        batches.finish(trial_id, TrialState.COMPLETE, [1.0])
    assert batches.trial_ids() == []
    assert shown.params == {"x": 0.5}


def test_an_invalid_parameter_is_not_added() -> None:
    _, batches, trial_id, shown = _setup()
    with pytest.raises(ValueError, match="param_name"):
        batches.add(trial_id, shown, "p" * 513, 0.5, F01)
    with pytest.raises(ValueError, match="finite"):
        batches.add(trial_id, shown, "x", float("inf"), F01)
    assert batches.trial_ids() == []


def test_batches_of_trials_are_kept_apart() -> None:
    storage, batches, first, shown = _setup()
    second = storage.create_new_trial(storage.get_study_id_from_name("s"))
    _add(batches, first, shown, "x")
    batches.add(second, storage.get_trial(second), "y", 1.0, I03)
    batches.discard(first)
    assert batches.trial_ids() == [second]
    batches.flush(second)
    assert storage.get_trial(first).params == {}
    assert storage.get_trial(second).params == {"y": 1}
