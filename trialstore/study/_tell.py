"""Finishing a trial: checks, sampler hook, storage write (private)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.exceptions import TrialDeletedError
from trialstore.logging import get_logger
from trialstore.trial import Trial

if TYPE_CHECKING:
    from trialstore.study._study import Study

__all__ = ["feasibility_error", "tell_trial"]

_logger = get_logger(__name__)


def feasibility_error(study: Study, values: Sequence[object]) -> str | None:
    """Return why ``values`` cannot complete a trial of ``study``, or None if they can."""
    errors = []
    for v in values:
        try:
            as_float = float(v)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            errors.append(f"The value {v!r} could not be cast to float")
            continue
        if math.isnan(as_float):
            errors.append(f"The value {v} is not acceptable")
    if errors:
        return "; ".join(errors)
    if len(study._directions) != len(values):
        return (
            f"The number of the values {len(values)} did not match the number of the objectives "
            f"{len(study._directions)}"
        )
    return None


def _resolve(study: Study, trial: Trial | int) -> tuple[int, FrozenTrial]:
    if isinstance(trial, Trial):
        trial_id = trial._trial_id
    elif isinstance(trial, int) and not isinstance(trial, bool):
        try:
            trial_id = study._storage.get_trial_id_from_study_id_trial_number(
                study._study_id, trial
            )
        except TrialDeletedError:
            raise
        except KeyError:
            raise ValueError(
                f"Cannot tell for trial with number {trial} since it has not been created."
            ) from None
    else:
        raise TypeError("Trial must be a trial object or trial number.")
    return trial_id, study._storage.get_trial(trial_id)


def tell_trial(
    study: Study,
    trial: Trial | int,
    value_or_values: object,
    state: TrialState | None,
    skip_if_finished: bool,
    *,
    warn: bool,
    trusted: bool = False,
) -> tuple[TrialState, list[float] | None, str | None, int]:
    """Finish ``trial``; return (state, values, failure message, trial id).

    ``trusted`` (used by ``optimize``, which owns its RUNNING Trial objects) skips re-reading
    the trial from the storage. ``warn`` turns an unusable value into a warning instead of a
    returned failure message.
    """
    if trusted and isinstance(trial, Trial):
        trial_id, frozen = trial._trial_id, trial._cached_frozen
    else:
        trial_id, frozen = _resolve(study, trial)
        if _already_finished(study, trial_id, frozen, skip_if_finished):
            _logger.info(
                f"Skipped telling trial {frozen.number} with values {value_or_values} and state "
                f"{state} since trial was already finished. Finished trial has values "
                f"{frozen.values} and state {frozen.state}."
            )
            return frozen.state, frozen.values, None, trial_id
    values = _as_values(value_or_values)
    _check_state_and_values(state, values)
    state, values, message = _outcome(study, frozen, state, values, warn)
    rejected = _write_params_before_finish(study, trial_id, frozen)
    if rejected is not None:
        state, values = TrialState.FAIL, None
    floats = None if values is None else [float(v) for v in values]  # type: ignore[arg-type]
    try:
        study.sampler.after_trial(study, frozen, state, floats)
    finally:
        batches = study.param_batches
        if batches is None:
            study._storage.set_trial_state_values(trial_id, state, floats)
        else:
            batches.finish(trial_id, state, floats)
    if rejected is not None:
        raise rejected
    return state, floats, message, trial_id


def _already_finished(
    study: Study, trial_id: int, frozen: FrozenTrial, skip_if_finished: bool
) -> bool:
    """Whether ``frozen`` (just read) is finished and telling it is to be skipped.

    Raises:
        ValueError: the trial is not RUNNING (and not to be skipped).
    """
    if frozen.state.is_finished():
        # Finished elsewhere (a heartbeat reaper): unwritten parameters never will be.
        batches = study.param_batches
        if batches is not None:
            batches.discard(trial_id)
        if skip_if_finished:
            return True
    if frozen.state != TrialState.RUNNING:
        raise ValueError(f"Cannot tell a {frozen.state.name} trial.")
    return False


def _as_values(value_or_values: object) -> Sequence[object] | None:
    if value_or_values is None:
        return None
    if isinstance(value_or_values, Sequence) and not isinstance(value_or_values, str):
        return value_or_values
    return [value_or_values]


def _check_state_and_values(state: TrialState | None, values: Sequence[object] | None) -> None:
    """Raise ValueError for a ``state`` that cannot be told, or values it cannot have."""
    if state == TrialState.COMPLETE:
        if values is None:
            raise ValueError(
                "No values were told. Values are required when state is TrialState.COMPLETE."
            )
    elif state in (TrialState.PRUNED, TrialState.FAIL):
        if values is not None:
            raise ValueError(
                "Values were told. Values cannot be specified when state is "
                "TrialState.PRUNED or TrialState.FAIL."
            )
    elif state is not None:
        raise ValueError(f"Cannot tell with state {state}.")


def _outcome(
    study: Study,
    frozen: FrozenTrial,
    state: TrialState | None,
    values: Sequence[object] | None,
    warn: bool,
) -> tuple[TrialState, Sequence[object] | None, str | None]:
    """Return the final (state, values, failure message) of a tell of checked ``state`` and
    ``values``.

    Raises:
        ValueError: COMPLETE with values that are not numbers, one per objective.
    """
    if state == TrialState.COMPLETE:
        assert values is not None
        message = feasibility_error(study, values)
        if message is not None:
            raise ValueError(message)
        return state, values, None
    if state == TrialState.PRUNED:
        return state, _pruned_values(study, frozen), None
    if state == TrialState.FAIL:
        return state, values, None
    return _judged(study, values, warn)


def _pruned_values(study: Study, frozen: FrozenTrial) -> list[float] | None:
    """A pruned trial's values: its last intermediate value if usable, else None."""
    last_step = frozen.last_step
    if last_step is None:
        return None
    last = frozen.intermediate_values[last_step]
    return [last] if feasibility_error(study, [last]) is None else None


