"""Building new trials: ``create_trial`` (a finished or waiting trial to add to a study) and
``new_running_trial`` (the trial a create without template makes) (private)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from trialstore._core._frozen_trial import FrozenTrial
from trialstore._core._state import TrialState
from trialstore.distributions import BaseDistribution

__all__ = ["create_trial", "new_running_trial"]


def create_trial(
    *,
    state: TrialState = TrialState.COMPLETE,
    value: float | None = None,
    values: Sequence[float] | None = None,
    params: dict[str, Any] | None = None,
    distributions: dict[str, BaseDistribution] | None = None,
    user_attrs: dict[str, Any] | None = None,
    system_attrs: dict[str, Any] | None = None,
    intermediate_values: dict[int, float] | None = None,
    constraints: dict[str, float] | None = None,
) -> FrozenTrial:
    """Return a validated FrozenTrial for ``Study.add_trial`` (number and id are -1).

    ``datetime_start`` is now unless the state is WAITING; ``datetime_complete`` is now for a
    finished state. ``constraints`` are set with :meth:`FrozenTrial.set_constraint` (in
    ``system_attrs``; a key already there keeps its value, with a warning).

    Raises:
        ValueError: both ``value`` and ``values`` are given, or the fields disagree with each
            other or with ``state`` (e.g. COMPLETE without a value, a param outside its
            distribution, params and distributions with different keys); or a constraint key
            is not a str or its value is NaN.
        TypeError: a constraint value does not convert to a float.
    """
    now = datetime.datetime.now()
    trial = FrozenTrial(
        number=-1,
        state=state,
        value=value,
        values=values,
        datetime_start=None if state == TrialState.WAITING else now,
        datetime_complete=now if state.is_finished() else None,
        params=dict(params or {}),
        distributions=dict(distributions or {}),
        user_attrs=dict(user_attrs or {}),
        system_attrs=dict(system_attrs or {}),
        intermediate_values=dict(intermediate_values or {}),
        trial_id=-1,
    )
    for key, constraint in (constraints or {}).items():
        trial.set_constraint(key, constraint)
    trial._validate()
    return trial


def new_running_trial(
    number: int = -1,
    trial_id: int = -1,
    datetime_start: datetime.datetime | None = None,
    *,
    system_attrs: dict[str, Any] | None = None,
) -> FrozenTrial:
    """Return a RUNNING trial with nothing set but its start: what ``create_new_trial``
    without a template stores.

    ``datetime_start`` is now (naive local time, as storages return datetimes) when None. The
    trial has no values, params, user attributes or intermediate values; its system
    attributes are a copy of ``system_attrs`` (empty when None). ``number`` and ``trial_id``
    default to -1, for a storage to assign. Nothing is validated: the arguments are stored as
    given.
    """
    return FrozenTrial(
        number=number,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=datetime.datetime.now() if datetime_start is None else datetime_start,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs=dict(system_attrs or {}),
        intermediate_values={},
        trial_id=trial_id,
    )
