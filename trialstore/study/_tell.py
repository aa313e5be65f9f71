"""Finishing a trial: checks, sampler hook, storage write (private)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
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
        if frozen.state.is_finished():
            # Finished elsewhere (a heartbeat reaper): buffered parameters can never be written.
            pending = study._trial_with_pending_params(trial_id)
            if pending is not None:
                pending._discard_buffer()
        if frozen.state.is_finished() and skip_if_finished:
            _logger.info(
                f"Skipped telling trial {frozen.number} with values {value_or_values} and state "
                f"{state} since trial was already finished. Finished trial has values "
                f"{frozen.values} and state {frozen.state}."
            )
            return frozen.state, frozen.values, None, trial_id
        if frozen.state != TrialState.RUNNING:
            raise ValueError(f"Cannot tell a {frozen.state.name} trial.")
    values: Sequence[object] | None
    if value_or_values is None:
        values = None
    elif isinstance(value_or_values, Sequence) and not isinstance(value_or_values, str):
        values = value_or_values
    else:
        values = [value_or_values]
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

    message: str | None = None
    if state == TrialState.COMPLETE:
        assert values is not None
        message = feasibility_error(study, values)
        if message is not None:
            raise ValueError(message)
    elif state == TrialState.PRUNED:
        last_step = frozen.last_step
        if last_step is not None:
            last = frozen.intermediate_values[last_step]
            if feasibility_error(study, [last]) is None:
                values = [last]
    elif state is None:
        message = (
            "The value None could not be cast to float."
            if values is None
            else feasibility_error(study, values)
        )
        if message is None:
            state = TrialState.COMPLETE
        else:
            state = TrialState.FAIL
            values = None
            if warn:
                warnings.warn(message, stacklevel=4)
                message = None
    # param_writes="at_tell": a Trial of this Study may hold parameters not written yet. When
    # the storage might reject them (a name this Study has not written before), they are
    # written first, so that a rejection fails the trial before the sampler hears of it;
    # otherwise they go with the finish, in one call.
    pending = study._trial_with_pending_params(trial_id) if study._pending_trials else None
    rejected: ValueError | None = None
    if pending is not None:
        assert pending._param_buffer is not None
        buffered = dict(pending._param_buffer)
        if not pending._buffer_is_known():
            try:
                pending._flush_params()
            except ValueError as e:
                rejected, buffered = e, {}
            pending = None
        _show_params(buffered, frozen)
    if rejected is not None:
        state, values = TrialState.FAIL, None
    floats = None if values is None else [float(v) for v in values]  # type: ignore[arg-type]
    try:
        study.sampler.after_trial(study, frozen, state, floats)
    finally:
        if pending is None:
            study._storage.set_trial_state_values(trial_id, state, floats)
        else:
            pending._flush_params_and_finish(state, floats)
    if rejected is not None:
        raise rejected
    return state, floats, message, trial_id


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
