"""Conversions between trialstore's and Optuna's types (private; imports Optuna).

Enumerations have the same integer values in both libraries; distributions travel as their JSON
text, which both libraries write identically. Trials and studies are rebuilt field by field:
the result shares no dict or list at the top level with its source, but nested attribute
values (JSON objects and arrays) are shared, so callers convert a snapshot they own.
"""

from __future__ import annotations

import functools
from typing import Any

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
    "study_from_optuna",
    "study_to_optuna",
    "trial_from_optuna",
    "trial_to_optuna",
]

_OPTUNA_STATES = {int(s): s for s in OptunaState}
_TS_STATES = {int(s): s for s in TrialState}
_OPTUNA_DIRECTIONS = {int(d): d for d in OptunaDirection}
_TS_DIRECTIONS = {int(d): d for d in StudyDirection}


def state_to_optuna(state: Any) -> Any:
    """Return Optuna's TrialState with the value of ``state`` (other objects unchanged)."""
    if isinstance(state, TrialState):
        return _OPTUNA_STATES[int(state)]
    return state


def state_from_optuna(state: Any) -> Any:
    """Return trialstore's TrialState with the value of ``state`` (other objects unchanged)."""
    if isinstance(state, OptunaState):
        return _TS_STATES[int(state)]
    return state


def direction_to_optuna(direction: Any) -> Any:
    """Return Optuna's StudyDirection with the value of ``direction``."""
    if isinstance(direction, StudyDirection):
        return _OPTUNA_DIRECTIONS[int(direction)]
    return direction


def direction_from_optuna(direction: Any) -> Any:
    """Return trialstore's StudyDirection with the value of ``direction`` (other objects,
    which the storage will reject, unchanged)."""
    if isinstance(direction, OptunaDirection):
        return _TS_DIRECTIONS[int(direction)]
    return direction


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
    """Return the trialstore distribution with the same JSON text as the Optuna ``dist``.

    Objects that are not Optuna distributions are returned unchanged, for the storage to
    reject with its own ValueError.

    Raises:
        ValueError: the distribution cannot be represented (its JSON text is rejected).
    """
    if not isinstance(dist, OptunaDistribution):
        return dist
    return _ts_distribution(optuna.distributions.distribution_to_json(dist))


def trial_to_optuna(trial: FrozenTrial) -> OptunaTrial:
    """Return an Optuna FrozenTrial with the fields of ``trial``."""
    values = trial.values
    return OptunaTrial(
        number=trial.number,
        state=_OPTUNA_STATES[int(trial.state)],
        value=None,
        values=None if values is None else list(values),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=dict(trial.params),
        distributions={
            name: distribution_to_optuna(dist) for name, dist in trial.distributions.items()
        },
        user_attrs=dict(trial.user_attrs),
        system_attrs=dict(trial.system_attrs),
        intermediate_values=dict(trial.intermediate_values),
        trial_id=trial._trial_id,
    )


def trial_from_optuna(trial: Any) -> Any:
    """Return a trialstore FrozenTrial with the fields of the Optuna ``trial``.

    Objects that are not Optuna FrozenTrials are returned unchanged (for the storage to reject).

    Raises:
        ValueError: a distribution cannot be represented, or the fields are inconsistent in a
            way trialstore's FrozenTrial rejects.
    """
    if not isinstance(trial, OptunaTrial):
        return trial
    values = trial.values
    return FrozenTrial(
        number=trial.number,
        state=state_from_optuna(trial.state),
        value=None,
        values=None if values is None else list(values),
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params=dict(trial.params),
        distributions={
            name: distribution_from_optuna(dist) for name, dist in trial.distributions.items()
        },
        user_attrs=dict(trial.user_attrs),
        system_attrs=dict(trial.system_attrs),
        intermediate_values=dict(trial.intermediate_values),
        trial_id=trial._trial_id,
    )


def study_to_optuna(study: FrozenStudy) -> OptunaStudy:
    """Return an Optuna FrozenStudy with the fields of ``study``."""
    return OptunaStudy(
        study_name=study.study_name,
        direction=None,
        directions=[_OPTUNA_DIRECTIONS[int(d)] for d in study.directions],
        user_attrs=dict(study.user_attrs),
        system_attrs=dict(study.system_attrs),
        study_id=study._study_id,
    )


def study_from_optuna(study: OptunaStudy) -> FrozenStudy:
    """Return a trialstore FrozenStudy with the fields of the Optuna ``study``."""
    return FrozenStudy(
        study_name=study.study_name,
        direction=None,
        directions=[_TS_DIRECTIONS[int(d)] for d in study.directions],
        user_attrs=dict(study.user_attrs),
        system_attrs=dict(study.system_attrs),
        study_id=study._study_id,
    )


def error_to_optuna(error: ts_errors.TrialstoreError) -> Exception:
    """Return the Optuna exception that corresponds to a trialstore one (same message)."""
    target: type[Exception]
    if isinstance(error, ts_errors.DuplicatedStudyError):
        target = optuna.exceptions.DuplicatedStudyError
    elif isinstance(error, ts_errors.UpdateFinishedTrialError):
        target = optuna.exceptions.UpdateFinishedTrialError
    elif isinstance(error, ts_errors.StorageInternalError):
        target = optuna.exceptions.StorageInternalError
    elif isinstance(error, ts_errors.TrialPruned):
        target = optuna.exceptions.TrialPruned
    else:
        target = optuna.exceptions.OptunaError
    return target(*error.args)


def error_from_optuna(error: optuna.exceptions.OptunaError) -> Exception:
    """Return the trialstore exception that corresponds to an Optuna one (same message)."""
    target: type[Exception]
    if isinstance(error, optuna.exceptions.DuplicatedStudyError):
        target = ts_errors.DuplicatedStudyError
    elif isinstance(error, optuna.exceptions.UpdateFinishedTrialError):
        target = ts_errors.UpdateFinishedTrialError
    elif isinstance(error, optuna.exceptions.StorageInternalError):
        target = ts_errors.StorageInternalError
    elif isinstance(error, optuna.exceptions.TrialPruned):
        target = ts_errors.TrialPruned
    else:
        target = ts_errors.TrialstoreError
    return target(*error.args)
