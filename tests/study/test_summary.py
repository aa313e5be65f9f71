"""StudySummary (trialstore/study/_summary.py): fields, equality, order, repr, pickling, and
that it is not a FrozenStudy."""

from __future__ import annotations

import copy
import datetime
import pickle
from typing import Any

import optuna
import pytest

from trialstore.study import FrozenStudy, StudyDirection, StudySummary
from trialstore.trial import FrozenTrial, TrialState

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE
START = datetime.datetime(2024, 1, 2, 3, 4, 5)


def _best() -> FrozenTrial:
    return FrozenTrial(
        number=0,
        state=TrialState.COMPLETE,
        value=1.5,
        datetime_start=START,
        datetime_complete=START,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=3,
    )


def _summary(**overrides: Any) -> StudySummary:
    fields: dict[str, Any] = {
        "study_name": "s",
        "direction": MIN,
        "best_trial": _best(),
        "user_attrs": {"u": 1},
        "system_attrs": {"s": 2},
        "n_trials": 5,
        "datetime_start": START,
        "study_id": 4,
    }
    fields.update(overrides)
    return StudySummary(**fields)


def test_fields() -> None:
    summary = _summary()
    assert (summary.study_name, summary.n_trials, summary.datetime_start) == ("s", 5, START)
    assert (summary.user_attrs, summary.system_attrs) == ({"u": 1}, {"s": 2})
    assert summary.best_trial == _best()
    assert summary._study_id == 4
    assert (summary.direction, summary.directions) == (MIN, [MIN])
    summary.directions.append(MAX)
    assert summary.directions == [MIN]


def test_directions() -> None:
    multi = _summary(direction=None, directions=[MIN, MAX], best_trial=None)
    assert multi.directions == [MIN, MAX]
    with pytest.raises(RuntimeError):
        _ = multi.direction
    for direction, directions in ((None, None), (MIN, [MIN]), (MIN, [])):
        with pytest.raises(ValueError, match="StudySummary"):
            _summary(direction=direction, directions=directions)


def test_equality_order_and_hash() -> None:
    summary = _summary()
    assert summary == _summary()
    for field, other in (
        ("n_trials", 6),
        ("best_trial", None),
        ("datetime_start", None),
        ("user_attrs", {}),
        ("system_attrs", {}),
        ("study_name", "t"),
        ("study_id", 5),
    ):
        assert summary != _summary(**{field: other}), field
    assert summary != _summary(direction=MAX)
    assert hash(summary) == hash(_summary(study_name="t", n_trials=0, study_id=4))
    later = _summary(study_id=9)
    assert summary < later and summary <= later and summary <= _summary()
    assert not later < summary and not later <= summary
    assert sorted([later, summary]) == [summary, later]


def test_not_comparable_with_a_frozen_study() -> None:
    summary = _summary()
    frozen = FrozenStudy("s", MIN, {"u": 1}, {"s": 2}, 4)
    assert summary != frozen and frozen != summary
    with pytest.raises(TypeError):
        _ = summary < frozen
    with pytest.raises(TypeError):
        _ = frozen <= summary
    assert not isinstance(summary, FrozenStudy) and not isinstance(frozen, StudySummary)


def test_repr() -> None:
    assert repr(_summary()) == (
        f"StudySummary(study_name='s', directions={[MIN]!r}, n_trials=5, study_id=4)"
    )


def test_copies_and_pickles() -> None:
    summary = _summary(direction=None, directions=[MIN, MAX])
    for copied in (pickle.loads(pickle.dumps(summary)), copy.deepcopy(summary)):
        assert copied == summary and copied is not summary
        assert copied.directions == [MIN, MAX]


def test_has_optunas_attributes() -> None:
    ours = _summary()
    theirs = optuna.study.StudySummary(
        study_name="s",
        direction=optuna.study.StudyDirection.MINIMIZE,
        best_trial=None,
        user_attrs={},
        n_trials=0,
        datetime_start=None,
        study_id=0,
    )
    for name in vars(theirs):
        assert hasattr(ours, name), name
    for name in ("direction", "directions"):
        assert hasattr(ours, name), name
