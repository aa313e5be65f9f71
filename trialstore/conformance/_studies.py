"""Conformance: creating, naming, listing and deleting studies (private)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from trialstore._core import StudyDirection, TrialState
from trialstore.conformance._base import (
    UNKNOWN_IDS,
    ConformanceBase,
    StorageFactory,
    unique_name,
)
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage.base import BaseStorage

__all__ = ["StudiesConformance"]

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE


class _IntSubclass(int):
    """An int of another type: it names the study or trial its value names."""


class StudiesConformance(ConformanceBase):
    """create_new_study, delete_study, names, directions and get_all_studies."""

    def test_create_study_returns_fresh_int_ids(self, storage: BaseStorage) -> None:
        before = self.all_study_ids(storage)
        ids = [self.new_study(storage) for _ in range(3)]
        for study_id in ids:
            assert type(study_id) is int
        assert len(set(ids)) == 3
        assert not set(ids) & before

    def test_study_name_round_trips(self, storage: BaseStorage) -> None:
        name = unique_name("name")
        study_id = storage.create_new_study([MIN], name)
        assert storage.get_study_name_from_id(study_id) == name
        assert storage.get_study_id_from_name(name) == study_id

    def test_generated_study_name(self, storage: BaseStorage) -> None:
        study_id = storage.create_new_study([MIN])
        name = storage.get_study_name_from_id(study_id)
        assert name.startswith("no-name-")
        uuid.UUID(name[len("no-name-") :])
        assert storage.get_study_id_from_name(name) == study_id
        other = storage.create_new_study([MIN], None)
        assert storage.get_study_name_from_id(other) != name

    @pytest.mark.parametrize(
        "suffix", ["", " ", "-é-日本語-🎉", "\t\n", "'\";--", "%_*", "A" * 10], ids=repr
    )
    def test_study_names_are_kept_exactly(self, storage: BaseStorage, suffix: str) -> None:
        name = unique_name("Exact") + suffix
        study_id = storage.create_new_study([MIN], name)
        assert storage.get_study_name_from_id(study_id) == name
        assert storage.get_study_id_from_name(name) == study_id

    def test_names_differing_in_case_or_trailing_space_are_distinct(
        self, storage: BaseStorage
    ) -> None:
        base = unique_name("Case")
        variants = [base, base.upper(), base.lower(), base + " ", base + "é", base + "e"]
        ids = [storage.create_new_study([MIN], name) for name in variants]
        assert len(set(ids)) == len(variants)
        for name, study_id in zip(variants, ids, strict=True):
            assert storage.get_study_id_from_name(name) == study_id
            assert storage.get_study_name_from_id(study_id) == name

    def test_empty_name_is_a_valid_name(self, storage: BaseStorage) -> None:
        study_id = storage.create_new_study([MIN], "")
        try:
            assert storage.get_study_name_from_id(study_id) == ""
            assert storage.get_study_id_from_name("") == study_id
            with pytest.raises(DuplicatedStudyError):
                storage.create_new_study([MIN], "")
        finally:
            storage.delete_study(study_id)

    def test_name_of_512_characters_is_allowed_513_is_not(self, storage: BaseStorage) -> None:
        prefix = unique_name("long")
        name = prefix + "x" * (512 - len(prefix))
        study_id = storage.create_new_study([MIN], name)
        assert storage.get_study_name_from_id(study_id) == name
        with pytest.raises(ValueError):
            storage.create_new_study([MIN], name + "y")
        with pytest.raises(KeyError):
            storage.get_study_id_from_name(name + "y")

    @pytest.mark.parametrize("bad", [12, b"bytes", 1.5, ["a"], True], ids=repr)
    def test_study_name_must_be_a_str(self, storage: BaseStorage, bad: Any) -> None:
        with pytest.raises(ValueError):
            storage.create_new_study([MIN], bad)

    def test_duplicate_name_raises_and_changes_nothing(self, storage: BaseStorage) -> None:
        name = unique_name("dup")
        study_id = storage.create_new_study([MIN], name)
        storage.set_study_user_attr(study_id, "k", 1)
        with pytest.raises(DuplicatedStudyError):
            storage.create_new_study([MAX, MAX], name)
        assert storage.get_study_id_from_name(name) == study_id
        assert storage.get_study_directions(study_id) == [MIN]
        assert storage.get_study_user_attrs(study_id) == {"k": 1}
        ids_named = [s._study_id for s in storage.get_all_studies() if s.study_name == name]
        assert ids_named == [study_id]

    @pytest.mark.parametrize(
        "directions",
        [[MIN], [MAX], [MIN, MAX], [MAX, MAX, MIN], (MAX, MIN)],
        ids=repr,
    )
    def test_directions_round_trip(
        self, storage: BaseStorage, directions: list[StudyDirection]
    ) -> None:
        study_id = self.new_study(storage, directions)
        got = storage.get_study_directions(study_id)
        assert got == list(directions)
        assert all(isinstance(d, StudyDirection) for d in got)
        got.append(MAX)
        assert storage.get_study_directions(study_id) == list(directions)

    @pytest.mark.parametrize(
        "directions",
        [
            [],
            (),
            [StudyDirection.NOT_SET],
            [MIN, StudyDirection.NOT_SET],
            ["minimize"],
            [True],
            [None],
            MIN,
            "minimize",
            None,
        ],
        ids=repr,
    )
    def test_bad_directions_raise_value_error(self, storage: BaseStorage, directions: Any) -> None:
        name = unique_name("baddir")
        with pytest.raises(ValueError):
            storage.create_new_study(directions, name)
        with pytest.raises(KeyError):
            storage.get_study_id_from_name(name)

    def test_directions_may_be_given_as_ints(self, storage: BaseStorage) -> None:
        study_id = storage.create_new_study([1, 2], unique_name("ints"))  # type: ignore[list-item]
        assert storage.get_study_directions(study_id) == [MIN, MAX]
        assert all(type(d) is StudyDirection for d in storage.get_study_directions(study_id))

    def test_ids_that_are_not_ints_raise_key_error(self, storage: BaseStorage) -> None:
        study_ids = [self.new_study(storage) for _ in range(2)]
        for study_id in study_ids:
            for wrong in (float(study_id), str(study_id), bool(study_id), [study_id]):
                with pytest.raises(KeyError):
                    storage.get_study_name_from_id(wrong)  # type: ignore[arg-type]
                with pytest.raises(KeyError):
                    storage.get_all_trials(wrong)  # type: ignore[arg-type]
                with pytest.raises(KeyError):
                    storage.create_new_trial(wrong)  # type: ignore[arg-type]
        for wrong_name in (None, 1, b"x"):
            with pytest.raises(KeyError):
                storage.get_study_id_from_name(wrong_name)  # type: ignore[arg-type]
        for study_id in study_ids:
            assert storage.get_all_trials(study_id) == []

    def test_unknown_study_ids_of_any_size_raise_key_error(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        calls: dict[str, Callable[[int], object]] = {
            "get_study_name_from_id": storage.get_study_name_from_id,
            "get_study_directions": storage.get_study_directions,
            "get_study_user_attrs": storage.get_study_user_attrs,
            "get_study_system_attrs": storage.get_study_system_attrs,
            "set_study_user_attr": lambda i: storage.set_study_user_attr(i, "k", 1),
            "set_study_system_attr": lambda i: storage.set_study_system_attr(i, "k", 1),
            "get_all_trials": storage.get_all_trials,
            "get_n_trials": storage.get_n_trials,
            "get_trial_id_from_study_id_trial_number": (
                lambda i: storage.get_trial_id_from_study_id_trial_number(i, 0)
            ),
            "create_new_trial": storage.create_new_trial,
            "create_trial_or_list_waiting": storage.create_trial_or_list_waiting,
            "get_stale_trial_ids": storage.get_stale_trial_ids,
            "delete_study": storage.delete_study,
        }
        for huge in UNKNOWN_IDS:
            for name, call in calls.items():
                with pytest.raises(KeyError):
                    call(huge)
                    pytest.fail(f"{name}({huge}) did not raise KeyError")
        assert storage.get_study_user_attrs(study_id) == {}
        assert storage.get_study_system_attrs(study_id) == {}
        assert storage.get_n_trials(study_id) == 0

    def test_int_subclass_study_ids_name_the_same_study(self, storage: BaseStorage) -> None:
        name = unique_name("intsub")
        study_id = storage.create_new_study([MIN], name)
        same = _IntSubclass(study_id)
        assert storage.get_study_name_from_id(same) == name
        storage.set_study_user_attr(same, "k", 1)
        trial_id = storage.create_new_trial(same)
        assert storage.get_study_user_attrs(study_id) == {"k": 1}
        assert [t._trial_id for t in storage.get_all_trials(same)] == [trial_id]
        assert storage.get_trial_id_from_study_id_trial_number(same, 0) == trial_id
        assert type(trial_id) is int

    def test_missing_study_raises_key_error(self, storage: BaseStorage) -> None:
        study_id = self.new_study(storage)
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.get_study_id_from_name(unique_name("never-created"))
        for missing in (study_id, -1):
            with pytest.raises(KeyError):
                storage.get_study_name_from_id(missing)
            with pytest.raises(KeyError):
                storage.get_study_directions(missing)
            with pytest.raises(KeyError):
                storage.get_study_user_attrs(missing)
            with pytest.raises(KeyError):
                storage.get_study_system_attrs(missing)
            with pytest.raises(KeyError):
                storage.delete_study(missing)
            with pytest.raises(KeyError):
                storage.get_all_trials(missing)
            with pytest.raises(KeyError):
                storage.get_n_trials(missing)
            with pytest.raises(KeyError):
                storage.get_best_trial(missing)
            with pytest.raises(KeyError):
                storage.create_new_trial(missing)
            with pytest.raises(KeyError):
                storage.get_trial_id_from_study_id_trial_number(missing, 0)
            with pytest.raises(KeyError):
                storage.get_stale_trial_ids(missing)
            with pytest.raises(KeyError):
                storage.fail_stale_trials(missing)

    def test_delete_study_removes_it_and_its_trials(self, storage: BaseStorage) -> None:
        name = unique_name("del")
        study_id = storage.create_new_study([MIN], name)
        trial_ids = [storage.create_new_trial(study_id) for _ in range(3)]
        storage.set_trial_state_values(trial_ids[0], TrialState.COMPLETE, [1.0])
        keep = self.new_study(storage)
        kept_trial = storage.create_new_trial(keep)
        storage.delete_study(study_id)
        with pytest.raises(KeyError):
            storage.get_study_id_from_name(name)
        with pytest.raises(KeyError):
            storage.get_study_name_from_id(study_id)
        assert study_id not in self.all_study_ids(storage)
        for trial_id in trial_ids:
            with pytest.raises(KeyError):
                storage.get_trial(trial_id)
            with pytest.raises(KeyError):
                storage.set_trial_user_attr(trial_id, "k", 1)
        with pytest.raises(KeyError):
            storage.delete_study(study_id)
        assert storage.get_trial(kept_trial).number == 0
        assert [t._trial_id for t in storage.get_all_trials(keep)] == [kept_trial]

    def test_deleted_name_is_free_and_ids_are_never_reused(self, storage: BaseStorage) -> None:
        name = unique_name("reuse")
        seen_studies: set[int] = set()
        seen_trials: set[int] = set()
        for _ in range(3):
            study_id = storage.create_new_study([MIN], name)
            assert study_id not in seen_studies
            seen_studies.add(study_id)
            for _ in range(2):
                trial_id = storage.create_new_trial(study_id)
                assert trial_id not in seen_trials
                seen_trials.add(trial_id)
            assert storage.get_study_id_from_name(name) == study_id
            storage.delete_study(study_id)

    def test_get_all_studies(self, storage: BaseStorage) -> None:
        first = storage.create_new_study([MIN], unique_name("all"))
        second = storage.create_new_study([MAX, MIN], unique_name("all"))
        gone = self.new_study(storage)
        storage.set_study_user_attr(second, "u", [1, "x"])
        storage.set_study_system_attr(second, "s", {"a": None})
        storage.delete_study(gone)
        studies = storage.get_all_studies()
        ids = [s._study_id for s in studies]
        assert ids == sorted(ids)
        assert gone not in ids
        by_id = {s._study_id: s for s in studies}
        assert by_id[first].study_name == storage.get_study_name_from_id(first)
        assert by_id[first].direction == MIN
        assert by_id[first].directions == [MIN]
        assert by_id[first].user_attrs == {}
        assert by_id[first].system_attrs == {}
        assert by_id[second].directions == [MAX, MIN]
        assert by_id[second].user_attrs == {"u": [1, "x"]}
        assert by_id[second].system_attrs == {"s": {"a": None}}

    def test_two_storages_from_the_factory_are_independent_objects(
        self, storage_factory: StorageFactory
    ) -> None:
        first, second = storage_factory(), storage_factory()
        try:
            assert first is not second
            study_id = self.new_study(first)
            assert first.get_study_directions(study_id) == [MIN]
        finally:
            first.close()
            second.close()
