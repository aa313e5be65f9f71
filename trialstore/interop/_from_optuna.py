"""An Optuna storage seen through trialstore's storage protocol (private; imports Optuna).

Public entry: :func:`trialstore.interop.optuna.from_optuna`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.storages import BaseStorage as OptunaBaseStorage
from optuna.storages._heartbeat import BaseHeartbeat as OptunaBaseHeartbeat

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.interop import _convert as conv
from trialstore.interop._view import Conversions, ErrorMap, StorageView
from trialstore.storage import validation as check
from trialstore.storage.base import BaseStorage

__all__ = ["TrialstoreView"]


#: Optuna's exceptions leave as trialstore's; others pass unchanged.
_ERRORS = ErrorMap(optuna.exceptions.OptunaError, conv.error_from_optuna)
#: Optuna's trials, directions and studies leave as trialstore's; trialstore's states go in.
_CONVERSIONS: Conversions[FrozenTrial, TrialState, StudyDirection, FrozenStudy] = Conversions(
    errors=_ERRORS,
    trial=conv.trial_from_optuna,
    direction=conv.direction_from_optuna,
    study=conv.study_from_optuna,
    state=conv.state_to_optuna,
    states=conv.states_to_optuna,
)


def _heartbeat_backend(storage: OptunaBaseStorage) -> OptunaBaseStorage:
    # Optuna's cache wrapper keeps the grace period on the RDBStorage it wraps.
    backend = getattr(storage, "_backend", None)
    return backend if isinstance(backend, OptunaBaseStorage) else storage


class TrialstoreView(
    StorageView[OptunaBaseStorage, FrozenTrial, TrialState, StudyDirection, FrozenStudy],
    BaseStorage,
):
    """A trialstore storage whose data lives in an Optuna storage.

    Arguments are checked by trialstore's rules before anything reaches the Optuna storage, so
    a rejected call never writes; everything else (atomicity, concurrency, durability, what
    other processes see) is the Optuna storage's. Optuna's exceptions arrive as trialstore's.

    Heartbeats are on exactly when the Optuna storage has them (an Optuna ``BaseHeartbeat``
    with an interval, such as ``RDBStorage(heartbeat_interval=...)``); the grace period is
    then the storage's ``grace_period`` or twice the interval. Otherwise they are off:
    :meth:`record_heartbeat` only checks the trial and :meth:`get_stale_trial_ids` is empty.
    """

    _conversions = _CONVERSIONS

    @property
    def optuna_storage(self) -> OptunaBaseStorage:
        """The wrapped Optuna storage."""
        return self._storage

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked = check.check_directions(directions)
        name = check.check_study_name(study_name)
        with _ERRORS:
            return self._storage.create_new_study(
                [conv.direction_to_optuna(d) for d in checked], name
            )

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        with _ERRORS:
            self._storage.set_study_user_attr(study_id, key, stored)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        with _ERRORS:
            self._storage.set_study_system_attr(study_id, key, stored)

    # -- trials -----------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        optuna_template = None
        if template_trial is not None:
            template = check.check_template(template_trial)
            n_objectives = len(self.get_study_directions(study_id))
            check.check_values_count(template.values, n_objectives)
            optuna_template = conv.trial_to_optuna(template)
        with _ERRORS:
            return self._storage.create_new_trial(study_id, optuna_template)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        with _ERRORS:
            self._storage.set_trial_param(
                trial_id, name, internal, conv.distribution_to_optuna(distribution)
            )

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        checked_state, checked_values = check.check_state_values(state, values)
        with _ERRORS:
            return self._storage.set_trial_state_values(
                trial_id, conv.state_to_optuna(checked_state), checked_values
            )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        with _ERRORS:
            self._storage.set_trial_intermediate_value(trial_id, checked_step, value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        with _ERRORS:
            self._storage.set_trial_user_attr(trial_id, key, stored)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        with _ERRORS:
            self._storage.set_trial_system_attr(trial_id, key, stored)

    # -- heartbeats -------------------------------------------------------------------------

    def _heartbeat(self) -> OptunaBaseHeartbeat | None:
        storage = self._storage
        if isinstance(storage, OptunaBaseHeartbeat) and storage.get_heartbeat_interval():
            return storage
        return None

    def get_heartbeat_interval(self) -> float | None:
        heartbeat = self._heartbeat()
        if heartbeat is None:
            return None
        return float(heartbeat.get_heartbeat_interval() or 0)

    def get_grace_period(self) -> float | None:
        interval = self.get_heartbeat_interval()
        if interval is None:
            return None
        grace = getattr(_heartbeat_backend(self._storage), "grace_period", None)
        return float(grace) if grace else 2.0 * interval

    def record_heartbeat(self, trial_id: int) -> None:
        with _ERRORS:
            trial = self._storage.get_trial(trial_id)
            if trial.state.is_finished():
                raise UpdateFinishedTrialError(
                    f"Trial#{trial.number} has already finished and can not be updated."
                )
            heartbeat = self._heartbeat()
            if heartbeat is not None:
                heartbeat.record_heartbeat(trial_id)

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        with _ERRORS:
            self._storage.get_study_directions(study_id)
            heartbeat = self._heartbeat()
            if heartbeat is None:
                return []
            return sorted(heartbeat._get_stale_trial_ids(study_id))
