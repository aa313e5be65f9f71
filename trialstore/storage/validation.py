"""The argument checks of the storage protocol (``docs/protocol.md``), shared by every backend.

Each check raises :class:`ValueError` naming the argument and what is allowed (but
:func:`check_id` and :func:`check_trial_number`, which raise the :class:`KeyError` of an id or
number that does not exist), and returns the normalised value that the backend stores or looks
up. Backends call these before writing anything, so a rejected call never changes stored data.
Authors of other storages call them to reject what trialstore's backends reject, with the same
messages (the conformance suite checks both).
"""

from __future__ import annotations

import datetime
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)

__all__ = [
    "MAX_ID",
    "MAX_NAME_LENGTH",
    "MAX_STEP",
    "check_attr",
    "check_directions",
    "check_distribution_against",
    "check_heartbeat_settings",
    "check_id",
    "check_intermediate_value",
    "check_param",
    "check_params",
    "check_running_template",
    "check_snapshot_threshold",
    "check_state_values",
    "check_study_name",
    "check_template",
    "check_trial_ids",
    "check_trial_number",
    "check_values_count",
    "missing_trial_number",
]

#: Longest study name, attribute key and parameter name (Optuna's VARCHAR(512)).
MAX_NAME_LENGTH = 512
#: Steps are stored in a 32-bit signed INT column by the RDB backend.
MAX_STEP = 2**31 - 1
#: Ids are signed 64-bit integers (the largest database integer and the gRPC wire's int64).
MAX_ID = 2**63 - 1

_ALLOWED_DIRECTIONS = (StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE)
_SETTABLE_STATES = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _check_name(field: str, name: Any) -> str:
    if not isinstance(name, str):
        raise ValueError(f"{field} must be a str, got {type(name).__name__}.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{field} must be at most {MAX_NAME_LENGTH} characters, got {len(name)}.")
    return name


def check_id(value: Any, kind: Literal["study", "trial"], *, max_id: int = MAX_ID) -> int:
    """Return the study or trial id ``value`` as a plain ``int``, ready to look up.

    An id is an ``int`` (an int subclass such as an ``IntEnum`` member counts; ``bool`` does
    not) in ``[-max_id - 1, max_id]``. Anything else names no study or trial, so it raises
    the error of an id that does not exist, before the backend reads or writes anything.
    Whether an id in range exists is for the backend to decide. ``max_id``: the largest id
    the backend stores (:data:`MAX_ID`, or less: ``2**31 - 1`` for 32-bit id columns, which
    a database would fail to compare with a larger value).

    Raises:
        KeyError: ``No {kind} with id {value!r}.`` when ``value`` is not such an int.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not -max_id - 1 <= value <= max_id:
        raise KeyError(f"No {kind} with id {value!r}.")
    return int(value)


def check_trial_number(value: Any, study_id: int) -> int:
    """Return the trial number ``value`` as a plain ``int``, ready to look up in study
    ``study_id``.

    A number is an ``int`` (``bool`` is not) in ``[0, MAX_ID]``. Anything else is no trial's
    number, so it raises the error of a number that does not exist. Whether a number in range
    exists in the study (``number < n_trials``) is for the backend to decide, after it has
    checked that the study exists (a missing study's KeyError comes first).

    Raises:
        KeyError: ``No trial with number {value!r} in study {study_id}.`` when ``value`` is
            not such an int.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise missing_trial_number(value, study_id)
    return int(value)


def missing_trial_number(value: Any, study_id: int) -> KeyError:
    """Return the KeyError of a trial number that study ``study_id`` does not have (for a
    backend to raise once it knows, e.g. ``value >= n_trials``)."""
    return KeyError(f"No trial with number {value!r} in study {study_id}.")


def check_trial_ids(trial_ids: Any) -> list[int]:
    """Return the ids of a ``delete_trials`` batch as a list of plain ``int``, in order.

    Raises:
        ValueError: ``trial_ids`` is not a sequence (a str, bytes or mapping is not one), an
            entry is not an int (``bool`` is not one), or an id appears twice. Whether each
            id exists is for the backend to decide (KeyError).
    """
    if isinstance(trial_ids, (str, bytes, Mapping)) or not isinstance(trial_ids, Sequence):
        raise ValueError(
            f"trial_ids must be a sequence of trial ids (ints), got {type(trial_ids).__name__}."
        )
    checked: list[int] = []
    seen: set[int] = set()
    for index, value in enumerate(trial_ids):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"trial_ids[{index}] must be an int (a trial id), got {value!r}.")
        if value in seen:
            raise ValueError(f"trial_ids holds the id {value} twice.")
        seen.add(value)
        checked.append(int(value))
    return checked