def _judged(
    study: Study, values: Sequence[object] | None, warn: bool
) -> tuple[TrialState, Sequence[object] | None, str | None]:
    """(state, values, message) of a tell without a state: COMPLETE with usable values, else
    FAIL with why (as a warning instead when ``warn``)."""
    message = (
        "The value None could not be cast to float."
        if values is None
        else feasibility_error(study, values)
    )
    if message is None:
        return TrialState.COMPLETE, values, None
    if warn:
        warnings.warn(message, stacklevel=6)
        message = None
    return TrialState.FAIL, None, message


def _write_params_before_finish(
    study: Study, trial_id: int, frozen: FrozenTrial
) -> ValueError | None:
    """``param_writes="at_tell"``: write the trial's unwritten parameters now when the storage
    might reject them (a name this Study object has not written before), so that a rejection
    fails the trial before the sampler hears of it (otherwise they go with the finish, in one
    call). Show them in ``frozen``. Return the storage's rejection, if any (nothing of the
    batch is stored then).

    Raises:
        whatever else the write raised.
    """
    batches = study.param_batches
    if batches is None:
        return None
    buffered = batches.pending(trial_id)
    if not buffered:
        return None
    try:
        batches.flush_unless_known(trial_id)
    except ValueError as e:
        return e
    _show_params(buffered, frozen)
    return None


def _show_params(buffered: dict[str, tuple[float, Any]], frozen: FrozenTrial) -> None:
    """Add buffered parameters to ``frozen``, a snapshot that may have been read before they
    were written (the Trial's own snapshot already shows them)."""
    if not buffered or all(name in frozen.params for name in buffered):
        return
    params, distributions = dict(frozen.params), dict(frozen.distributions)
    for name, (internal, dist) in buffered.items():
        params[name] = dist.to_external_repr(internal)
        distributions[name] = dist
    frozen.params, frozen.distributions = params, distributions
