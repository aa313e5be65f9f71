"""Deliberately broken storages: the stress checkers must catch each of them.

They are :class:`~trialstore.storage.InMemoryStorage` with one flaw each, widened by short
sleeps so that the race it allows really happens under a few threads (or processes, when served
through :mod:`trialstore.stress._managed`):

* ``no-lock``: no lock at all; trial ids and numbers are read, then written back.
* ``non-atomic-claim``: WAITING -> RUNNING checks the state, releases the lock, then writes.
* ``lost-write``: one in ``lose_every`` acknowledged trial writes is silently dropped.
* ``id-reuse``: one in ``reuse_every`` created trials gets the id of the trial created before
  it (replacing that trial).
* ``stale-cache``: finished trials, once read, are served from a cache that deleting trials
  does not clear, so deleted trials come back (a caching client that misses deletions).

Never use them for anything but testing the checkers.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import time
from collections.abc import Container, Sequence
from typing import Any

from trialstore._core import FrozenTrial, TrialState, copy_trial, new_running_trial
from trialstore.distributions import BaseDistribution
from trialstore.storage import InMemoryStorage
from trialstore.storage import validation as check
from trialstore.storage.base import BaseStorage

__all__ = [
    "BROKEN_STORAGES",
    "IdReuseStorage",
    "LostWriteStorage",
    "NoLockStorage",
    "NonAtomicClaimStorage",
    "StaleCacheStorage",
    "make_broken_storage",
]

_WINDOW = 0.001  # seconds a race window is held open
_CLAIM_WINDOW = 0.01  # claims race less often than creates: hold this one open longer


class _NoLock(contextlib.nullcontext[None]):
    """A do-nothing context manager standing in for the lock (reentrant, shareable)."""


class NoLockStorage(InMemoryStorage):
    """InMemoryStorage without its lock; creating a trial reads then writes the counters."""

    #: No deletions (the workload then deletes nothing): without the lock they would leave
    #: the store unreadable at the end, which is not the flaw this storage plants.
    delete_trials = BaseStorage.delete_trials

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = _NoLock()  # type: ignore[assignment]

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = _NoLock()  # type: ignore[assignment]

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        study = self._study(study_id)
        trial_id = self._next_trial_id
        number = len(study.trial_ids)
        time.sleep(_WINDOW)  # the race window a lock would close
        self._next_trial_id = trial_id + 1
        trial = _new_trial(template_trial)
        trial.number = number
        trial._trial_id = trial_id
        study.trial_ids.append(trial_id)
        self._trials[trial_id] = trial
        self._trial_study[trial_id] = study_id
        return trial_id


class NonAtomicClaimStorage(InMemoryStorage):
    """A claim checks WAITING under the lock, then writes RUNNING under a second hold."""

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        if state == TrialState.RUNNING:
            with self._lock:
                waiting = self._updatable_trial(trial_id).state == TrialState.WAITING
            if not waiting:
                return False
            time.sleep(_CLAIM_WINDOW)
            with self._lock:
                updated = copy_trial(self._trials[trial_id])
                updated.state = TrialState.RUNNING
                updated.datetime_start = datetime.datetime.now()
                self._trials[trial_id] = updated
            return True
        return super().set_trial_state_values(trial_id, state, values)


class LostWriteStorage(InMemoryStorage):
    """Acknowledges every trial write but drops one in ``lose_every``."""

    def __init__(self, *, lose_every: int = 25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lose_every = lose_every
        self._writes = itertools.count(1)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        del state["_writes"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._writes = itertools.count(1)

    def _lose(self) -> bool:
        return next(self._writes) % self._lose_every == 0

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        if not self._lose():
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        if not self._lose():
            super().set_trial_intermediate_value(trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if not self._lose():
            super().set_trial_user_attr(trial_id, key, value)


class IdReuseStorage(InMemoryStorage):
    """Gives one in ``reuse_every`` new trials the id of the trial created just before."""

    def __init__(self, *, reuse_every: int = 15, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._reuse_every = reuse_every
        self._created = 0

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        with self._lock:
            self._created += 1
            if self._created % self._reuse_every == 0 and self._next_trial_id > 0:
                self._next_trial_id -= 1  # hand out the previous id again
                old = self._next_trial_id
                old_study = self._studies[self._trial_study[old]]
                old_study.trial_ids.remove(old)
                for number, tid in enumerate(old_study.trial_ids):
                    self._trials[tid].number = number
            return super().create_new_trial(study_id, template_trial)


class StaleCacheStorage(InMemoryStorage):
    """Serves finished trials it has read before from a cache, as a caching client does, but
    a deletion does not clear the cache: deleted trials keep coming back to readers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cache: dict[int, tuple[int, FrozenTrial]] = {}  # id -> (study id, trial)

    def _remember(self, trials: list[FrozenTrial]) -> None:
        with self._lock:
            for trial in trials:
                if trial.state.is_finished():
                    study_id = self._trial_study.get(trial._trial_id)
                    if study_id is not None:
                        self._cache[trial._trial_id] = (study_id, trial)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            cached = self._cache.get(trial_id) if type(trial_id) is int else None
        if cached is not None:
            return copy_trial(cached[1])
        trial = super().get_trial(trial_id)
        self._remember([trial])
        return trial

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        live = super().get_all_trials(study_id, deepcopy=False)
        self._remember(live)
        with self._lock:
            merged = {t._trial_id: t for t in live}
            for trial_id, (owner, trial) in self._cache.items():
                if owner == study_id:
                    merged.setdefault(trial_id, trial)
        trials = sorted(merged.values(), key=lambda t: t.number)
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return [copy_trial(t) for t in trials] if deepcopy else trials


def _new_trial(template: FrozenTrial | None) -> FrozenTrial:
    if template is not None:
        return check.check_template(template)
    return new_running_trial()


#: Flaw name -> storage class.
BROKEN_STORAGES: dict[str, type[InMemoryStorage]] = {
    "no-lock": NoLockStorage,
    "non-atomic-claim": NonAtomicClaimStorage,
    "lost-write": LostWriteStorage,
    "id-reuse": IdReuseStorage,
    "stale-cache": StaleCacheStorage,
}


def make_broken_storage(kind: str, **kwargs: Any) -> BaseStorage:
    """Return a new broken storage of flaw ``kind`` (a key of :data:`BROKEN_STORAGES`).

    Raises:
        ValueError: unknown ``kind``.
    """
    try:
        cls = BROKEN_STORAGES[kind]
    except KeyError:
        raise ValueError(
            f"unknown broken storage {kind!r}; known: {sorted(BROKEN_STORAGES)}"
        ) from None
    return cls(**kwargs)
