"""Conformance: user and system attributes of studies and trials (private)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from trialstore.conformance._base import ConformanceBase
from trialstore.storage.base import BaseStorage

__all__ = ["AttributesConformance"]

#: Values and what reading them back returns: ``json.loads(json.dumps(value))``.
JSON_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -(2**62),
    2**70,
    1.5,
    -0.0,
    1e-310,
    1.7976931348623157e308,
    "",
    "text with 'quotes' \"and\" \\ and unicode é 日本 🎉",
    [],
    {},
    [1, "a", None, [2.5, {"b": False}]],
    {"nested": {"list": [1, 2, {"deep": "x"}], "empty": {}}},
    (1, 2),
    {1: "int key", 2.5: "float key", None: "none key"},
    {True: "bool key"},
    ["x" * 10_000],
]


class AttributesConformance(ConformanceBase):
    """set_/get_ study and trial user and system attributes."""

    def _setters(
        self, storage: BaseStorage
    ) -> list[tuple[Callable[..., Any], Callable[..., Any]]]:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        return [
            (
                lambda k, v: storage.set_study_user_attr(study_id, k, v),
                lambda: storage.get_study_user_attrs(study_id),
            ),
            (
                lambda k, v: storage.set_study_system_attr(study_id, k, v),
                lambda: storage.get_study_system_attrs(study_id),
            ),
            (
                lambda k, v: storage.set_trial_user_attr(trial_id, k, v),
                lambda: storage.get_trial(trial_id).user_attrs,
            ),
            (
                lambda k, v: storage.set_trial_system_attr(trial_id, k, v),
                lambda: storage.get_trial(trial_id).system_attrs,
            ),
        ]

    @pytest.mark.parametrize("value", JSON_VALUES, ids=lambda v: repr(v)[:40])
    def test_attribute_reads_back_as_json_round_trip(
        self, storage: BaseStorage, value: Any
    ) -> None:
        expected = json.loads(json.dumps(value))
        for set_attr, get_attrs in self._setters(storage):
            set_attr("key", value)
            got = get_attrs()
            assert json.dumps(got, sort_keys=True) == json.dumps({"key": expected}, sort_keys=True)

    def test_nan_and_infinity_attributes(self, storage: BaseStorage) -> None:
        for set_attr, get_attrs in self._setters(storage):
            set_attr("v", [math.nan, math.inf, -math.inf])
            got = get_attrs()["v"]
            assert math.isnan(got[0])
            assert got[1:] == [math.inf, -math.inf]

    def test_attributes_replace_and_accumulate(self, storage: BaseStorage) -> None:
        for set_attr, get_attrs in self._setters(storage):
            set_attr("a", 1)
            set_attr("b", [1])
            set_attr("a", {"x": 2})
            assert get_attrs() == {"a": {"x": 2}, "b": [1]}

    def test_getters_on_trial(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_user_attr(trial_id, "u", 1)
        storage.set_trial_system_attr(trial_id, "s", 2)
        assert storage.get_trial_user_attrs(trial_id) == {"u": 1}
        assert storage.get_trial_system_attrs(trial_id) == {"s": 2}
        for missing in (-1,):
            with pytest.raises(KeyError):
                storage.get_trial_user_attrs(missing)
            with pytest.raises(KeyError):
                storage.get_trial_system_attrs(missing)

    def test_keys_are_kept_exactly(self, storage: BaseStorage) -> None:
        keys = ["", "K", "k", "k ", "é", "日本", "a.b", "$x", "x" * 512]
        for set_attr, get_attrs in self._setters(storage):
            for i, key in enumerate(keys):
                set_attr(key, i)
            assert get_attrs() == {key: i for i, key in enumerate(keys)}

    @pytest.mark.parametrize("key", [1, None, b"k", ("k",), "x" * 513], ids=lambda k: repr(k)[:20])
    def test_bad_key_raises_value_error(self, storage: BaseStorage, key: Any) -> None:
        for set_attr, get_attrs in self._setters(storage):
            with pytest.raises(ValueError):
                set_attr(key, 1)
            assert get_attrs() == {}

    @pytest.mark.parametrize(
        "value",
        [{1, 2}, b"bytes", object(), {(1, 2): 3}, [1, {2j}], {"a": [1, object()]}, 1j],
        ids=lambda v: type(v).__name__,
    )
    def test_non_json_value_raises_value_error(self, storage: BaseStorage, value: Any) -> None:
        for set_attr, get_attrs in self._setters(storage):
            set_attr("keep", 1)
            with pytest.raises(ValueError):
                set_attr("keep", value)
            with pytest.raises(ValueError):
                set_attr("new", value)
            assert get_attrs() == {"keep": 1}

    def test_circular_value_raises_value_error(self, storage: BaseStorage) -> None:
        circular: list[Any] = [1]
        circular.append(circular)
        for set_attr, get_attrs in self._setters(storage):
            with pytest.raises(ValueError):
                set_attr("c", circular)
            assert get_attrs() == {}

    def test_too_deep_value_raises_value_error(self, storage: BaseStorage) -> None:
        deep: list[Any] = []
        for _ in range(100_000):
            deep = [deep]
        for set_attr, get_attrs in self._setters(storage):
            with pytest.raises(ValueError):
                set_attr("deep", deep)
            assert get_attrs() == {}

    def test_missing_ids_raise_key_error(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.delete_study(study_id)
        calls: list[Callable[[], Any]] = [
            lambda: storage.set_study_user_attr(study_id, "k", 1),
            lambda: storage.set_study_system_attr(study_id, "k", 1),
            lambda: storage.set_trial_user_attr(trial_id, "k", 1),
            lambda: storage.set_trial_system_attr(trial_id, "k", 1),
            lambda: storage.set_study_user_attr(-1, "k", 1),
            lambda: storage.set_trial_system_attr(-1, "k", 1),
        ]
        for call in calls:
            with pytest.raises(KeyError):
                call()
