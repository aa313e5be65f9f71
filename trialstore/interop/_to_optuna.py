"""A trialstore storage seen through Optuna's storage interface (private; imports Optuna).

Public entry: :func:`trialstore.interop.optuna.to_optuna`.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution as OptunaDistribution
from optuna.storages import BaseStorage as OptunaBaseStorage
from optuna.storages._heartbeat import BaseHeartbeat as OptunaBaseHeartbeat
from optuna.study import StudyDirection as OptunaDirection
from optuna.study._frozen import FrozenStudy as OptunaStudy
from optuna.trial import FrozenTrial as OptunaTrial
from optuna.trial import TrialState as OptunaState

from trialstore._core import FrozenTrial, TrialState
from trialstore.exceptions import TrialstoreError, UpdateFinishedTrialError
from trialstore.interop import _convert as conv
from trialstore.interop._view import Conversions, ErrorMap, StorageView
from trialstore.storage.base import BaseStorage

__all__ = ["OptunaHeartbeatView", "OptunaView", "StaleTrialCallback"]

StaleTrialCallback = Callable[["optuna.Study", OptunaTrial], None]

#: Trialstore's own exceptions leave as Optuna's; KeyError and ValueError pass unchanged.
_ERRORS = ErrorMap(TrialstoreError, conv.error_to_optuna)
#: Trialstore's trials, directions and studies leave as Optuna's; Optuna's states come in.
_CONVERSIONS: Conversions[OptunaTrial, OptunaState, OptunaDirection, OptunaStudy] = Conversions(
    errors=_ERRORS,
    trial=conv.trial_to_optuna,
    direction=conv.direction_to_optuna,
    study=conv.study_to_optuna,
    state=conv.state_from_optuna,
    states=conv.states_from_optuna,
)


def _template_from_optuna(template: OptunaTrial | None) -> FrozenTrial | None:
    """Convert a template; Optuna stores a finished template without ``datetime_complete``
    (or a RUNNING one without ``datetime_start``) as it is, trialstore needs the datetime, so
    the missing one becomes now."""
    if not isinstance(template, OptunaTrial):
        return template  # None, or an object for trialstore to reject
    converted = conv.trial_from_optuna(template)
    if not isinstance(converted.state, TrialState):
        return converted
    if converted.state.is_finished() and converted.datetime_complete is None:
        converted.datetime_complete = datetime.datetime.now()
    if converted.state == TrialState.RUNNING and converted.datetime_start is None:
        converted.datetime_start = datetime.datetime.now()
    return converted


class OptunaView(
    StorageView[BaseStorage, OptunaTrial, OptunaState, OptunaDirection, OptunaStudy],
    OptunaBaseStorage,
):
    """An Optuna storage whose data lives in a trialstore storage.

    Every call goes to the wrapped storage, so the concurrency and durability guarantees are
    the wrapped backend's. Types are converted both ways; trialstore's exceptions arrive as
    Optuna's (DuplicatedStudyError, UpdateFinishedTrialError, StorageInternalError,
    OptunaError); KeyError and ValueError pass unchanged.

    ``get_all_trials(deepcopy=False)`` shares the converted snapshot of each finished trial
    between callers (a finished trial never changes); callers must not mutate it, as Optuna's
    contract for ``deepcopy=False`` says.
    """

    _conversions = _CONVERSIONS

    @property
    def trialstore_storage(self) -> BaseStorage:
        """The wrapped trialstore storage."""
        return self._storage

    @contextlib.contextmanager
    def _trial_write(self, trial_id: int) -> Iterator[None]:
        """Map the errors of a write to trial ``trial_id`` as Optuna orders them.

        Optuna checks that the trial exists and is unfinished before it checks the arguments;
        trialstore checks the arguments first. So when trialstore rejects the write with
        ValueError (and only then) the trial is read: a missing trial gives KeyError, a
        finished one UpdateFinishedTrialError, an unfinished one the ValueError.
        """
        try:
            with _ERRORS:
                yield
        except ValueError as e:
            raise self._rejected(trial_id, e) from e

    def _rejected(self, trial_id: int, error: ValueError) -> Exception:
        with _ERRORS:
            trial = self._storage.get_trial(trial_id)
        if trial.state.is_finished():
            return optuna.exceptions.UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )
        return error

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[OptunaDirection], study_name: str | None = None
    ) -> int:
        if isinstance(directions, (list, tuple)):
            directions = [conv.direction_from_optuna(d) for d in directions]
        with _ERRORS:
            return self._storage.create_new_study(directions, study_name)  # type: ignore[arg-type]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        with _ERRORS:
            self._storage.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        with _ERRORS:
            self._storage.set_study_system_attr(study_id, key, value)

    # -- trials -----------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: OptunaTrial | None = None) -> int:
        template = _template_from_optuna(template_trial)
        with _ERRORS:
            return self._storage.create_new_trial(study_id, template)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: OptunaDistribution,
    ) -> None:
        with self._trial_write(trial_id):
            self._storage.set_trial_param(
                trial_id,
                param_name,
                param_value_internal,
                conv.distribution_from_optuna(distribution),
            )

    def set_trial_state_values(
        self, trial_id: int, state: OptunaState, values: Sequence[float] | None = None
    ) -> bool:
        with self._trial_write(trial_id):
            return self._storage.set_trial_state_values(
                trial_id, conv.state_from_optuna(state), values
            )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        with self._trial_write(trial_id):
            self._storage.set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._trial_write(trial_id):
            self._storage.set_trial_user_attr(trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._trial_write(trial_id):
            self._storage.set_trial_system_attr(trial_id, key, value)


class OptunaHeartbeatView(OptunaView, OptunaBaseHeartbeat):
    """An :class:`OptunaView` of a storage with heartbeats on, so that Optuna's heartbeat
    thread, stale-trial failing and stale-trial callback work.

    The interval and grace period are the trialstore storage's. A heartbeat for a trial that
    has already finished is ignored (Optuna's heartbeat thread may beat once more after another
    worker failed the trial as stale).
    """

    def __init__(
        self, storage: BaseStorage, heartbeat_stale_trial_callback: StaleTrialCallback | None
    ) -> None:
        super().__init__(storage)
        self._stale_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        with _ERRORS, contextlib.suppress(UpdateFinishedTrialError):
            self._storage.record_heartbeat(trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        with _ERRORS:
            return self._storage.get_stale_trial_ids(study_id)

    def get_heartbeat_interval(self) -> float | None:  # type: ignore[override]
        return self._storage.get_heartbeat_interval()

    def get_heartbeat_stale_trial_callback(self) -> StaleTrialCallback | None:
        return self._stale_callback
