"""Conformance: which error wins, and rejected calls change nothing (private).

Precedence on every operation: (1) ValueError for an argument that is wrong whatever is stored,
(2) KeyError for a missing id, (3) UpdateFinishedTrialError, (4) ValueError that depends on
stored data (number of values against the study's directions, a distribution incompatible with
the study's earlier one of that name).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from trialstore._core import StudyDirection, TrialState
from trialstore.conformance._base import ConformanceBase, canonical_trial, make_template
from trialstore.distributions import FloatDistribution, IntDistribution
from trialstore.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["ErrorsConformance"]

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE
F01 = FloatDistribution(0, 1)


@dataclasses.dataclass
class _World:
    """A study with trials in every state, plus ids that are known to be missing."""

    storage: Any  # Any: the calls below pass arguments of the wrong type on purpose.
    name: str
    study: int
    running: int
    waiting: int
    finished: int
    missing_study: int
    missing_trial: int


def _world(base: ConformanceBase, storage: BaseStorage) -> _World:
    gone = base.new_study(storage)
    gone_trial = storage.create_new_trial(gone)
    storage.delete_study(gone)
    study = base.new_study(storage, [MIN, MAX])
    name = storage.get_study_name_from_id(study)
    storage.set_study_user_attr(study, "u", 1)
    storage.set_study_system_attr(study, "s", [2])
    running = storage.create_new_trial(study)
    storage.set_trial_param(running, "x", 0.5, F01)
    storage.set_trial_user_attr(running, "u", {"a": 1})
    storage.set_trial_intermediate_value(running, 3, 0.25)
    waiting = storage.create_new_trial(study, make_template(TrialState.WAITING))
    finished = storage.create_new_trial(study)
    storage.set_trial_state_values(finished, TrialState.COMPLETE, [1.0, 2.0])
    return _World(storage, name, study, running, waiting, finished, gone, gone_trial)


def _snapshot(world: _World) -> Any:
    storage = world.storage
    study = world.study
    return (
        storage.get_study_name_from_id(study),
        storage.get_study_directions(study),
        json.dumps(storage.get_study_user_attrs(study), sort_keys=True),
        json.dumps(storage.get_study_system_attrs(study), sort_keys=True),
        [canonical_trial(t) for t in storage.get_all_trials(study)],
        [(s.study_name, s._study_id) for s in storage.get_all_studies() if s._study_id == study],
    )


Call = Callable[[_World], Any]

#: (description, call, expected exception type).
PRECEDENCE: list[tuple[str, Call, type[BaseException]]] = [
    (
        "create_new_study: bad directions beat a duplicate name",
        lambda w: w.storage.create_new_study([], w.name),
        ValueError,
    ),
    (
        "create_new_study: bad name type",
        lambda w: w.storage.create_new_study([MIN], 5),
        ValueError,
    ),
    (
        "create_new_study: duplicate name",
        lambda w: w.storage.create_new_study([MIN], w.name),
        DuplicatedStudyError,
    ),
    (
        "set_study_user_attr: bad key beats missing study",
        lambda w: w.storage.set_study_user_attr(w.missing_study, 1, 1),
        ValueError,
    ),
    (
        "set_study_system_attr: non-JSON value beats missing study",
        lambda w: w.storage.set_study_system_attr(w.missing_study, "k", {1, 2}),
        ValueError,
    ),
    (
        "create_new_trial: bad template beats missing study",
        lambda w: w.storage.create_new_trial(w.missing_study, make_template(values=[math.nan])),
        ValueError,
    ),
    (
        "create_new_trial: missing study beats a wrong number of values",
        lambda w: w.storage.create_new_trial(w.missing_study, make_template(values=[1.0] * 5)),
        KeyError,
    ),
    (
        "create_new_trial: wrong number of values",
        lambda w: w.storage.create_new_trial(w.study, make_template(values=[1.0])),
        ValueError,
    ),
    (
        "create_new_trial: incompatible template distribution",
        lambda w: w.storage.create_new_trial(
            w.study,
            make_template(
                values=[1.0, 1.0], params={"x": 0}, distributions={"x": IntDistribution(0, 1)}
            ),
        ),
        ValueError,
    ),
    (
        "set_trial_param: value the distribution cannot represent beats missing trial",
        lambda w: w.storage.set_trial_param(w.missing_trial, "x", math.inf, F01),
        ValueError,
    ),
    (
        "set_trial_param: bad name beats finished trial",
        lambda w: w.storage.set_trial_param(w.finished, None, 0.5, F01),
        ValueError,
    ),
    (
        "set_trial_param: missing trial beats incompatible distribution",
        lambda w: w.storage.set_trial_param(w.missing_trial, "x", 1.0, IntDistribution(0, 1)),
        KeyError,
    ),
    (
        "set_trial_param: finished trial beats incompatible distribution",
        lambda w: w.storage.set_trial_param(w.finished, "x", 1.0, IntDistribution(0, 1)),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_param: incompatible distribution",
        lambda w: w.storage.set_trial_param(w.running, "x", 1.0, IntDistribution(0, 1)),
        ValueError,
    ),
    (
        "set_trial_params: not a mapping",
        lambda w: w.storage.set_trial_params(w.running, [("y", (0.5, F01))]),
        ValueError,
    ),
    (
        "set_trial_params: bad entry beats missing trial",
        lambda w: w.storage.set_trial_params(
            w.missing_trial, {"y": (0.5, F01), "z": (math.nan, F01)}
        ),
        ValueError,
    ),
    (
        "set_trial_params: bad entry beats finished trial",
        lambda w: w.storage.set_trial_params(w.finished, {"y": (0.5, F01), "z": 0.5}),
        ValueError,
    ),
    (
        "set_trial_params: missing trial beats incompatible distribution",
        lambda w: w.storage.set_trial_params(w.missing_trial, {"x": (1.0, IntDistribution(0, 1))}),
        KeyError,
    ),
    (
        "set_trial_params: finished trial beats incompatible distribution",
        lambda w: w.storage.set_trial_params(w.finished, {"x": (1.0, IntDistribution(0, 1))}),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_params: empty batch on a finished trial",
        lambda w: w.storage.set_trial_params(w.finished, {}),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_params: incompatible distribution after a good entry",
        lambda w: w.storage.set_trial_params(
            w.running, {"y": (0.5, F01), "x": (1.0, IntDistribution(0, 1))}
        ),
        ValueError,
    ),
    (
        "set_trial_state_values: WAITING beats missing trial",
        lambda w: w.storage.set_trial_state_values(w.missing_trial, TrialState.WAITING),
        ValueError,
    ),
    (
        "set_trial_state_values: WAITING beats finished trial",
        lambda w: w.storage.set_trial_state_values(w.finished, TrialState.WAITING),
        ValueError,
    ),
    (
        "set_trial_state_values: NaN beats finished trial",
        lambda w: w.storage.set_trial_state_values(w.finished, TrialState.COMPLETE, [math.nan]),
        ValueError,
    ),
    (
        "set_trial_state_values: values with RUNNING beat missing trial",
        lambda w: w.storage.set_trial_state_values(w.missing_trial, TrialState.RUNNING, [1.0]),
        ValueError,
    ),
    (
        "set_trial_state_values: missing trial beats a wrong number of values",
        lambda w: w.storage.set_trial_state_values(w.missing_trial, TrialState.COMPLETE, [1.0]),
        KeyError,
    ),
    (
        "set_trial_state_values: finished trial beats a wrong number of values",
        lambda w: w.storage.set_trial_state_values(w.finished, TrialState.COMPLETE, [1.0]),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_state_values: claim of a finished trial",
        lambda w: w.storage.set_trial_state_values(w.finished, TrialState.RUNNING),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_state_values: wrong number of values",
        lambda w: w.storage.set_trial_state_values(w.running, TrialState.COMPLETE, [1.0]),
        ValueError,
    ),
    (
        "set_trial_state_values: wrong number of values on a WAITING trial",
        lambda w: w.storage.set_trial_state_values(w.waiting, TrialState.PRUNED, [1.0, 2.0, 3.0]),
        ValueError,
    ),
    (
        "set_trial_intermediate_value: bad step beats missing trial",
        lambda w: w.storage.set_trial_intermediate_value(w.missing_trial, -1, 1.0),
        ValueError,
    ),
    (
        "set_trial_intermediate_value: bad value beats finished trial",
        lambda w: w.storage.set_trial_intermediate_value(w.finished, 1, "x"),
        ValueError,
    ),
    (
        "set_trial_intermediate_value: finished trial",
        lambda w: w.storage.set_trial_intermediate_value(w.finished, 1, 1.0),
        UpdateFinishedTrialError,
    ),
    (
        "set_trial_user_attr: bad key beats missing trial",
        lambda w: w.storage.set_trial_user_attr(w.missing_trial, "x" * 513, 1),
        ValueError,
    ),
    (
        "set_trial_system_attr: non-JSON value beats finished trial",
        lambda w: w.storage.set_trial_system_attr(w.finished, "k", object()),
        ValueError,
    ),
    (
        "set_trial_user_attr: missing trial",
        lambda w: w.storage.set_trial_user_attr(w.missing_trial, "k", 1),
        KeyError,
    ),
    (
        "set_trial_system_attr: finished trial",
        lambda w: w.storage.set_trial_system_attr(w.finished, "k", 1),
        UpdateFinishedTrialError,
    ),
    (
        "get_trial_param: parameter missing",
        lambda w: w.storage.get_trial_param(w.running, "nope"),
        KeyError,
    ),
    (
        "get_trial_id_from_study_id_trial_number: number missing",
        lambda w: w.storage.get_trial_id_from_study_id_trial_number(w.study, 3),
        KeyError,
    ),
    (
        "get_best_trial: several objectives",
        lambda w: w.storage.get_best_trial(w.study),
        RuntimeError,
    ),
    (
        "delete_study: missing study",
        lambda w: w.storage.delete_study(w.missing_study),
        KeyError,
    ),
]

#: Numbers too large for a float: they must be rejected as ValueError, not OverflowError.
HUGE_INT = 10**400


class ErrorsConformance(ConformanceBase):
    """Error precedence and "a rejected call changes nothing"."""

    @pytest.mark.parametrize(
        ("call", "expected"),
        [(call, expected) for _, call, expected in PRECEDENCE],
        ids=[description for description, _, _ in PRECEDENCE],
    )
    def test_error_precedence(
        self, storage: BaseStorage, call: Call, expected: type[BaseException]
    ) -> None:
        world = _world(self, storage)
        before = _snapshot(world)
        with pytest.raises(expected) as info:
            call(world)
        for other in (ValueError, KeyError, UpdateFinishedTrialError, DuplicatedStudyError):
            if not issubclass(expected, other):
                assert not isinstance(info.value, other), (
                    f"raised {type(info.value).__name__}, which is also a {other.__name__}"
                )
        assert _snapshot(world) == before, "a rejected call changed stored data"

    def test_huge_integers_raise_value_error(self, storage: BaseStorage) -> None:
        world = _world(self, storage)
        before = _snapshot(world)
        calls: list[Call] = [
            lambda w: w.storage.set_trial_state_values(
                w.running, TrialState.COMPLETE, [HUGE_INT, 1.0]
            ),
            lambda w: w.storage.set_trial_intermediate_value(w.running, 1, HUGE_INT),
            lambda w: w.storage.set_trial_param(w.running, "h", HUGE_INT, F01),
        ]
        for call in calls:
            with pytest.raises(ValueError):
                call(world)
        assert _snapshot(world) == before

    def test_rejected_calls_change_nothing(self, storage: BaseStorage) -> None:
        world = _world(self, storage)
        before = _snapshot(world)
        for description, call, expected in PRECEDENCE:
            with pytest.raises(expected):
                call(world)
            assert _snapshot(world) == before, f"{description}: the rejected call changed data"
