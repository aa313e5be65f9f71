"""Incremental best-trial tracking for the per-trial log line (private).

Finished trials never change, so the best among the longest prefix (by number) of finished
trials is remembered; each call scans only the trials after that prefix. A finished trial may
be deleted, though: when the remembered best is gone, the prefix is scanned again. In-process
storages are probed by number; the others are listed once per call, which their caches serve
incrementally. (``BaseStorage.get_best_trial`` would list them and then
read the best trial again: one more round trip per logged trial on a database or a proxy.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from trialstore._core import FrozenTrial, StudyDirection, TrialState, is_feasible
from trialstore.storage.base import BaseStorage
from trialstore.study._scan import from_number, probes_by_number, trial_exists, trials_from

__all__ = ["BestTracker"]


class BestTracker:
    """Finds the best feasible COMPLETE trial of a single-objective study (a trial with a
    constraint value above 0 is not a candidate), cheaply and thread-safely."""

    def __init__(self, storage: BaseStorage, study_id: int, direction: StudyDirection) -> None:
        self._storage = storage
        self._study_id = study_id
        self._maximize = direction == StudyDirection.MAXIMIZE
        self._lock = threading.Lock()
        self._prefix = 0
        self._prefix_best: FrozenTrial | None = None

    def _better(self, a: FrozenTrial, b: FrozenTrial | None) -> bool:
        """Return True if ``a`` beats ``b`` strictly (ties keep the lower number)."""
        if b is None:
            return True
        assert a.values is not None and b.values is not None
        if self._maximize:
            return a.values[0] > b.values[0]
        return a.values[0] < b.values[0]

    def best(self) -> FrozenTrial | None:
        """Return the best feasible COMPLETE trial (a shared snapshot: do not mutate), or
        None."""
        with self._lock:
            prefix, best = self._prefix, self._prefix_best
            tail: Iterator[FrozenTrial]
            if probes_by_number(self._storage):
                if best is not None and not trial_exists(self._storage, self._study_id, best):
                    prefix, best = 0, None  # deleted: find the best of the prefix again
                tail = trials_from(self._storage, self._study_id, prefix)
            else:
                trials = self._storage.get_all_trials(self._study_id, deepcopy=False)
                if best is not None:
                    head = from_number(trials, best.number)[:1]
                    if not head or head[0]._trial_id != best._trial_id:
                        prefix, best = 0, None  # deleted: find the best of the prefix again
                tail = iter(from_number(trials, prefix))
            extending = True
            tail_best: FrozenTrial | None = None
            for trial in tail:
                state = trial.state
                if extending and state.is_finished():
                    prefix = trial.number + 1
                    if (
                        state == TrialState.COMPLETE
                        and self._better(trial, best)
                        and is_feasible(trial)
                    ):
                        best = trial
                    continue
                extending = False
                if (
                    state == TrialState.COMPLETE
                    and self._better(trial, tail_best)
                    and is_feasible(trial)
                ):
                    tail_best = trial
            self._prefix, self._prefix_best = prefix, best
        if tail_best is not None and (best is None or self._better(tail_best, best)):
            return tail_best
        return best
