"""Conformance: objective values, parameters and intermediate values (private)."""

from __future__ import annotations

import math
import sys
from typing import Any

import pytest

from trialstore._core import StudyDirection, TrialState
from trialstore.conformance._base import ConformanceBase, assert_same_trial, make_template
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.storage.base import BaseStorage

__all__ = ["ValuesConformance"]

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE

#: Floats that must round-trip exactly as objective values.
EXACT_FLOATS = [
    0.0,
    1.0,
    -1.0,
    0.1,
    1 / 3,
    0.1 + 0.2,
    2.0**53 + 2,
    -(2.0**-1074),
    sys.float_info.max,
    -sys.float_info.max,
    sys.float_info.min,
    sys.float_info.epsilon,
    5e-324,
    123456789.123456789,
    math.inf,
    -math.inf,
]

#: (distribution, internal value, external value read back) that must be accepted.
GOOD_PARAMS: list[tuple[BaseDistribution, float, Any]] = [
    (FloatDistribution(0.0, 1.0), 0.0, 0.0),
    (FloatDistribution(0.0, 1.0), 1.0, 1.0),
    (FloatDistribution(0.0, 1.0), 0.1 + 0.2, 0.1 + 0.2),
    (FloatDistribution(-1e300, 1e300), -1e300, -1e300),
    (FloatDistribution(1e-10, 1.0, log=True), 1e-10, 1e-10),
    (FloatDistribution(-1.0, 1.0, step=0.25), -0.75, -0.75),
    (FloatDistribution(2.5, 2.5), 2.5, 2.5),
    (IntDistribution(0, 10), 3.0, 3),
    (IntDistribution(0, 10), 3, 3),
    (IntDistribution(-10, 10, step=5), -5.0, -5),
    (IntDistribution(1, 2**40, log=True), float(2**40), 2**40),
    (CategoricalDistribution(["a", "b", "c"]), 2.0, "c"),
    (CategoricalDistribution([None, True, 1, 2.5, "1"]), 0.0, None),
    (CategoricalDistribution([None, True, 1, 2.5, "1"]), 1.0, True),
    (CategoricalDistribution([None, True, 1, 2.5, "1"]), 2.0, 1),
    (CategoricalDistribution([None, True, 1, 2.5, "1"]), 3.0, 2.5),
    (CategoricalDistribution([None, True, 1, 2.5, "1"]), 4.0, "1"),
    (CategoricalDistribution(["only"]), 0.0, "only"),
]

#: (distribution, internal value, external value read back, internal value read back): values
#: outside the distribution's range (or off its grid) that every backend stores, as Optuna's
#: storages do.
OUTSIDE_PARAMS: list[tuple[BaseDistribution, float, Any, float]] = [
    (FloatDistribution(1.0, 2.0), 0.5, 0.5, 0.5),
    (FloatDistribution(0.0, 10.0), 100.0, 100.0, 100.0),
    (FloatDistribution(0.0, 1.0), -1e-300, -1e-300, -1e-300),
    (FloatDistribution(0.0, 1.0), -sys.float_info.max, -sys.float_info.max, -sys.float_info.max),
    (FloatDistribution(-1.0, 1.0, step=0.25), 0.3, 0.3, 0.3),
    (FloatDistribution(0.1, 10.0, log=True), 1e-3, 1e-3, 1e-3),
    (FloatDistribution(0.1, 10.0, log=True), 5e-324, 5e-324, 5e-324),
    (IntDistribution(0, 10), 11.0, 11, 11.0),
    (IntDistribution(0, 10), -3, -3, -3.0),
    (IntDistribution(0, 10, step=2), 3.0, 3, 3.0),
    (IntDistribution(0, 10), 2.5, 2, 2.0),
    (IntDistribution(0, 10), -2.5, -2, -2.0),
    (IntDistribution(1, 8, log=True), 64.0, 64, 64.0),
    (IntDistribution(2, 8, log=True), 1.0, 1, 1.0),
]

#: (distribution, internal value) that must be rejected with ValueError: not a finite real
#: number, or not one the distribution can represent (an index that names no choice; on a
#: log scale, a Float <= 0 or an Int < 1).
BAD_PARAMS: list[tuple[Any, Any]] = [
    (FloatDistribution(0.0, 1.0), math.nan),
    (FloatDistribution(-1e308, 1e308), math.inf),
    (FloatDistribution(0.0, 1.0), -math.inf),
    (IntDistribution(0, 10), math.nan),
    (IntDistribution(0, 10), math.inf),
    (CategoricalDistribution(["a", "b"]), math.nan),
    (FloatDistribution(0.0, 1.0), "0.5"),
    (FloatDistribution(0.0, 1.0), None),
    (FloatDistribution(0.0, 1.0), True),
    (FloatDistribution(0.0, 1.0), 10**400),
    (FloatDistribution(0.1, 1.0, log=True), 0.0),
    (FloatDistribution(0.1, 1.0, log=True), -0.5),
    (IntDistribution(1, 8, log=True), 0.0),
    (IntDistribution(1, 8, log=True), 0.5),
    (IntDistribution(1, 8, log=True), -4.0),
    (CategoricalDistribution(["a", "b"]), 2.0),
    (CategoricalDistribution(["a", "b"]), -1.0),
    (CategoricalDistribution(["a", "b"]), 0.5),
    (CategoricalDistribution(["a", "b"]), "a"),
    ("FloatDistribution(0, 1)", 0.5),
    (None, 0.5),
]


