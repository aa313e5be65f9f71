"""InMemoryStorage: one process, many threads, nothing kept after exit."""

from __future__ import annotations

import copy
import datetime
import threading
import time
import uuid
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialstore._core import (
    DistributionsInterner,
    FrozenStudy,
    FrozenTrial,
    StudyDirection,
    TrialState,
    compact_trial,
    copy_trial,
    new_running_trial,
)
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import (
    DuplicatedStudyError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage import validation as check
from trialstore.storage.base import BaseStorage

__all__ = ["InMemoryStorage"]


@dataclass
class _Study:
    name: str
    directions: list[StudyDirection]
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    #: Every trial created in the study, deleted ones included: index = number.
    trial_ids: list[int] = field(default_factory=list)
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    #: The ids of the study's deleted trials.
    deleted: set[int] = field(default_factory=set)


class InMemoryStorage(BaseStorage):
    """A storage held in this process's memory.

    Thread-safe: every operation runs under one lock, so each is atomic and linearizable.
    Stored trials are copy-on-write: a write replaces the stored snapshot with a new object, so
    a snapshot handed out earlier never changes. ``get_all_trials(deepcopy=False)`` returns the
    stored snapshots themselves (cheap; the caller must not mutate them).

    A deleted trial's contents are dropped; its id and number stay taken (the study's list of
    trial ids keeps it, marked deleted), so neither is handed out again.

    Heartbeats are off unless ``heartbeat_interval`` (seconds) is given; ``grace_period``
    defaults to twice the interval. The clock is this process's monotonic clock.

    Raises:
        ValueError: ``heartbeat_interval`` or ``grace_period`` is not a positive number, or
            ``grace_period`` is given without ``heartbeat_interval``.
    """

    cheap_trial_lookup = True

    def __init__(
        self, *, heartbeat_interval: float | None = None, grace_period: float | None = None
    ) -> None:
        self._heartbeat_interval, self._grace_period = check.check_heartbeat_settings(
            heartbeat_interval, grace_period
        )
        self._lock = threading.RLock()
        self._studies: dict[int, _Study] = {}
        self._name_to_id: dict[str, int] = {}
        self._trials: dict[int, FrozenTrial] = {}
        self._trial_study: dict[int, int] = {}
        self._heartbeats: dict[int, float] = {}
        #: Finished trials with equal distributions share one dict (they are never mutated).
        self._distributions = DistributionsInterner()
        self._next_study_id = 0
        self._next_trial_id = 0

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked_directions = check.check_directions(directions)
        name = check.check_study_name(study_name)
        with self._lock:
            if name is None:
                name = f"no-name-{uuid.uuid4()}"
            if name in self._name_to_id:
                raise DuplicatedStudyError(f"Another study with name '{name}' already exists.")
            study_id = self._next_study_id
            self._next_study_id += 1
            self._studies[study_id] = _Study(name=name, directions=checked_directions)
            self._name_to_id[name] = study_id
            return study_id

    def delete_study(self, study_id: int) -> None:
        with self._lock:
            study = self._study(study_id)
            for trial_id in study.trial_ids:
                self._trials.pop(trial_id, None)
                del self._trial_study[trial_id]
                self._heartbeats.pop(trial_id, None)
            del self._name_to_id[study.name]
            del self._studies[study_id]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        with self._lock:
            self._study(study_id).user_attrs[key] = stored

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        with self._lock:
            self._study(study_id).system_attrs[key] = stored

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._lock:
            if study_name not in self._name_to_id:
                raise KeyError(f"No such study {study_name!r}.")
            return self._name_to_id[study_name]

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._lock:
            return self._study(study_id).name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        with self._lock:
            return list(self._study(study_id).directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._study(study_id).user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._study(study_id).system_attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        with self._lock:
            return [
                FrozenStudy(
                    study_name=study.name,
                    direction=None,
                    directions=list(study.directions),
                    user_attrs=copy.deepcopy(study.user_attrs),
                    system_attrs=copy.deepcopy(study.system_attrs),
                    study_id=study_id,
                )
                for study_id, study in sorted(self._studies.items())
            ]

    # -- trials -----------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            trial = new_running_trial()
        else:
            trial = check.check_template(template_trial)
        with self._lock:
            study_id = check.check_id(study_id, "study")
            study = self._study(study_id)
            check.check_values_count(trial.values, len(study.directions))
            for name, dist in trial.distributions.items():
                check.check_distribution_against(name, study.distributions.get(name), dist)
            for name, dist in trial.distributions.items():
                study.distributions.setdefault(name, dist)
            trial_id = self._next_trial_id
            self._next_trial_id += 1
            trial.number = len(study.trial_ids)
            trial._trial_id = trial_id
            if trial.state.is_finished():
                compact_trial(trial, self._distributions)
            study.trial_ids.append(trial_id)
            self._trials[trial_id] = trial
            self._trial_study[trial_id] = study_id
            return trial_id

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        """Delete the trials, all or nothing, under the storage's lock (see
        :meth:`BaseStorage.delete_trials`)."""
        checked = check.check_trial_ids(trial_ids)
        with self._lock:
            study_id = check.check_id(study_id, "study")
            study = self._study(study_id)
            for trial_id in checked:
                self._trial_of(study_id, trial_id)
            for trial_id in checked:
                del self._trials[trial_id]
                study.deleted.add(trial_id)
                self._heartbeats.pop(trial_id, None)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        with self._lock:
            trial = self._updatable_trial(trial_id)
            study = self._studies[self._trial_study[trial_id]]
            check.check_distribution_against(name, study.distributions.get(name), distribution)
            study.distributions.setdefault(name, distribution)
            updated = copy_trial(trial)
            updated.params[name] = distribution.to_external_repr(internal)
            updated.distributions[name] = distribution
            self._trials[trial_id] = updated

    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, BaseDistribution]]
    ) -> None:
        """Set several parameters at once, all or nothing (under the storage's lock)."""
        checked = check.check_params(params)
        with self._lock:
            trial = self._updatable_trial(trial_id)
            if not checked:
                return
            study = self._studies[self._trial_study[trial_id]]
            for name, _, distribution in checked:
                check.check_distribution_against(name, study.distributions.get(name), distribution)
            updated = copy_trial(trial)
            for name, internal, distribution in checked:
                study.distributions.setdefault(name, distribution)
                updated.params[name] = distribution.to_external_repr(internal)
                updated.distributions[name] = distribution
            self._trials[trial_id] = updated

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._lock:
            trial_ids = self._study(study_id).trial_ids
            number = check.check_trial_number(trial_number, study_id)
            if number >= len(trial_ids):
                raise check.missing_trial_number(trial_number, study_id)
            trial_id = trial_ids[number]
            if trial_id in self._studies[study_id].deleted:
                raise TrialDeletedError(
                    f"Trial#{trial_number} (id {trial_id}) of study {study_id} was deleted."
                )
            return trial_id

    def get_trial_number_from_id(self, trial_id: int) -> int:
        with self._lock:
            return self._trial(trial_id).number

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        state, checked_values = check.check_state_values(state, values)
        with self._lock:
            trial = self._updatable_trial(trial_id)
            study = self._studies[self._trial_study[trial_id]]
            check.check_values_count(checked_values, len(study.directions))
            if state == TrialState.RUNNING and trial.state != TrialState.WAITING:
                return False
            updated = copy_trial(trial)
            updated.state = state
            if checked_values is not None:
                updated.values = checked_values
            if state == TrialState.RUNNING:
                updated.datetime_start = datetime.datetime.now()
            else:
                updated.datetime_complete = datetime.datetime.now()
                self._heartbeats.pop(trial_id, None)
                compact_trial(updated, self._distributions)
            self._trials[trial_id] = updated
            return True

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        with self._lock:
            updated = copy_trial(self._updatable_trial(trial_id))
            updated.intermediate_values[checked_step] = value
            self._trials[trial_id] = updated

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        with self._lock:
            updated = copy_trial(self._updatable_trial(trial_id))
            updated.user_attrs[key] = stored
            self._trials[trial_id] = updated

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        with self._lock:
            updated = copy_trial(self._updatable_trial(trial_id))
            updated.system_attrs[key] = stored
            self._trials[trial_id] = updated

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return copy_trial(self._trial(trial_id))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        with self._lock:
            study = self._study(study_id)
            if study.deleted:
                trials = [self._trials[i] for i in study.trial_ids if i not in study.deleted]
            else:
                trials = [self._trials[i] for i in study.trial_ids]
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return [copy_trial(t) for t in trials] if deepcopy else trials

    # -- heartbeats -------------------------------------------------------------------------

    def get_heartbeat_interval(self) -> float | None:
        return self._heartbeat_interval

    def get_grace_period(self) -> float | None:
        return self._grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        with self._lock:
            trial_id = check.check_id(trial_id, "trial")
            if self._updatable_trial(trial_id).state == TrialState.RUNNING:
                self._heartbeats[trial_id] = time.monotonic()

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        with self._lock:
            study = self._study(study_id)
            if self._grace_period is None:
                return []
            deadline = time.monotonic() - self._grace_period
            return [
                trial_id
                for trial_id in study.trial_ids
                if trial_id in self._heartbeats
                and self._trials[trial_id].state == TrialState.RUNNING
                and self._heartbeats[trial_id] < deadline
            ]

    # -- private ----------------------------------------------------------------------------

    def _study(self, study_id: int) -> _Study:
        study = self._studies.get(check.check_id(study_id, "study"))
        if study is None:
            raise KeyError(f"No study with id {study_id!r}.")
        return study

    def _trial(self, trial_id: int) -> FrozenTrial:
        trial = self._trials.get(check.check_id(trial_id, "trial"))
        if trial is None:
            study_id = self._trial_study.get(trial_id)
            if study_id is not None:  # its study lives on: the trial was deleted
                raise TrialDeletedError(f"Trial id {trial_id} of study {study_id} was deleted.")
            raise KeyError(f"No trial with id {trial_id!r}.")
        return trial

    def _trial_of(self, study_id: int, trial_id: int) -> None:
        """Check that ``trial_id`` names a trial of the study that is not deleted.

        Raises:
            KeyError: no such trial in this study.
            TrialDeletedError: the trial was deleted.
        """
        if self._trial_study.get(check.check_id(trial_id, "trial")) != study_id:
            raise KeyError(f"No trial with id {trial_id} in study {study_id}.")
        self._trial(trial_id)

    def _updatable_trial(self, trial_id: int) -> FrozenTrial:
        trial = self._trial(trial_id)
        if trial.state.is_finished():
            raise UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )
        return trial