def check_study_name(study_name: Any) -> str | None:
    """Return ``study_name`` (None means: generate one)."""
    if study_name is None:
        return None
    return _check_name("study_name", study_name)


def check_directions(directions: Any) -> list[StudyDirection]:
    """Return the directions as a list of StudyDirection (MINIMIZE or MAXIMIZE only)."""
    if isinstance(directions, (str, bytes)) or not isinstance(directions, Sequence):
        raise ValueError(
            f"directions must be a sequence of StudyDirection, got {type(directions).__name__}."
        )
    if len(directions) == 0:
        raise ValueError("directions must hold at least one direction.")
    checked = []
    for direction in directions:
        if isinstance(direction, bool) or direction not in _ALLOWED_DIRECTIONS:
            raise ValueError(
                f"directions: {direction!r} is not allowed; allowed: "
                "StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE."
            )
        checked.append(StudyDirection(direction))
    return checked


def check_attr(key: Any, value: Any) -> Any:
    """Return ``json.loads(json.dumps(value))``: what every backend hands back."""
    _check_name("key", key)
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(
            f"value of attribute {key!r} must be JSON-serializable (dict, list, str, int, "
            f"float, bool, None; dict keys str, int, float, bool or None): {e}"
        ) from None


def _check_real(field: str, value: Any, *, allow_nan: bool, allow_inf: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a real number, got {value!r}.")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{field} is too large for a float64: {value!r}.") from None
    if not allow_nan and math.isnan(number):
        raise ValueError(f"{field} must not be NaN.")
    if not allow_inf and math.isinf(number):
        raise ValueError(f"{field} must be finite, got {number!r}.")
    return number


def check_param(
    param_name: Any, param_value_internal: Any, distribution: Any
) -> tuple[str, float]:
    """Return the parameter's name and internal value as stored.

    The value may lie outside the distribution's range (as in Optuna's storages); it must be
    one the distribution can represent (``BaseDistribution._representable``).
    """
    _check_name("param_name", param_name)
    if not isinstance(distribution, BaseDistribution):
        raise ValueError(
            f"distribution of {param_name!r} must be a FloatDistribution, IntDistribution or "
            f"CategoricalDistribution, got {type(distribution).__name__}."
        )
    value = _check_real(
        f"param_value_internal of {param_name!r}",
        param_value_internal,
        allow_nan=False,
        allow_inf=False,
    )
    if not distribution._representable(value):
        raise ValueError(
            f"param_value_internal of {param_name!r}: {value!r} cannot be represented by "
            f"{distribution!r}; allowed: {_representable_values(distribution)}."
        )
    return param_name, value


def _representable_values(distribution: BaseDistribution) -> str:
    """Describe the internal values a storage keeps for ``distribution``."""
    if isinstance(distribution, CategoricalDistribution):
        return f"an integral index in [0, {len(distribution.choices) - 1}]"
    if isinstance(distribution, FloatDistribution) and distribution.log:
        return "a finite number > 0 (log scale), inside or outside [low, high]"
    if isinstance(distribution, IntDistribution) and distribution.log:
        return "a finite number >= 1 (log scale), inside or outside [low, high]"
    if isinstance(distribution, (FloatDistribution, IntDistribution)):
        return "a finite number, inside or outside [low, high]"
    return "a finite number whose external value converts back"


