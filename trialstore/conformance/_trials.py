"""Conformance: creating trials, numbers, templates, the state machine and trial queries
(private)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable
from typing import Any

import pytest

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.conformance._base import (
    UNKNOWN_IDS,
    ConformanceBase,
    assert_same_trial,
    make_template,
)
from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["TrialsConformance"]

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class _NotJSON:
    """A value json.dumps rejects, with a stable repr (test ids must not hold addresses)."""

    def __repr__(self) -> str:
        return "<not JSON>"


class _IntSubclass(int):
    """An int of another type: it names the trial its value names."""


class TrialsConformance(ConformanceBase):
    """create_new_trial, numbers, templates, set_trial_state_values and trial queries."""

    # -- creation and numbering ---------------------------------------------------------------

    def test_new_trial_is_running_and_empty(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        before = datetime.datetime.now()
        trial_id = storage.create_new_trial(study_id)
        assert type(trial_id) is int
        trial = storage.get_trial(trial_id)
        assert trial._trial_id == trial_id
        assert trial.number == 0
        assert trial.state == TrialState.RUNNING
        assert trial.values is None
        assert trial.value is None
        assert isinstance(trial.datetime_start, datetime.datetime)
        # Loose bound: a server clock may differ slightly from ours.
        assert abs(trial.datetime_start - before) < datetime.timedelta(minutes=5)
        assert trial.datetime_complete is None
        assert trial.params == {}
        assert trial.distributions == {}
        assert trial.user_attrs == {}
        assert trial.system_attrs == {}
        assert trial.intermediate_values == {}

    def test_numbers_are_dense_per_study_and_ids_fresh(self, storage: BaseStorage) -> None:
        first, second = self.new_study(storage), self.new_study(storage)
        seen: set[int] = set()
        created: dict[int, list[int]] = {first: [], second: []}
        for i in range(12):
            study_id = first if i % 3 else second
            if i % 4 == 0:
                trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
            else:
                trial_id = storage.create_new_trial(study_id)
            assert trial_id not in seen
            seen.add(trial_id)
            created[study_id].append(trial_id)
        for study_id, trial_ids in created.items():
            numbers = [storage.get_trial(t).number for t in trial_ids]
            assert numbers == list(range(len(trial_ids)))
            for number, trial_id in enumerate(trial_ids):
                assert storage.get_trial_id_from_study_id_trial_number(study_id, number) == (
                    trial_id
                )
                assert storage.get_trial_number_from_id(trial_id) == number
            listed = storage.get_all_trials(study_id)
            assert [t._trial_id for t in listed] == trial_ids
            assert [t.number for t in listed] == list(range(len(trial_ids)))

    def test_trial_number_lookup_errors(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        storage.create_new_trial(study_id)
        for number in (1, -1, 10**6, 2**31, 2**40):  # 2**31: beyond a 32-bit INTEGER column
            with pytest.raises(KeyError):
                storage.get_trial_id_from_study_id_trial_number(study_id, number)
        gone = storage.create_new_trial(self.new_study(storage))
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.get_trial_id_from_study_id_trial_number(study_id, 0)
        for missing in (-1, -2):
            with pytest.raises(KeyError):
                storage.get_trial(missing)
            with pytest.raises(KeyError):
                storage.get_trial_number_from_id(missing)
        assert storage.get_trial_number_from_id(gone) == 0

    # -- templates ----------------------------------------------------------------------------

    def test_template_is_copied_exactly(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage, [MIN, MAX])
        template = make_template(
            TrialState.COMPLETE,
            values=[1.5, -math.inf],
            params={"z": 0.25, "a": 3, "m": "b"},
            distributions={
                "z": FloatDistribution(0.0, 1.0),
                "a": IntDistribution(1, 5),
                "m": CategoricalDistribution(["a", "b", None]),
            },
            user_attrs={"u": [1, 2.5, "x", None, True, {"n": {}}]},
            system_attrs={"s": "v"},
            intermediate_values={3: 0.5, 0: math.nan, 7: math.inf, 2**31 - 1: -1.0},
        )
        template.number = 99
        template._trial_id = 12345
        trial_id = storage.create_new_trial(study_id, template)
        trial = storage.get_trial(trial_id)
        expected = make_template(
            TrialState.COMPLETE,
            values=[1.5, -math.inf],
            params={"z": 0.25, "a": 3, "m": "b"},
            distributions=dict(template.distributions),
            user_attrs={"u": [1, 2.5, "x", None, True, {"n": {}}]},
            system_attrs={"s": "v"},
            intermediate_values={3: 0.5, 0: math.nan, 7: math.inf, 2**31 - 1: -1.0},
        )
        expected.number = 0
        expected._trial_id = trial_id
        assert_same_trial(trial, expected)
        assert list(trial.params) == ["z", "a", "m"], "parameter insertion order must be kept"
        assert type(trial.params["a"]) is int
        assert type(trial.params["z"]) is float

    @pytest.mark.parametrize("state", list(TrialState), ids=str)
    def test_template_state_is_kept(self, storage: BaseStorage, state: TrialState) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(state))
        trial = storage.get_trial(trial_id)
        assert trial.state == state
        assert trial.datetime_start == make_template(state).datetime_start
        assert trial.datetime_complete == make_template(state).datetime_complete
        assert storage.get_n_trials(study_id, state) == 1

    def test_template_object_is_not_shared(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        template = make_template(TrialState.RUNNING, user_attrs={"a": [1]}, params={})
        trial_id = storage.create_new_trial(study_id, template)
        template.user_attrs["a"].append(2)
        template.user_attrs["b"] = 1
        template.intermediate_values[1] = 1.0
        template.state = TrialState.FAIL
        trial = storage.get_trial(trial_id)
        assert trial.user_attrs == {"a": [1]}
        assert trial.intermediate_values == {}
        assert trial.state == TrialState.RUNNING

    @pytest.mark.parametrize(
        "change",
        [
            {"state": "COMPLETE"},
            {"datetime_complete": None},
            {"datetime_start": "2024-01-01"},
            {"values": None},
            {"values": [math.nan]},
            {"values": ["1.0"]},
            {"values": 1.0},
            {"params": {"x": math.inf}, "distributions": {"x": FloatDistribution(0, 1)}},
            {"params": {"x": -1.0}, "distributions": {"x": FloatDistribution(0.1, 1, log=True)}},
            {"params": {"x": 0.5}, "distributions": {}},
            {"params": {"x": 0.5}, "distributions": {"x": "FloatDistribution"}},
            {"params": {"x": "d"}, "distributions": {"x": CategoricalDistribution(["c"])}},
            {"user_attrs": {"k": {1, 2}}},
            {"system_attrs": {"k": _NotJSON()}},
            {"user_attrs": {"x" * 513: 1}},
            {"intermediate_values": {-1: 1.0}},
            {"intermediate_values": {2**31: 1.0}},
            {"intermediate_values": {1.5: 1.0}},
            {"intermediate_values": {1: "1.0"}},
        ],
        ids=repr,
    )
    def test_bad_template_raises_value_error(
        self, storage: BaseStorage, change: dict[str, Any]
    ) -> None:
        study_id = self.new_study(storage)
        template = make_template(TrialState.COMPLETE)
        for field, value in change.items():
            if field == "values":
                template._values = value
            else:
                setattr(template, field, value)
        with pytest.raises(ValueError):
            storage.create_new_trial(study_id, template)
        assert storage.get_all_trials(study_id) == []

    def test_aware_template_datetimes_become_naive_local_time(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        zone = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
        start = datetime.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=zone)
        complete = start + datetime.timedelta(hours=2)
        template = make_template(datetime_start=start, datetime_complete=complete)
        trial = storage.get_trial(storage.create_new_trial(study_id, template))
        for got, expected in ((trial.datetime_start, start), (trial.datetime_complete, complete)):
            assert got is not None and got.tzinfo is None
            assert got == expected.astimezone().replace(tzinfo=None)

    def test_template_distributions_may_be_in_another_order(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        template = make_template(
            params={"b": 1, "a": 0.5},
            distributions={"a": FloatDistribution(0, 1), "b": IntDistribution(0, 2)},
        )
        trial = storage.get_trial(storage.create_new_trial(study_id, template))
        assert list(trial.params) == ["b", "a"]
        assert list(trial.distributions) == ["b", "a"]

    @pytest.mark.parametrize("state", [TrialState.WAITING, TrialState.COMPLETE], ids=repr)
    def test_template_params_outside_their_ranges_are_stored(
        self, storage: BaseStorage, state: TrialState
    ) -> None:
        """As set_trial_param stores them: a retry or copy of such a trial keeps its values."""
        study_id = self.new_study(storage)
        params = {"x": 2.0, "n": 7, "s": 0.3, "l": 1e-5}
        distributions = {
            "x": FloatDistribution(0, 1),
            "n": IntDistribution(0, 5),
            "s": FloatDistribution(0, 1, step=0.25),
            "l": FloatDistribution(1e-3, 1, log=True),
        }
        template = make_template(state, params=params, distributions=distributions)
        trial = storage.get_trial(storage.create_new_trial(study_id, template))
        assert trial.params == params and trial.distributions == distributions
        assert [type(v) for v in trial.params.values()] == [float, int, float, float]

    def test_trial_ids_that_are_not_ints_raise_key_error(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_ids = [storage.create_new_trial(study_id) for _ in range(2)]
        for trial_id in trial_ids:
            for wrong in (float(trial_id), str(trial_id), bool(trial_id)):
                with pytest.raises(KeyError):
                    storage.get_trial(wrong)  # type: ignore[arg-type]
                with pytest.raises(KeyError):
                    storage.set_trial_user_attr(wrong, "k", 1)  # type: ignore[arg-type]
                with pytest.raises(KeyError):
                    storage.set_trial_state_values(wrong, TrialState.FAIL)  # type: ignore[arg-type]
        for read_first in (False, True):  # a storage that keeps what it read: True is not 1
            if read_first:
                assert len(storage.get_all_trials(study_id)) == 2
            for number in (0.0, "0", True, 1.0):
                with pytest.raises(KeyError):
                    storage.get_trial_id_from_study_id_trial_number(study_id, number)  # type: ignore[arg-type]
        for trial_id in trial_ids:
            assert storage.get_trial(trial_id).state == TrialState.RUNNING
            assert storage.get_trial(trial_id).user_attrs == {}

    def test_unknown_trial_ids_of_any_size_raise_key_error(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        dist = FloatDistribution(0.0, 1.0)
        calls: dict[str, Callable[[int], object]] = {
            "get_trial": storage.get_trial,
            "get_trial_number_from_id": storage.get_trial_number_from_id,
            "get_trial_params": storage.get_trial_params,
            "set_trial_param": lambda i: storage.set_trial_param(i, "x", 0.5, dist),
            "set_trial_params": lambda i: storage.set_trial_params(i, {"x": (0.5, dist)}),
            "set_trial_intermediate_value": lambda i: storage.set_trial_intermediate_value(
                i, 0, 1.0
            ),
            "set_trial_user_attr": lambda i: storage.set_trial_user_attr(i, "k", 1),
            "set_trial_system_attr": lambda i: storage.set_trial_system_attr(i, "k", 1),
            "set_trial_state_values": lambda i: storage.set_trial_state_values(i, TrialState.FAIL),
        }
        if self.supports_heartbeats:
            calls["record_heartbeat"] = storage.record_heartbeat
        for huge in UNKNOWN_IDS:
            for name, call in calls.items():
                with pytest.raises(KeyError):
                    call(huge)
                    pytest.fail(f"{name}({huge}) did not raise KeyError")
        assert storage.get_trial(trial_id).state == TrialState.RUNNING
        assert storage.get_trial(trial_id) == storage.get_all_trials(study_id)[0]
        assert storage.get_trial(trial_id).params == {}
        assert storage.get_trial(trial_id).user_attrs == {}

    def test_int_subclass_trial_ids_name_the_same_trial(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        same = _IntSubclass(trial_id)
        storage.set_trial_param(same, "x", 0.5, FloatDistribution(0.0, 1.0))
        storage.set_trial_user_attr(same, "k", 1)
        storage.set_trial_intermediate_value(same, 0, 2.0)
        assert storage.get_trial_number_from_id(same) == 0
        assert storage.set_trial_state_values(same, TrialState.COMPLETE, [1.0])
        trial = storage.get_trial(same)
        assert (trial.params, trial.user_attrs) == ({"x": 0.5}, {"k": 1})
        assert (trial.intermediate_values, trial.values) == ({0: 2.0}, [1.0])
        assert storage.get_trial(trial_id) == trial
        assert type(trial._trial_id) is int

    def test_unfinished_template_must_not_have_datetime_complete(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        template = make_template(TrialState.RUNNING)
        template.datetime_complete = datetime.datetime(2024, 1, 1)
        with pytest.raises(ValueError):
            storage.create_new_trial(study_id, template)
        template = make_template(TrialState.RUNNING)
        template.datetime_start = None
        with pytest.raises(ValueError):
            storage.create_new_trial(study_id, template)
        assert storage.get_n_trials(study_id) == 0

    def test_template_values_must_match_directions(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage, [MIN, MAX])
        for values in ([1.0], [1.0, 2.0, 3.0]):
            with pytest.raises(ValueError):
                storage.create_new_trial(study_id, make_template(values=values))
        assert storage.get_n_trials(study_id) == 0
        trial_id = storage.create_new_trial(study_id, make_template(values=[1.0, 2.0]))
        assert storage.get_trial(trial_id).values == [1.0, 2.0]
        assert storage.get_trial(trial_id).number == 0

    def test_template_is_not_a_frozen_trial(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        for bad in ({"state": TrialState.RUNNING}, 1, "trial"):
            with pytest.raises(ValueError):
                storage.create_new_trial(study_id, bad)  # type: ignore[arg-type]
        assert storage.get_n_trials(study_id) == 0

    # -- the state machine ----------------------------------------------------------------

    def test_claim_waiting_trial(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        waiting = storage.get_trial(trial_id)
        assert waiting.state == TrialState.WAITING
        assert waiting.datetime_start is None
        assert storage.set_trial_state_values(trial_id, TrialState.RUNNING) is True
        running = storage.get_trial(trial_id)
        assert running.state == TrialState.RUNNING
        assert isinstance(running.datetime_start, datetime.datetime)
        assert running.datetime_complete is None
        assert storage.set_trial_state_values(trial_id, TrialState.RUNNING) is False
        assert_same_trial(storage.get_trial(trial_id), running)

    def test_running_to_running_returns_false(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        before = storage.get_trial(trial_id)
        assert storage.set_trial_state_values(trial_id, TrialState.RUNNING) is False
        assert_same_trial(storage.get_trial(trial_id), before)

    @pytest.mark.parametrize("state", FINISHED, ids=str)
    @pytest.mark.parametrize("start", [TrialState.RUNNING, TrialState.WAITING], ids=str)
    def test_finish_trial(
        self, storage: BaseStorage, state: TrialState, start: TrialState
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(start))
        values = [2.5] if state == TrialState.COMPLETE else None
        assert storage.set_trial_state_values(trial_id, state, values) is True
        trial = storage.get_trial(trial_id)
        assert trial.state == state
        assert trial.values == values
        assert isinstance(trial.datetime_complete, datetime.datetime)
        if start == TrialState.RUNNING:
            assert trial.datetime_start == make_template(start).datetime_start

    @pytest.mark.parametrize("state", [TrialState.PRUNED, TrialState.FAIL], ids=str)
    def test_pruned_and_fail_may_carry_values(
        self, storage: BaseStorage, state: TrialState
    ) -> None:
        study_id = self.new_study(storage, [MIN, MAX])
        trial_id = storage.create_new_trial(study_id)
        assert storage.set_trial_state_values(trial_id, state, [1.0, math.inf]) is True
        assert storage.get_trial(trial_id).values == [1.0, math.inf]

    @pytest.mark.parametrize("finished", FINISHED, ids=str)
    def test_finished_trial_never_changes(
        self, storage: BaseStorage, finished: TrialState
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        values = [1.0] if finished == TrialState.COMPLETE else None
        storage.set_trial_state_values(trial_id, finished, values)
        before = storage.get_trial(trial_id)
        dist = FloatDistribution(0, 1)
        attempts: list[Any] = [
            lambda: storage.set_trial_state_values(trial_id, TrialState.RUNNING),
            lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [2.0]),
            lambda: storage.set_trial_state_values(trial_id, TrialState.PRUNED),
            lambda: storage.set_trial_state_values(trial_id, TrialState.FAIL),
            lambda: storage.set_trial_param(trial_id, "x", 0.25, dist),
            lambda: storage.set_trial_param(trial_id, "y", 0.25, dist),
            lambda: storage.set_trial_intermediate_value(trial_id, 1, 1.0),
            lambda: storage.set_trial_user_attr(trial_id, "k", 1),
            lambda: storage.set_trial_system_attr(trial_id, "k", 1),
        ]
        if self.supports_heartbeats:
            attempts.append(lambda: storage.record_heartbeat(trial_id))
        for attempt in attempts:
            with pytest.raises(UpdateFinishedTrialError):
                attempt()
        assert_same_trial(storage.get_trial(trial_id), before)

    @pytest.mark.parametrize(
        "state", [TrialState.WAITING, "RUNNING", 7, None, True, 1.0], ids=repr
    )
    def test_bad_target_state_raises_value_error(self, storage: BaseStorage, state: Any) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        with pytest.raises(ValueError):
            storage.set_trial_state_values(trial_id, state)
        assert storage.get_trial(trial_id).state == TrialState.WAITING

    @pytest.mark.parametrize(
        ("state", "values"),
        [
            (TrialState.COMPLETE, None),
            (TrialState.RUNNING, [1.0]),
            (TrialState.COMPLETE, [math.nan]),
            (TrialState.PRUNED, [math.nan]),
            (TrialState.FAIL, [math.nan]),
            (TrialState.COMPLETE, ["1.0"]),
            (TrialState.COMPLETE, [None]),
            (TrialState.COMPLETE, [True]),
            (TrialState.COMPLETE, 1.0),
            (TrialState.COMPLETE, "1"),
            (TrialState.COMPLETE, [1.0, 2.0]),
            (TrialState.COMPLETE, []),
        ],
        ids=repr,
    )
    def test_bad_values_raise_value_error(
        self, storage: BaseStorage, state: TrialState, values: Any
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        before = storage.get_trial(trial_id)
        with pytest.raises(ValueError):
            storage.set_trial_state_values(trial_id, state, values)
        assert_same_trial(storage.get_trial(trial_id), before)

    def test_values_replace_template_values(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(
            study_id, make_template(TrialState.WAITING, values=[5.0])
        )
        assert storage.get_trial(trial_id).values == [5.0]
        storage.set_trial_state_values(trial_id, TrialState.RUNNING)
        assert storage.get_trial(trial_id).values == [5.0]
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [6.0])
        assert storage.get_trial(trial_id).values == [6.0]

    # -- queries ----------------------------------------------------------------------------

    def test_get_all_trials_filters_by_state(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        states = [
            TrialState.RUNNING,
            TrialState.WAITING,
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
            TrialState.COMPLETE,
        ]
        ids = [storage.create_new_trial(study_id, make_template(s)) for s in states]
        assert [t._trial_id for t in storage.get_all_trials(study_id)] == ids
        assert [t._trial_id for t in storage.get_all_trials(study_id, deepcopy=False)] == ids
        assert storage.get_all_trials(study_id, states=()) == []
        complete = storage.get_all_trials(study_id, states=(TrialState.COMPLETE,))
        assert [t._trial_id for t in complete] == [ids[2], ids[5]]
        unfinished = storage.get_all_trials(
            study_id, deepcopy=False, states=[TrialState.WAITING, TrialState.RUNNING]
        )
        assert [t._trial_id for t in unfinished] == ids[:2]
        assert storage.get_n_trials(study_id) == 6
        assert storage.get_n_trials(study_id, TrialState.COMPLETE) == 2
        assert storage.get_n_trials(study_id, (TrialState.PRUNED, TrialState.FAIL)) == 2
        assert storage.get_n_trials(self.new_study(storage)) == 0
        for trial in storage.get_all_trials(study_id):
            assert_same_trial(trial, storage.get_trial(trial._trial_id))

    @pytest.mark.parametrize("direction", [MIN, MAX], ids=str)
    def test_get_best_trial(self, storage: BaseStorage, direction: StudyDirection) -> None:
        study_id = self.new_study(storage, [direction])
        with pytest.raises(ValueError):
            storage.get_best_trial(study_id)
        storage.create_new_trial(study_id)
        storage.create_new_trial(study_id, make_template(TrialState.PRUNED, values=[-1e300]))
        storage.create_new_trial(study_id, make_template(TrialState.FAIL, values=[1e300]))
        with pytest.raises(ValueError):
            storage.get_best_trial(study_id)
        values = [3.0, 1.0, 7.0, 1.0, 7.0, 5.0]
        ids = [storage.create_new_trial(study_id, make_template(values=[v])) for v in values]
        best = storage.get_best_trial(study_id)
        assert isinstance(best, FrozenTrial)
        expected = ids[1] if direction == MIN else ids[2]
        assert best._trial_id == expected
        assert best.value == (1.0 if direction == MIN else 7.0)

    def test_get_best_trial_with_infinities(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage, [MAX])
        storage.create_new_trial(study_id, make_template(values=[1.0]))
        best = storage.create_new_trial(study_id, make_template(values=[math.inf]))
        storage.create_new_trial(study_id, make_template(values=[-math.inf]))
        assert storage.get_best_trial(study_id)._trial_id == best

    def test_get_best_trial_multi_objective_raises_runtime_error(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage, [MIN, MIN])
        storage.create_new_trial(study_id, make_template(values=[1.0, 2.0]))
        with pytest.raises(RuntimeError) as info:
            storage.get_best_trial(study_id)
        assert not isinstance(info.value, UpdateFinishedTrialError)

    def test_check_trial_is_updatable(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        for state in (TrialState.RUNNING, TrialState.WAITING):
            storage.check_trial_is_updatable(trial_id, state)
        for state in FINISHED:
            with pytest.raises(UpdateFinishedTrialError):
                storage.check_trial_is_updatable(trial_id, state)

    def test_remove_session_keeps_data(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.remove_session()
        assert storage.get_trial(trial_id).number == 0
        storage.create_new_trial(study_id)
        assert storage.get_n_trials(study_id) == 2
