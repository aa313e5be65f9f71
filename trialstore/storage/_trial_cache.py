"""What a storage object remembers of the trials it reads from elsewhere (private).

One cache for the backends whose trials live in another process (RDB: the database; gRPC: the
proxy server). Finished trials never change, so once read they are kept; a sync of a study
asks the source only for the trials it may not know yet: those with an id above the study's
cursor (new ones) and those it holds unfinished. How to ask is the backend's: it hands the
cache a ``fetch`` function, and keeps its own query logic in its package.

This relies on one fact every trialstore backend and Optuna keep: within one study, trials
become visible in id order (ids grow with numbers). As a guard, when the numbers held have a
gap (a trial the source has not shown yet, below others it has), the cursor falls back below
the gap, so the late trial is still fetched.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import threading
import weakref
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any

from trialstore._core import FrozenTrial, TrialState

__all__ = ["KEPT_NUMBERS", "Fetch", "StudyTrials", "TrialCache"]

#: How many created trials' numbers a cache keeps (see :meth:`TrialCache.note_created`).
KEPT_NUMBERS = 10_000


def _trial_order(trial: FrozenTrial) -> tuple[int, int]:
    return (trial.number, trial._trial_id)


class StudyTrials:
    """This process's view of one study's trials: finished ones are final and kept; the
    others are fetched again on every sync, together with trials above :meth:`cursor`.

    ``ordered`` holds every trial by number. ``finished`` holds the finished trials of each
    state by number, kept up to date as trials finish, so that a sampler's
    ``get_all_trials(states=(COMPLETE,))`` copies one list instead of testing the state of
    every trial of the study. ``unfinished`` holds the ids of the trials held unfinished.
    Not thread-safe: its owner holds the study's lock (see :meth:`TrialCache.study_lock`).
    """

    __slots__ = ("_dense", "_gone_numbers", "by_id", "finished", "max_id", "ordered", "unfinished")

    def __init__(self) -> None:
        self.by_id: dict[int, FrozenTrial] = {}
        self.ordered: list[FrozenTrial] = []  # index == number while ``_dense``
        self.finished: dict[TrialState, list[FrozenTrial]] = {}
        self.unfinished: set[int] = set()
        #: The highest trial id ever held (ids are never reused, so it outlives a discard).
        self.max_id = -1
        self._dense = True
        #: Numbers of discarded trials: no gap for the cursor's guard.
        self._gone_numbers: set[int] = set()

    def merge(self, fetched: Iterable[FrozenTrial]) -> None:
        """Take in fresh snapshots (a finished trial already held is kept: it is final)."""
        dense = self._dense
        for trial in sorted(fetched, key=_trial_order):
            known = self.by_id.get(trial._trial_id)
            if known is not None and known.state.is_finished():
                continue
            self._hold(trial)
            dense = dense and self._place(trial)
        if not dense:  # numbers with gaps or duplicates: sort
            self._reorder()

    def _hold(self, trial: FrozenTrial) -> None:
        """Hold ``trial`` by id and in the state index."""
        trial_id = trial._trial_id
        self.by_id[trial_id] = trial
        self.max_id = max(self.max_id, trial_id)
        if not trial.state.is_finished():
            self.unfinished.add(trial_id)
            return
        self.unfinished.discard(trial_id)
        same_state = self.finished.setdefault(trial.state, [])
        if not same_state or _trial_order(same_state[-1]) < _trial_order(trial):
            same_state.append(trial)
        else:  # trials finish out of number order
            bisect.insort(same_state, trial, key=_trial_order)

    def _place(self, trial: FrozenTrial) -> bool:
        """Put ``trial`` at its number in ``ordered`` while numbers are dense; return
        whether they still are."""
        number, ordered = trial.number, self.ordered
        if number == len(ordered):
            ordered.append(trial)
            return True
        if 0 <= number < len(ordered) and ordered[number]._trial_id == trial._trial_id:
            ordered[number] = trial
            return True
        return False

    def _reorder(self) -> None:
        self.ordered = sorted(self.by_id.values(), key=_trial_order)
        self._dense = all(t.number == i for i, t in enumerate(self.ordered))

    def discard(self, trial_ids: Iterable[int]) -> None:
        """Drop the trials (deleted at the source): no sync fetches them again, and their
        numbers do not count as a gap. Ids not held are ignored."""
        gone = [self.by_id.pop(t) for t in set(trial_ids) if t in self.by_id]
        if not gone:
            return
        for trial in gone:
            self.unfinished.discard(trial._trial_id)
            self._gone_numbers.add(trial.number)
        gone_ids = {t._trial_id for t in gone}
        for state, same_state in list(self.finished.items()):
            self.finished[state] = [t for t in same_state if t._trial_id not in gone_ids]
        self._reorder()

    def select(self, states: Container[TrialState] | None) -> list[FrozenTrial]:
        """A new list of the trials in ``states`` (None: all), by number."""
        if states is None:
            return list(self.ordered)
        wanted = [state for state in TrialState if state in states]
        if len(wanted) == 1 and wanted[0].is_finished():
            return list(self.finished.get(wanted[0], ()))
        return [t for t in self.ordered if t.state in states]

    def trial_id_of(self, number: int) -> int | None:
        """The id of the trial numbered ``number`` if held (and numbers are dense), else None."""
        ordered = self.ordered
        if 0 <= number < len(ordered) and ordered[number].number == number:
            return ordered[number]._trial_id
        return None

    def cursor(self) -> int:
        """The id above which every trial may be new to this view: the highest id held, or,
        below a gap in the numbers, the highest id of the trials numbered below the gap (-1
        when none is). A sync fetches the trials above it and those in ``unfinished``."""
        if self._dense:
            return self.max_id
        present = {t.number for t in self.ordered} | self._gone_numbers
        gap = next(n for n in itertools.count() if n not in present)
        if gap > max(present):  # duplicates or discarded trials, no gap
            return self.max_id
        return max((t._trial_id for t in self.ordered if t.number < gap), default=-1)


#: ``fetch(study_id, view)`` returns fresh snapshots of the study's trials above
#: ``view.cursor()`` and of those in ``view.unfinished`` (more is harmless); it raises
#: KeyError when there is no such study.
Fetch = Callable[[int, StudyTrials], Iterable[FrozenTrial]]


class TrialCache:
    """The views of the studies one storage object has read, synced through ``fetch``; the
    numbers of the trials it created lately; the study of each trial it knows.

    ``trial_study`` (trial id -> its study id) is a plain dict the owner may also write
    (without a lock: each entry, once set, holds until the study is forgotten or the trial
    discarded).

    Thread-safe. Each study has a lock (:meth:`study_lock`) held across a sync of its view,
    round trip included, so that threads working on different studies do not wait for each
    other. Fork-safe: in a forked child the first use replaces every lock (one copied from
    the parent may be held by a thread the child does not have) and drops the views (such a
    thread may have been changing one).
    """

    def __init__(self, fetch: Fetch) -> None:
        self._fetch = fetch
        self._pid = os.getpid()
        #: Guards the dicts below; taken after a study's lock, never before; never held
        #: across a round trip.
        self._lock = threading.RLock()
        #: study id -> its lock. Weak: a lock lives while a thread holds or waits for it, so
        #: ids asked about once (made-up ones included) leave nothing behind; two threads
        #: asking at once share one lock.
        self._study_locks: weakref.WeakValueDictionary[int, threading.RLock] = (
            weakref.WeakValueDictionary()
        )
        self._views: dict[int, StudyTrials] = {}
        #: study id -> syncs of its view begun / the latest of them that completed (see
        #: :meth:`fresh_view`).
        self._syncs_begun: dict[int, int] = {}
        self._synced_as_of: dict[int, int] = {}
        #: trial id -> (study id, number) of the last KEPT_NUMBERS trials this object
        #: created: a study asks for the number right after the create, which then costs no
        #: round trip. Only a delete of its study by another process goes unseen here (the
        #: answer is then that of a read just before the delete).
        self._created_numbers: dict[int, tuple[int, int]] = {}
        self.trial_study: dict[int, int] = {}

    def _check_fork(self) -> None:
        """In a forked child, start afresh (see the class docstring)."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.RLock()
            self._study_locks = weakref.WeakValueDictionary()
            self._views = {}
            self._syncs_begun = {}
            self._synced_as_of = {}

    def _dicts_lock(self) -> threading.RLock:
        """The lock of the dicts (a new one in a forked child)."""
        self._check_fork()
        return self._lock

    def study_lock(self, study_id: int) -> threading.RLock:
        """The lock of ``study_id``'s view. Take it before any other lock of this cache."""
        with self._dicts_lock():
            lock = self._study_locks.get(study_id)
            if lock is None:
                lock = self._study_locks[study_id] = threading.RLock()
            return lock

    def forget(self, study_id: int) -> None:
        """Drop what is remembered of the study (deleted, here or elsewhere). A sync of its
        view in progress (by another thread) may store the view again: to wait for it, hold
        :meth:`study_lock` around the call."""
        with self._dicts_lock():
            self._views.pop(study_id, None)
            self._syncs_begun.pop(study_id, None)
            self._synced_as_of.pop(study_id, None)
            self._created_numbers = {
                t: known for t, known in self._created_numbers.items() if known[0] != study_id
            }

    def discard(self, trial_ids: Iterable[int]) -> None:
        """Drop the trials (deleted at the source) from everything remembered: views,
        numbers, studies. A sync of their study in progress completes first (its snapshot may
        still hold them); later syncs do not ask for them. Unknown ids are ignored."""
        by_study: dict[int, list[int]] = {}
        with self._dicts_lock():
            for trial_id in trial_ids:
                self._created_numbers.pop(trial_id, None)
                study_id = self.trial_study.pop(trial_id, None)
                if study_id is not None:
                    by_study.setdefault(study_id, []).append(trial_id)
        for study_id, ids in by_study.items():
            with self.study_lock(study_id), self._dicts_lock():
                view = self._views.get(study_id)
                if view is not None:
                    view.discard(ids)

    # -- trials -----------------------------------------------------------------------------

    def note_created(self, study_id: int, trial_id: int, number: int) -> None:
        """Note a trial this object created (its number is kept for a while)."""
        with self._dicts_lock():
            self.trial_study[trial_id] = study_id
            self._created_numbers[trial_id] = (study_id, number)
            if len(self._created_numbers) > KEPT_NUMBERS:  # the oldest goes (dicts keep order)
                del self._created_numbers[next(iter(self._created_numbers))]

    def number_of(self, trial_id: int) -> int | None:
        """The number of a trial this object created lately, else None."""
        known = self._created_numbers.get(trial_id)
        return None if known is None else known[1]

    def finished_trial(self, trial_id: int) -> FrozenTrial | None:
        """The trial if a view holds it finished (it is final), else None."""
        self._check_fork()
        study_id = self.trial_study.get(trial_id)
        view = None if study_id is None else self._views.get(study_id)
        trial = None if view is None else view.by_id.get(trial_id)
        return trial if trial is not None and trial.state.is_finished() else None

    def trial_id_of(self, study_id: int, trial_number: Any) -> int | None:
        """The id of the study's trial ``trial_number`` if its view holds it, else None
        (also for a ``trial_number`` that is not an int: ``True`` is no trial number)."""
        self._check_fork()
        view = self._views.get(study_id)
        if view is None or isinstance(trial_number, bool) or not isinstance(trial_number, int):
            return None
        return view.trial_id_of(trial_number)

    # -- views ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def fresh_view(self, study_id: int) -> Iterator[StudyTrials]:
        """Hold the study's lock over its view, brought up to date by a fetch that began
        after this call did: its own, or one another thread made while this one waited for
        the lock. Threads reading one study at once thus share a round trip instead of
        queueing for one each; a write that completed before the call is seen either way.

        Raises:
            KeyError: no such study (what was remembered of it is forgotten).
            Exception: what ``fetch`` raises.
        """
        syncs_before = self._syncs_begun_of(study_id)  # before waiting for the lock
        with self.study_lock(study_id):
            with self._dicts_lock():
                view = self._views.get(study_id)
                fresh = self._synced_as_of.get(study_id, 0) > syncs_before
            yield view if view is not None and fresh else self._synced(study_id)

    def _syncs_begun_of(self, study_id: int) -> int:
        """How many syncs of the study's view this object has begun."""
        with self._dicts_lock():
            return self._syncs_begun.get(study_id, 0)

    def _synced(self, study_id: int) -> StudyTrials:
        """Bring the study's view up to date and return it. The caller holds the study's
        lock (so the view changes only when it next syncs)."""
        with self._dicts_lock():
            view = self._views.get(study_id)
            began = self._syncs_begun[study_id] = self._syncs_begun.get(study_id, 0) + 1
        if view is None:
            view = StudyTrials()
        try:
            fetched = list(self._fetch(study_id, view))
        except KeyError:
            self.forget(study_id)
            raise
        with self._dicts_lock():
            view.merge(fetched)
            self._views[study_id] = view
            self._synced_as_of[study_id] = began
            for trial in fetched:
                self.trial_study[trial._trial_id] = study_id
        return view
