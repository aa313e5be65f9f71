"""The client's per-study trial cache (private).

Finished trials never change, so once the client has one it keeps it and never asks for it
again. Each sync asks the server only for trials that are new (id above the highest finished id
the cache holds) or that the cache holds unfinished: ``GetTrials(study_id,
trial_id_greater_than, included_trial_ids)``, Optuna's incremental read.

This relies on one fact every trialstore backend and Optuna keep: within one study, trials
become visible in id order (ids grow with numbers). As a guard, when the cached numbers have a
gap the cursor falls back below the gap, so a late trial is still fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from trialstore._core import FrozenTrial

__all__ = ["StudyCache"]


class StudyCache:
    """The trials of one study that one client has seen. Callers hold :attr:`lock` around a
    sync (``request`` ... ``update``) so that concurrent syncs do not interleave."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._by_number: list[FrozenTrial | None] = []
        self._unfinished: set[int] = set()
        self._max_finished_id = -1
        self._known = 0

    def request(self) -> tuple[int, list[int]]:
        """Return (trial_id_greater_than, included_trial_ids) for the next sync."""
        cursor = self._max_finished_id
        if self._known != len(self._by_number):  # a gap: fetch from below it
            cursor = -1
            for trial in self._by_number:
                if trial is None:
                    break
                if trial.state.is_finished():
                    cursor = max(cursor, trial._trial_id)
        return cursor, sorted(self._unfinished)

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        """Store fresh snapshots."""
        for trial in trials:
            number = trial.number
            if number >= len(self._by_number):
                self._by_number.extend([None] * (number + 1 - len(self._by_number)))
            if self._by_number[number] is None:
                self._known += 1
            self._by_number[number] = trial
            if trial.state.is_finished():
                self._unfinished.discard(trial._trial_id)
                self._max_finished_id = max(self._max_finished_id, trial._trial_id)
            else:
                self._unfinished.add(trial._trial_id)

    def trials(self) -> list[FrozenTrial]:
        """Return the cached trials ordered by number (shared snapshots: do not mutate)."""
        return [t for t in self._by_number if t is not None]