class ValuesConformance(ConformanceBase):
    """Objective values, set_trial_param / get_trial_param(s), intermediate values."""

    # -- objective values -------------------------------------------------------------------

    @pytest.mark.parametrize("value", EXACT_FLOATS, ids=repr)
    def test_objective_values_round_trip_exactly(self, storage: BaseStorage, value: float) -> None:
        study_id = self.new_study(storage, [MIN, MAX])
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value, -value])
        got = storage.get_trial(trial_id).values
        assert got is not None
        assert [type(v) for v in got] == [float, float]
        assert got == [value, -value]
        listed = storage.get_all_trials(study_id)[0].values
        assert listed == [value, -value]

    def test_integer_values_come_back_as_floats(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [3])
        assert storage.get_trial(trial_id).values == [3.0]
        assert type(storage.get_trial(trial_id).value) is float

    # -- parameters -------------------------------------------------------------------------

    @pytest.mark.parametrize(("dist", "internal", "external"), GOOD_PARAMS, ids=repr)
    def test_param_round_trips(
        self, storage: BaseStorage, dist: BaseDistribution, internal: float, external: Any
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "p", internal, dist)
        trial = storage.get_trial(trial_id)
        assert trial.distributions == {"p": dist}
        assert type(trial.params["p"]) is type(external)
        assert trial.params["p"] == external
        got = storage.get_trial_param(trial_id, "p")
        assert type(got) is float
        assert got == float(internal)
        assert storage.get_trial_params(trial_id) == {"p": external}
        assert type(storage.get_trial_params(trial_id)["p"]) is type(external)

    @pytest.mark.parametrize(
        ("dist", "internal", "external", "internal_back"), OUTSIDE_PARAMS, ids=repr
    )
    def test_param_outside_its_range_is_stored(
        self,
        storage: BaseStorage,
        dist: BaseDistribution,
        internal: float,
        external: Any,
        internal_back: float,
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "p", internal, dist)
        for trial in (storage.get_trial(trial_id), storage.get_all_trials(study_id)[0]):
            assert trial.distributions == {"p": dist}
            assert trial.params == {"p": external}
            assert type(trial.params["p"]) is type(external)
        assert storage.get_trial_params(trial_id) == {"p": external}
        got = storage.get_trial_param(trial_id, "p")
        assert type(got) is float and got == internal_back
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
        # A stored trial is a valid template: a copy (or a retry) of it keeps the value.
        copied = storage.create_new_trial(study_id, storage.get_trial(trial_id))
        assert storage.get_trial(copied).params == {"p": external}
        batch = storage.create_new_trial(study_id)
        storage.set_trial_params(batch, {"p": (internal, dist)})
        assert storage.get_trial(batch).params == {"p": external}

    @pytest.mark.parametrize(("dist", "internal"), BAD_PARAMS, ids=repr)
    def test_bad_param_raises_value_error(
        self, storage: BaseStorage, dist: Any, internal: Any
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        before = storage.get_trial(trial_id)
        with pytest.raises(ValueError):
            storage.set_trial_param(trial_id, "p", internal, dist)
        assert_same_trial(storage.get_trial(trial_id), before)
        # A rejected call registers nothing: any distribution is still welcome for "p".
        storage.set_trial_param(trial_id, "p", 1.0, IntDistribution(0, 3))
        assert storage.get_trial(trial_id).params == {"p": 1}

    @pytest.mark.parametrize("name", [1, None, b"p", "x" * 513], ids=lambda n: repr(n)[:20])
    def test_bad_param_name_raises_value_error(self, storage: BaseStorage, name: Any) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):
            storage.set_trial_param(trial_id, name, 0.5, FloatDistribution(0, 1))
        assert storage.get_trial(trial_id).params == {}

    def test_param_names_and_order_are_kept(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        names = ["z", "", "A", "a", "é", "x" * 512, "b"]
        for i, name in enumerate(names):
            storage.set_trial_param(trial_id, name, float(i), IntDistribution(0, 10))
        trial = storage.get_trial(trial_id)
        assert list(trial.params) == names
        assert list(trial.distributions) == names
        assert trial.params == {name: i for i, name in enumerate(names)}

    def test_param_can_be_overwritten_by_compatible_distribution(
        self, storage: BaseStorage
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        storage.set_trial_param(trial_id, "x", 5.0, FloatDistribution(0, 10))
        trial = storage.get_trial(trial_id)
        assert trial.params == {"x": 5.0}
        assert trial.distributions == {"x": FloatDistribution(0, 10)}

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            (FloatDistribution(0, 1), IntDistribution(0, 1)),
            (FloatDistribution(0.1, 1), FloatDistribution(0.1, 1, log=True)),
            (IntDistribution(1, 8), IntDistribution(1, 8, log=True)),
            (IntDistribution(0, 1), CategoricalDistribution([0, 1])),
            (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["b", "a"])),
            (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["a", "b", "c"])),
        ],
        ids=repr,
    )
    def test_incompatible_distribution_raises_value_error(
        self, storage: BaseStorage, first: BaseDistribution, second: BaseDistribution
    ) -> None:
        study_id = self.new_study(storage)
        earlier = storage.create_new_trial(study_id)
        storage.set_trial_param(earlier, "p", 0.0 if first.single() else 1.0, first)
        storage.set_trial_state_values(earlier, TrialState.COMPLETE, [0.0])
        trial_id = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):
            storage.set_trial_param(trial_id, "p", 1.0, second)
        template = make_template(
            TrialState.COMPLETE,
            params={"p": second.to_external_repr(1.0)},
            distributions={"p": second},
        )
        with pytest.raises(ValueError):
            storage.create_new_trial(study_id, template)
        assert storage.get_n_trials(study_id) == 2
        assert storage.get_trial(trial_id).params == {}
        # Other studies are not affected.
        other = self.new_study(storage)
        other_trial = storage.create_new_trial(other)
        storage.set_trial_param(other_trial, "p", 1.0, second)

    def test_compatible_distributions_with_other_bounds(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        first, second = storage.create_new_trial(study_id), storage.create_new_trial(study_id)
        storage.set_trial_param(first, "f", 0.5, FloatDistribution(0, 1))
        storage.set_trial_param(second, "f", 50.0, FloatDistribution(10, 100, step=10))
        storage.set_trial_param(first, "i", 2.0, IntDistribution(0, 3))
        storage.set_trial_param(second, "i", 20.0, IntDistribution(10, 30, step=5))
        storage.set_trial_param(first, "c", 1.0, CategoricalDistribution([1, 2.5]))
        storage.set_trial_param(second, "c", 1.0, CategoricalDistribution([1.0, 2.5]))
        assert storage.get_trial(second).params == {"f": 50.0, "i": 20, "c": 2.5}

    def test_template_params_register_distributions(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        storage.create_new_trial(
            study_id,
            make_template(params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}),
        )
        trial_id = storage.create_new_trial(study_id)
        with pytest.raises(ValueError):
            storage.set_trial_param(trial_id, "x", 1.0, IntDistribution(0, 1))

    def test_get_trial_param_errors(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
        with pytest.raises(KeyError):
            storage.get_trial_param(trial_id, "y")
        with pytest.raises(KeyError):
            storage.get_trial_param(-1, "x")
        with pytest.raises(KeyError):
            storage.get_trial_params(-1)
        with pytest.raises(KeyError):
            storage.set_trial_param(-1, "x", 0.5, FloatDistribution(0, 1))

    # -- intermediate values ----------------------------------------------------------------

    def test_intermediate_values(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        entries = {
            0: 1.0,
            1: math.nan,
            2: math.inf,
            3: -math.inf,
            2**31 - 1: sys.float_info.max,
            17: 0.1 + 0.2,
            5: 7,
        }
        for step, value in entries.items():
            storage.set_trial_intermediate_value(trial_id, step, value)
        got = storage.get_trial(trial_id).intermediate_values
        assert sorted(got) == sorted(entries)
        for step, value in entries.items():
            assert type(got[step]) is float
            assert type(next(k for k in got if k == step)) is int
            if math.isnan(value):
                assert math.isnan(got[step])
            else:
                assert got[step] == value
        storage.set_trial_intermediate_value(trial_id, 1, 2.0)
        assert storage.get_trial(trial_id).intermediate_values[1] == 2.0
        assert storage.get_trial(trial_id).last_step == 2**31 - 1

    @pytest.mark.parametrize(
        ("step", "value"),
        [
            (-1, 1.0),
            (2**31, 1.0),
            (2**63, 1.0),
            (1.0, 1.0),
            ("1", 1.0),
            (None, 1.0),
            (True, 1.0),
            (1, "1.0"),
            (1, None),
            (1, [1.0]),
            (1, True),
        ],
        ids=repr,
    )
    def test_bad_intermediate_value_raises_value_error(
        self, storage: BaseStorage, step: Any, value: Any
    ) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_intermediate_value(trial_id, 1, 5.0)
        with pytest.raises(ValueError):
            storage.set_trial_intermediate_value(trial_id, step, value)
        assert storage.get_trial(trial_id).intermediate_values == {1: 5.0}
        with pytest.raises(KeyError):
            storage.set_trial_intermediate_value(-1, 1, 1.0)
