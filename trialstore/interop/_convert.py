"""Conversions between trialstore's and Optuna's types (private; imports Optuna).

Enumerations have the same integer values in both libraries; distributions travel as their JSON
text, which both libraries write identically; exceptions correspond by name (one table serves
both directions). Trials and studies are rebuilt field by field: the result shares no dict or
list at the top level with its source, but nested attribute values (JSON objects and arrays)
are shared, so callers convert a snapshot they own.

The ``*_from_optuna`` functions for arguments (states, directions, distributions) return an
object of another type unchanged, for trialstore's validation to reject with its own
ValueError; likewise the ``*_to_optuna`` ones for Optuna's.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from optuna.distributions import BaseDistribution as OptunaDistribution
from optuna.study import StudyDirection as OptunaDirection
from optuna.study._frozen import FrozenStudy as OptunaStudy
from optuna.trial import FrozenTrial as OptunaTrial
from optuna.trial import TrialState as OptunaState

from trialstore import exceptions as ts_errors
from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import BaseDistribution, distribution_to_json, json_to_distribution

__all__ = [
    "direction_from_optuna",
    "direction_to_optuna",
    "distribution_from_optuna",
    "distribution_to_optuna",
    "error_from_optuna",
    "error_to_optuna",
    "state_from_optuna",
    "state_to_optuna",
    "states_from_optuna",
    "states_to_optuna",
    "study_from_optuna",
    "study_to_optuna",
    "trial_from_optuna",
    "trial_to_optuna",
]

_T = TypeVar("_T")

_OPTUNA_STATES = {int(s): s for s in OptunaState}
_TS_STATES = {int(s): s for s in TrialState}
_OPTUNA_DIRECTIONS = {int(d): d for d in OptunaDirection}
_TS_DIRECTIONS = {int(d): d for d in StudyDirection}

#: Each trialstore exception with its Optuna counterpart, the more specific first (the first
#: pair whose class matches wins). An exception no pair matches becomes the other library's
#: base class.
_ERROR_PAIRS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (ts_errors.DuplicatedStudyError, optuna.exceptions.DuplicatedStudyError),
    (ts_errors.UpdateFinishedTrialError, optuna.exceptions.UpdateFinishedTrialError),
    (ts_errors.StorageInternalError, optuna.exceptions.StorageInternalError),
    (ts_errors.TrialPruned, optuna.exceptions.TrialPruned),
)


def _by_value(member: Any, source: type[enum.IntEnum], target: dict[int, Any]) -> Any:
    """Return the member of ``target`` with the value of ``member`` when it is a ``source``
    member; any other object unchanged."""
    if isinstance(member, source):
        return target[int(member)]
    return member


def _each(states: Any, convert: Callable[[Any], Any]) -> Any:
    """Return a tuple of the converted members of a tuple, list or set; ``convert(states)``
    for anything else (a single state, None)."""
    if isinstance(states, (tuple, list, set, frozenset)):
        return tuple(convert(s) for s in states)
    return convert(states)


def state_to_optuna(state: Any) -> Any:
    """Return Optuna's TrialState with the value of ``state`` (other objects unchanged)."""
    return _by_value(state, TrialState, _OPTUNA_STATES)


def state_from_optuna(state: Any) -> Any:
    """Return trialstore's TrialState with the value of ``state`` (other objects unchanged)."""
    return _by_value(state, OptunaState, _TS_STATES)


def states_to_optuna(states: Any) -> Any:
    """Return a ``states`` filter (None, a state, or a tuple, list or set of states) with each
    state as Optuna's; a collection becomes a tuple."""
    return _each(states, state_to_optuna)


def states_from_optuna(states: Any) -> Any:
    """Return a ``states`` filter (None, a state, or a tuple, list or set of states) with each
    state as trialstore's; a collection becomes a tuple."""
    return _each(states, state_from_optuna)


def direction_to_optuna(direction: Any) -> Any:
    """Return Optuna's StudyDirection with the value of ``direction`` (other objects
    unchanged)."""
    return _by_value(direction, StudyDirection, _OPTUNA_DIRECTIONS)


def direction_from_optuna(direction: Any) -> Any:
    """Return trialstore's StudyDirection with the value of ``direction`` (other objects
    unchanged)."""
    return _by_value(direction, OptunaDirection, _TS_DIRECTIONS)