def check_params(params: Any) -> list[tuple[str, float, BaseDistribution]]:
    """Return the entries of a ``set_trial_params`` mapping as (name, internal value,
    distribution), in the mapping's order, each checked as by :func:`check_param`.

    The list is a private copy: a caller mutating its mapping afterwards changes nothing.
    """
    if not isinstance(params, Mapping):
        raise ValueError(
            "params must be a mapping of parameter name to (param_value_internal, "
            f"distribution), got {type(params).__name__}."
        )
    checked = []
    for name, entry in list(params.items()):
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise ValueError(
                f"params[{name!r}] must be a (param_value_internal, distribution) pair, "
                f"got {entry!r}."
            )
        value, distribution = entry
        checked_name, internal = check_param(name, value, distribution)
        checked.append((checked_name, internal, distribution))
    return checked


def check_distribution_against(
    param_name: str, known: BaseDistribution | None, distribution: BaseDistribution
) -> None:
    """Check ``distribution`` against the one the study already uses for ``param_name``."""
    if known is None:
        return
    try:
        check_distribution_compatibility(known, distribution)
    except ValueError as e:
        raise ValueError(f"param {param_name!r}: {e}") from None


def check_state_values(
    state: Any, values: Sequence[float] | None
) -> tuple[TrialState, list[float] | None]:
    """Return the target state and the values as floats (their count is checked later, by
    :func:`check_values_count`, once the study's directions are known)."""
    if isinstance(state, bool) or state not in _SETTABLE_STATES:
        raise ValueError(
            f"state {state!r} is not allowed; allowed: RUNNING, COMPLETE, PRUNED, FAIL."
        )
    state = TrialState(state)
    if values is None:
        if state == TrialState.COMPLETE:
            raise ValueError("values are required when state is COMPLETE.")
        return state, None
    if state == TrialState.RUNNING:
        raise ValueError("values must be None when state is RUNNING.")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError(f"values must be a sequence of numbers, got {type(values).__name__}.")
    return state, [_check_real("values", v, allow_nan=False) for v in values]


def check_values_count(values: list[float] | None, n_objectives: int) -> None:
    """Check there is one value per direction (when values are given)."""
    if values is not None and len(values) != n_objectives:
        raise ValueError(
            f"values must hold one number per direction ({n_objectives}), got {len(values)}."
        )


def check_intermediate_value(step: Any, intermediate_value: Any) -> tuple[int, float]:
    """Return the step and value as stored."""
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValueError(f"step must be an int, got {step!r}.")
    if not 0 <= int(step) <= MAX_STEP:
        raise ValueError(f"step must be in [0, {MAX_STEP}], got {step}.")
    return int(step), _check_real("intermediate_value", intermediate_value, allow_nan=True)


def _check_datetime(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, datetime.datetime):
        raise ValueError(f"template_trial.{field} must be a datetime or None, got {value!r}.")


def _naive_local(value: datetime.datetime | None) -> datetime.datetime | None:
    """Return an aware datetime as naive local time (how every backend returns datetimes)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone().replace(tzinfo=None)


def check_running_template(template: Any) -> None:
    """Check the template of ``create_trial_or_list_waiting``: None, or a FrozenTrial whose
    state is RUNNING (the rest is checked as :func:`check_template` checks it)."""
    if template is None:
        return
    state = getattr(template, "state", None)
    if not isinstance(template, FrozenTrial) or state != TrialState.RUNNING:
        raise ValueError(
            "template_trial of create_trial_or_list_waiting must be None or a FrozenTrial "
            f"whose state is RUNNING, got {type(template).__name__} with state {state!r}."
        )


def _check_template_datetimes(template: FrozenTrial, state: TrialState) -> None:
    """Check the template's datetimes are datetimes or None, as its state requires."""
    _check_datetime("datetime_start", template.datetime_start)
    _check_datetime("datetime_complete", template.datetime_complete)
    if state.is_finished() and template.datetime_complete is None:
        raise ValueError("template_trial.datetime_complete is required for a finished state.")
    if not state.is_finished() and template.datetime_complete is not None:
        raise ValueError("template_trial.datetime_complete must be None for an unfinished state.")
    if state == TrialState.RUNNING and template.datetime_start is None:
        raise ValueError("template_trial.datetime_start is required when state is RUNNING.")


