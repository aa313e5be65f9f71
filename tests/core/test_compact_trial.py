"""FrozenTrial's compact layout (trialstore/_core/): ``__slots__``, params and intermediate
values decoded from a shared source when first read, attribute dicts made when first read,
shared distributions dicts. None of it shows through the API: a compact trial equals the
eagerly built one, pickles, copies and prints the same."""

from __future__ import annotations

import copy
import datetime
import pickle
from typing import Any

import pytest

from trialstore._core import (
    DistributionsInterner,
    FrozenTrial,
    TrialState,
    compact_trial,
    copy_trial,
    is_feasible,
)
from trialstore.distributions import CategoricalDistribution, FloatDistribution

START = datetime.datetime(2024, 1, 2, 3, 4, 5)
END = START + datetime.timedelta(seconds=1)
X = FloatDistribution(0.0, 1.0)
C = CategoricalDistribution(["a", "b"])

# ``pickle.dumps(trial, protocol=4)`` of the trial of ``_old_pickled_trial`` by trialstore
# before FrozenTrial had slots (its state was its ``__dict__``).
OLD_PICKLE = bytes.fromhex(
    "800495e7010000000000008c1e747269616c73746f72652e5f636f72652e5f66726f7a656e5f747269616c94"
    "8c0b46726f7a656e547269616c9493942981947d94288c075f6e756d626572944b038c057374617465948c17"
    "747269616c73746f72652e5f636f72652e5f7374617465948c0a547269616c53746174659493944b01859452"
    "948c075f76616c756573945d94473ff8000000000000618c0f5f6461746574696d655f7374617274948c0864"
    "61746574696d65948c086461746574696d65949394430a07e8010203040500000094859452948c1164617465"
    "74696d655f636f6d706c657465946811430a07e8010203040600000094859452948c075f706172616d73947d"
    "948c017894473fe0000000000000738c0e5f646973747269627574696f6e73947d94681b8c18747269616c73"
    "746f72652e646973747269627574696f6e73948c11466c6f6174446973747269627574696f6e949394298194"
    "7d94288c0473746570944e8c036c6f77944700000000000000008c046869676894473ff00000000000008c03"
    "6c6f6794897562738c0b5f757365725f6174747273947d948c0175944b01738c0d5f73797374656d5f617474"
    "7273947d948c13696e7465726d6564696174655f76616c756573947d944b00474000000000000000738c095f"
    "747269616c5f6964944b1175622e"
)


class Source:
    """A TrialSource over dicts, counting its calls."""

    def __init__(self, params: dict[int, dict[str, Any]], ivs: dict[int, dict[int, float]]):
        self.params, self.ivs = params, ivs
        self.calls = 0

    def params_of(self, trial_id: int) -> dict[str, Any]:
        self.calls += 1
        return dict(self.params[trial_id])

    def intermediate_values_of(self, trial_id: int) -> dict[int, float]:
        self.calls += 1
        return dict(self.ivs[trial_id])


def eager(trial_id: int = 7, **overrides: Any) -> FrozenTrial:
    fields: dict[str, Any] = {
        "number": 3,
        "state": TrialState.COMPLETE,
        "value": None,
        "datetime_start": START,
        "datetime_complete": END,
        "params": {"x": 0.5, "c": "b"},
        "distributions": {"x": X, "c": C},
        "user_attrs": {},
        "system_attrs": {},
        "intermediate_values": {0: 2.0, 4: 1.0},
        "trial_id": trial_id,
    }
    fields.update(overrides)
    return FrozenTrial(**fields, values=[1.5])


def compact(source: Source | None = None, trial_id: int = 7) -> FrozenTrial:
    if source is None:
        source = Source({trial_id: {"x": 0.5, "c": "b"}}, {trial_id: {0: 2.0, 4: 1.0}})
    return FrozenTrial._compact(
        3, TrialState.COMPLETE, [1.5], START, END, {"x": X, "c": C}, trial_id, source
    )


def test_a_compact_trial_reads_and_compares_as_the_eager_one() -> None:
    trial, want = compact(), eager()
    assert trial == want and want == trial
    assert hash(trial) == hash(want)
    assert repr(trial) == repr(want)
    assert (trial.params, trial.intermediate_values) == (want.params, want.intermediate_values)
    assert (trial.user_attrs, trial.system_attrs) == ({}, {})
    assert trial.last_step == 4
    assert trial.suggest_categorical("c", ["a", "b"]) == "b"
    assert trial.constraints == {}
    trial._validate()


def test_a_field_read_twice_is_the_same_dict_and_keeps_changes() -> None:
    source = Source({7: {"x": 0.5, "c": "b"}}, {7: {0: 2.0}})
    trial = compact(source)
    assert trial.params is trial.params
    assert trial.intermediate_values is trial.intermediate_values
    assert trial.user_attrs is trial.user_attrs
    assert source.calls == 2  # decoded once each
    trial.params["x"] = 0.25
    trial.intermediate_values[9] = 3.0
    trial.set_user_attr("u", 1)
    trial.set_constraint("c0", -1.0)
    assert trial.params == {"x": 0.25, "c": "b"}
    assert trial.intermediate_values == {0: 2.0, 9: 3.0}
    assert trial.user_attrs == {"u": 1}
    assert trial.system_attrs == {"constraints:c0": -1.0}