@functools.lru_cache(maxsize=4096)
def _optuna_distribution(json_text: str) -> OptunaDistribution:
    return optuna.distributions.json_to_distribution(json_text)


@functools.lru_cache(maxsize=4096)
def _ts_distribution(json_text: str) -> BaseDistribution:
    return json_to_distribution(json_text)


def distribution_to_optuna(dist: BaseDistribution) -> OptunaDistribution:
    """Return the Optuna distribution with the same JSON text as ``dist``."""
    return _optuna_distribution(distribution_to_json(dist))


def distribution_from_optuna(dist: Any) -> Any:
    """Return the trialstore distribution with the same JSON text as the Optuna ``dist``
    (other objects unchanged).

    Raises:
        ValueError: the distribution cannot be represented (its JSON text is rejected).
    """
    if not isinstance(dist, OptunaDistribution):
        return dist
    return _ts_distribution(optuna.distributions.distribution_to_json(dist))


def _rebuild_trial(
    trial: Any, make: Callable[..., _T], state: Any, distribution: Callable[[Any], Any]
) -> _T:
    """Return ``make(...)`` with the fields of ``trial``, its state replaced by ``state`` and
    each distribution converted by ``distribution``."""
    values = trial.values
    return make(
        number=trial.number,
        state=state,
        value=None,
        values=None if values is None else list(values),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=dict(trial.params),
        distributions={name: distribution(dist) for name, dist in trial.distributions.items()},
        user_attrs=dict(trial.user_attrs),
        system_attrs=dict(trial.system_attrs),
        intermediate_values=dict(trial.intermediate_values),
        trial_id=trial._trial_id,
    )


def trial_to_optuna(trial: FrozenTrial) -> OptunaTrial:
    """Return an Optuna FrozenTrial with the fields of ``trial``."""
    state = _OPTUNA_STATES[int(trial.state)]
    return _rebuild_trial(trial, OptunaTrial, state, distribution_to_optuna)


def trial_from_optuna(trial: OptunaTrial) -> FrozenTrial:
    """Return a trialstore FrozenTrial with the fields of the Optuna ``trial``.

    Raises:
        ValueError: a distribution cannot be represented, or the fields are inconsistent in a
            way trialstore's FrozenTrial rejects.
    """
    state = state_from_optuna(trial.state)
    return _rebuild_trial(trial, FrozenTrial, state, distribution_from_optuna)


def _rebuild_study(study: Any, make: Callable[..., _T], directions: list[Any]) -> _T:
    """Return ``make(...)`` with the fields of ``study`` and the given ``directions``."""
    return make(
        study_name=study.study_name,
        direction=None,
        directions=directions,
        user_attrs=dict(study.user_attrs),
        system_attrs=dict(study.system_attrs),
        study_id=study._study_id,
    )


def study_to_optuna(study: FrozenStudy) -> OptunaStudy:
    """Return an Optuna FrozenStudy with the fields of ``study``."""
    directions = [_OPTUNA_DIRECTIONS[int(d)] for d in study.directions]
    return _rebuild_study(study, OptunaStudy, directions)


def study_from_optuna(study: OptunaStudy) -> FrozenStudy:
    """Return a trialstore FrozenStudy with the fields of the Optuna ``study``."""
    directions = [_TS_DIRECTIONS[int(d)] for d in study.directions]
    return _rebuild_study(study, FrozenStudy, directions)


def error_to_optuna(error: ts_errors.TrialstoreError) -> Exception:
    """Return the Optuna exception that corresponds to a trialstore one (same message).

    A trialstore error that is a KeyError (TrialDeletedError: Optuna has no deleted trials)
    becomes a plain KeyError, what Optuna raises for a trial that is not there."""
    if isinstance(error, KeyError):
        return KeyError(*error.args)
    target = next(
        (theirs for ours, theirs in _ERROR_PAIRS if isinstance(error, ours)),
        optuna.exceptions.OptunaError,
    )
    return target(*error.args)


def error_from_optuna(error: optuna.exceptions.OptunaError) -> Exception:
    """Return the trialstore exception that corresponds to an Optuna one (same message)."""
    target = next(
        (ours for ours, theirs in _ERROR_PAIRS if isinstance(error, theirs)),
        ts_errors.TrialstoreError,
    )
    return target(*error.args)