def _template_params(
    template: FrozenTrial,
) -> tuple[dict[str, Any], dict[str, BaseDistribution]]:
    """Return the template's params (external values, as their internal values convert back)
    and distributions, each param checked as by :func:`check_param`."""
    given = template._params  # read without making a compact template's dicts
    if set(given) != set(template.distributions):
        raise ValueError(
            "template_trial.params and template_trial.distributions must have the same keys: "
            f"{list(given)} vs {list(template.distributions)}."
        )
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    for name, external in given.items():
        dist = template.distributions[name]
        if not isinstance(dist, BaseDistribution):
            raise ValueError(f"template_trial.distributions[{name!r}] is not a distribution.")
        try:
            internal = dist.to_internal_repr(external)
        except ValueError as e:
            raise ValueError(f"template_trial.params[{name!r}]: {e}") from None
        check_param(name, internal, dist)
        params[name] = dist.to_external_repr(internal)
        distributions[name] = dist
    return params, distributions


def check_template(template: Any) -> FrozenTrial:
    """Return a private, normalised copy of a template trial.

    The count of values is not checked here (see :func:`check_values_count`). The copy holds
    JSON-normalised attributes, float values, int steps, and params whose external values
    convert to internal values their distributions can represent (inside their ranges or
    not, as for :func:`check_param`); the caller's object is never stored.
    """
    if not isinstance(template, FrozenTrial):
        raise ValueError(f"template_trial must be a FrozenTrial, got {type(template).__name__}.")
    if isinstance(template.state, bool) or template.state not in tuple(TrialState):
        raise ValueError(f"template_trial.state {template.state!r} is not a TrialState.")
    state = TrialState(template.state)
    _check_template_datetimes(template, state)
    values = template.values
    if values is None:
        if state == TrialState.COMPLETE:
            raise ValueError("template_trial.values are required when state is COMPLETE.")
        checked_values = None
    else:
        _, checked_values = check_state_values(TrialState.COMPLETE, values)
    params, distributions = _template_params(template)
    user_attrs = {k: check_attr(k, v) for k, v in template._user_attrs.items()}
    system_attrs = {k: check_attr(k, v) for k, v in template._system_attrs.items()}
    intermediate_values = dict(
        check_intermediate_value(step, value)
        for step, value in template._intermediate_values.items()
    )
    return FrozenTrial(
        number=-1,
        state=state,
        value=None,
        values=checked_values,
        datetime_start=_naive_local(template.datetime_start),
        datetime_complete=_naive_local(template.datetime_complete),
        params=params,
        distributions=distributions,
        user_attrs=user_attrs,
        system_attrs=system_attrs,
        intermediate_values=intermediate_values,
        trial_id=-1,
    )


def check_heartbeat_settings(
    heartbeat_interval: Any, grace_period: Any
) -> tuple[float | None, float | None]:
    """Return (interval, grace period) in seconds; the grace period defaults to 2 x interval."""
    if heartbeat_interval is None:
        if grace_period is not None:
            raise ValueError("grace_period requires heartbeat_interval to be set.")
        return None, None
    for field, number in (
        ("heartbeat_interval", heartbeat_interval),
        ("grace_period", grace_period),
    ):
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, (int, float)) or not number > 0
        ):
            raise ValueError(f"{field} must be a number > 0 or None, got {number!r}.")
    return float(heartbeat_interval), float(grace_period or 2 * heartbeat_interval)


def check_snapshot_threshold(value: Any) -> int:
    """Return a storage's ``snapshot_threshold``: an int >= 0 (0: no snapshots written in
    the background).

    Raises:
        ValueError: anything else.
    """
    if type(value) is not int or value < 0:
        raise ValueError(
            f"snapshot_threshold must be an int >= 0 (0: write no snapshots), got {value!r}."
        )
    return value
