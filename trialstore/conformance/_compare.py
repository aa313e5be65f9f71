"""Conformance: comparing a storage with the reference model (private): the errors either may
raise, whether the storage's error matches the model's, and trials, trial lists and whole
stores compared field by field."""

from __future__ import annotations

import datetime
import json
import math
from typing import Any

from trialstore._core import FrozenTrial
from trialstore.conformance._model import NOW, Model, ModelTrial
from trialstore.exceptions import (
    DuplicatedStudyError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage.base import BaseStorage

__all__ = [
    "EXPECTED_ERRORS",
    "check_trial",
    "check_trial_list",
    "compare_everything",
    "matches",
]

#: The exception types an operation may raise on either side (anything else is a failure).
EXPECTED_ERRORS = (
    ValueError,
    TrialDeletedError,
    KeyError,
    UpdateFinishedTrialError,
    DuplicatedStudyError,
    RuntimeError,
)


def matches(error: BaseException, expected: type[BaseException]) -> bool:
    """Whether ``error`` (raised by the storage) is of the type the model raised,
    ``expected`` (a RuntimeError must not be an UpdateFinishedTrialError)."""
    if expected is RuntimeError:
        return isinstance(error, RuntimeError) and not isinstance(error, UpdateFinishedTrialError)
    if expected is ValueError:
        return isinstance(error, ValueError)
    return isinstance(error, expected)


def check_trial(got: Any, want: ModelTrial) -> None:
    """Assert that ``got`` is the FrozenTrial the model holds as ``want``, field by field and
    type by type. A datetime the model holds as NOW takes the storage's value (so later
    comparisons use it)."""
    assert isinstance(got, FrozenTrial), f"expected a FrozenTrial, got {got!r}"
    where = f"trial {want.trial_id} (number {want.number})"
    assert got._trial_id == want.trial_id, f"{where}: id {got._trial_id}"
    assert got.number == want.number, f"{where}: number {got.number}"
    assert got.state == want.state, f"{where}: state {got.state!r} != {want.state!r}"
    if want.values is None:
        assert got.values is None, f"{where}: values {got.values!r}, expected None"
    else:
        assert got.values is not None and [float(v) for v in got.values] == want.values, (
            f"{where}: values {got.values!r} != {want.values!r}"
        )
        assert all(type(v) is float for v in got.values), f"{where}: values not floats"
    for field in ("datetime_start", "datetime_complete"):
        expected, actual = getattr(want, field), getattr(got, field)
        if expected is NOW:
            assert isinstance(actual, datetime.datetime), f"{where}: {field} {actual!r}"
            setattr(want, field, actual)
        else:
            assert actual == expected, f"{where}: {field} {actual!r} != {expected!r}"
    assert list(got.params) == list(want.params), f"{where}: params {got.params!r}"
    for name, value in want.params.items():
        assert type(got.params[name]) is type(value) and got.params[name] == value, (
            f"{where}: param {name}={got.params[name]!r}, expected {value!r}"
        )
    assert list(got.distributions) == list(want.distributions)
    assert got.distributions == want.distributions, f"{where}: {got.distributions!r}"
    for field in ("user_attrs", "system_attrs"):
        g, w = getattr(got, field), getattr(want, field)
        assert json.dumps(g, sort_keys=True) == json.dumps(w, sort_keys=True), (
            f"{where}: {field} {g!r} != {w!r}"
        )
    assert set(got.intermediate_values) == set(want.intermediate_values), (
        f"{where}: intermediate steps {sorted(got.intermediate_values)}"
    )
    for step, value in want.intermediate_values.items():
        actual = got.intermediate_values[step]
        assert type(actual) is float and (
            actual == value or (math.isnan(actual) and math.isnan(value))
        ), f"{where}: intermediate {step}: {actual!r} != {value!r}"


def check_trial_list(got: Any, want: list[ModelTrial]) -> None:
    """Assert that ``got`` lists the model's trials ``want``, in the same order."""
    assert [t._trial_id for t in got] == [t.trial_id for t in want], (
        f"trial ids {[t._trial_id for t in got]} != {[t.trial_id for t in want]}"
    )
    for g, w in zip(got, want, strict=True):
        check_trial(g, w)


def compare_everything(storage: BaseStorage, model: Model) -> None:
    """Assert that ``storage`` holds every study and trial of ``model`` as the model does, and
    lists none of the studies deleted in the model."""
    listed = {s._study_id: s for s in storage.get_all_studies()}
    for study_id in model.deleted_study_ids:
        assert study_id not in listed, f"deleted study {study_id} is listed"
    for study_id, study in model.studies.items():
        assert study_id in listed, f"study {study_id} is not listed"
        frozen = listed[study_id]
        assert frozen.study_name == study.name
        assert frozen.directions == study.directions
        assert json.dumps(frozen.user_attrs, sort_keys=True) == json.dumps(
            study.user_attrs, sort_keys=True
        )
        assert json.dumps(frozen.system_attrs, sort_keys=True) == json.dumps(
            study.system_attrs, sort_keys=True
        )
        check_trial_list(storage.get_all_trials(study_id), model.get_all_trials(study_id))