def test_library_reads_leave_a_compact_trial_compact() -> None:
    trial = compact()
    assert trial == eager()
    repr(trial)
    assert is_feasible(trial) and trial.last_step == 4 and trial.constraints == {}
    pickle.dumps(trial)
    copy.deepcopy(trial)
    assert trial._param_dict is None and trial._iv_dict is None
    assert trial._user_dict is None and trial._system_dict is None


def test_setters_replace_what_the_source_would_give() -> None:
    trial = compact()
    trial.params = {"y": 1}
    trial.intermediate_values = {}
    trial.user_attrs = {"a": 1}
    trial.system_attrs = {"b": 2}
    assert (trial.params, trial.intermediate_values) == ({"y": 1}, {})
    assert (trial.user_attrs, trial.system_attrs) == ({"a": 1}, {"b": 2})
    assert trial.last_step is None


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_decodes_and_keeps_the_fields(protocol: int) -> None:
    trial = compact()
    trial.set_user_attr("u", [1])
    loaded = pickle.loads(pickle.dumps(trial, protocol=protocol))
    assert type(loaded) is FrozenTrial
    assert loaded == trial == eager(user_attrs={"u": [1]})
    assert loaded._source is None  # what was decoded travels, not the source


def _old_pickled_trial() -> FrozenTrial:
    return FrozenTrial(
        number=3,
        state=TrialState.COMPLETE,
        value=1.5,
        datetime_start=START,
        datetime_complete=END,
        params={"x": 0.5},
        distributions={"x": X},
        user_attrs={"u": 1},
        system_attrs={},
        intermediate_values={0: 2.0},
        trial_id=17,
    )


def test_pickles_of_the_dict_layout_still_load() -> None:
    loaded = pickle.loads(OLD_PICKLE)
    assert loaded == _old_pickled_trial()
    # And the state pickled now is the one that layout had (an older reader takes it).
    assert set(loaded.__getstate__()) == {
        "_number",
        "state",
        "_values",
        "_datetime_start",
        "datetime_complete",
        "_params",
        "_distributions",
        "_user_attrs",
        "_system_attrs",
        "intermediate_values",
        "_trial_id",
    }


def test_deep_copies_are_independent() -> None:
    trial = compact()
    for other in (copy.deepcopy(trial), copy_trial(trial)):
        assert other == trial
        other.params["x"] = 0.0
        other.distributions["y"] = X
        other.intermediate_values[1] = 0.0
        other.user_attrs["u"] = 1
        other.system_attrs["s"] = 1
        assert other.values is not None
        other.values.append(2.0)
        assert trial == eager()


def test_copy_trial_of_a_compact_trial_stays_compact_and_owns_what_it_decodes() -> None:
    source = Source({7: {"x": 0.5, "c": "b"}}, {7: {0: 2.0}})
    trial = compact(source)
    first, second = copy_trial(trial), copy_trial(trial)
    assert first._source is source and first._param_dict is None
    assert first.params is not second.params is not trial.params
    assert first.distributions is not trial.distributions
    first.params["x"] = 0.0
    assert second.params["x"] == trial.params["x"] == 0.5


class Tagged(FrozenTrial):
    """A subclass with an attribute of its own (its instances get a ``__dict__``)."""

    def __init__(self, *args: Any, tag: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag


def test_subclasses_keep_their_own_attributes() -> None:
    trial = Tagged(
        3, TrialState.COMPLETE, 1.5, START, END, {"x": 0.5}, {"x": X}, {}, {}, {}, 7, tag="t"
    )
    for other in (pickle.loads(pickle.dumps(trial)), copy.deepcopy(trial), copy.copy(trial)):
        assert type(other) is Tagged and other.tag == "t" and other == trial
    other = copy.copy(trial)
    other.tag = "u"
    assert other != trial


def test_instances_have_no_dict() -> None:
    trial = eager()
    assert not hasattr(trial, "__dict__")
    with pytest.raises(AttributeError):
        trial.unknown = 1  # type: ignore[attr-defined]


def test_the_interner_shares_one_dict_per_set_of_the_same_objects() -> None:
    interner = DistributionsInterner(max_entries=2)
    first = {"x": X, "c": C}
    assert interner.intern(first) is first
    assert interner.intern({"x": X, "c": C}) is first
    assert interner.intern({"c": C, "x": X}) is not first  # another order: another set
    equal_not_same = {"x": FloatDistribution(0.0, 1.0), "c": C}
    assert interner.intern(equal_not_same) is equal_not_same
    assert interner.intern({}) is not interner.intern({})  # empty dicts are never shared
    copied = pickle.loads(pickle.dumps(interner))
    fresh = {"x": X, "c": C}
    assert copied.intern(fresh) is fresh  # a copy starts empty: its ids would be stale


def test_compact_trial_drops_empty_dicts_and_shares_distributions() -> None:
    interner = DistributionsInterner()
    a, b = eager(1), eager(2)
    compact_trial(a, interner)
    compact_trial(b, interner)
    assert a.distributions is b.distributions
    assert a._user_dict is None and a._system_dict is None
    assert a == eager(1) and b == eager(2)
    assert a.user_attrs == {} and a.user_attrs is not b.user_attrs
