"""What one RDB storage object remembers of the database (private).

Finished trials never change, nor does a study's directions, a trial's study or number, or the
distribution a study first stored for a parameter name: :class:`StudyCache` keeps them, so
that a read of a study costs one query for the trials that are new or unfinished
(:meth:`StudyCache.fresh_view`), and the study layer's question "is any trial WAITING?"
one light query (:meth:`StudyCache.may_have_waiting`).
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import weakref
from collections.abc import Container, Iterator
from typing import Any

import sqlalchemy as sa

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.storage._gc import gc_paused
from trialstore.storage.rdb import _fast_paths, _read
from trialstore.storage.rdb._dml import Statements
from trialstore.storage.rdb._transactions import Transactions

__all__ = ["MAX_IN_LIST", "StudyCache", "StudyTrials", "only_waiting"]

#: Longest IN-list of unfinished trial ids in an incremental read; beyond it, the read
#: fetches every trial from the oldest unfinished one on.
MAX_IN_LIST = 500

#: How many created trials' numbers a cache keeps (see :meth:`StudyCache.note_created`).
_KEPT_NUMBERS = 10_000


def only_waiting(states: Container[TrialState] | None) -> bool:
    """Whether a ``states`` filter asks for WAITING trials only (a collection we can see
    through; any other container is treated as asking for more)."""
    return (
        isinstance(states, (tuple, list, set, frozenset))
        and len(states) > 0
        and all(state == TrialState.WAITING for state in states)
    )


def _trial_order(trial: FrozenTrial) -> tuple[bool, int, int]:
    return (trial.number is None, trial.number, trial._trial_id)


class StudyTrials:
    """This process's view of one study's trials: finished ones are final and kept; the
    others are read again on every sync, together with trials newer than ``max_id``.

    ``ordered`` holds every trial by number. ``finished`` holds the finished trials of each
    state by number, kept up to date as trials finish, so that a sampler's
    ``get_all_trials(states=(COMPLETE,))`` copies one list instead of testing the state of
    every trial of the study. Not thread-safe: its owner holds the study's lock.
    """

    __slots__ = ("by_id", "finished", "max_id", "ordered", "unfinished")

    def __init__(self) -> None:
        self.by_id: dict[int, FrozenTrial] = {}
        self.ordered: list[FrozenTrial] = []  # index == number while numbers are dense
        self.finished: dict[TrialState, list[FrozenTrial]] = {}
        self.unfinished: set[int] = set()
        self.max_id = -1

    def merge(self, fetched: list[FrozenTrial]) -> None:
        """Take in trials read from the database (a finished trial already held is kept)."""
        dense = True
        for trial in sorted(fetched, key=lambda t: (t.number, t._trial_id)):
            trial_id = trial._trial_id
            known = self.by_id.get(trial_id)
            if known is not None and known.state.is_finished():
                continue  # read again with a range of unfinished ones: final, keep the one held
            self.by_id[trial_id] = trial
            self.max_id = max(self.max_id, trial_id)
            if trial.state.is_finished():
                self.unfinished.discard(trial_id)
                same_state = self.finished.setdefault(trial.state, [])
                if not same_state or _trial_order(same_state[-1]) < _trial_order(trial):
                    same_state.append(trial)
                else:  # trials finish out of number order
                    bisect.insort(same_state, trial, key=_trial_order)
            else:
                self.unfinished.add(trial_id)
            number = trial.number
            if number == len(self.ordered):
                self.ordered.append(trial)
            elif 0 <= number < len(self.ordered) and self.ordered[number]._trial_id == trial_id:
                self.ordered[number] = trial
            else:
                dense = False
        if not dense:  # numbers with gaps or duplicates (a damaged database): sort
            self.ordered = sorted(self.by_id.values(), key=_trial_order)

    def select(self, states: Container[TrialState] | None) -> list[FrozenTrial]:
        """A new list of the trials in ``states`` (None: all), by number."""
        if states is None:
            return list(self.ordered)
        wanted = [state for state in TrialState if state in states]
        if len(wanted) == 1 and wanted[0].is_finished():
            return list(self.finished.get(wanted[0], ()))
        return [t for t in self.ordered if t.state in states]


class StudyCache:
    """What one storage object remembers of the database, read through ``transactions``
    with the statements ``sql``.

    Plain dicts, read and written by the storage without a lock (each entry, once set, holds
    until :meth:`forget`): ``directions`` (study id -> its directions), ``distributions``
    (study id -> parameter name -> the distribution the study stored first; write through
    :meth:`remember_distribution`), ``trial_study`` (trial id -> its study id).

    Thread-safe. Each study has a lock (:meth:`study_lock`) held across a sync of its view,
    database round trip included, so that threads working on different studies (a gRPC
    proxy's) do not wait for each other. In a forked child the first use replaces every lock
    (one copied from the parent may be held by a thread the child does not have).
    """

    def __init__(self, transactions: Transactions, sql: Statements) -> None:
        self._transactions = transactions
        self._sql = sql
        self._pid = os.getpid()
        #: Guards the dicts below; taken after a study's lock, never before; never held
        #: across a database round trip.
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
        #: study id -> (floor, ids): of the trials up to ``floor``, only ``ids`` were WAITING
        #: when last seen (see :meth:`may_have_waiting`).
        self._waiting_probes: dict[int, tuple[int, frozenset[int]]] = {}
        #: trial id -> (study id, number) of the last _KEPT_NUMBERS trials this object
        #: created: a study asks for the number right after the create, which then costs no
        #: query. Only a delete of its study by another process goes unseen here (the answer
        #: is then that of a read just before the delete).
        self._created_numbers: dict[int, tuple[int, int]] = {}
        self.directions: dict[int, list[StudyDirection]] = {}
        self.distributions: dict[int, dict[str, BaseDistribution]] = {}
        self.trial_study: dict[int, int] = {}

    def _dicts_lock(self) -> threading.RLock:
        """The lock of the dicts; in a forked child, new locks (see the class docstring)."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.RLock()
            self._study_locks = weakref.WeakValueDictionary()
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
            self._waiting_probes.pop(study_id, None)
            self.directions.pop(study_id, None)
            self.distributions.pop(study_id, None)
            self._created_numbers = {
                t: known for t, known in self._created_numbers.items() if known[0] != study_id
            }

    def remember_distribution(
        self, study_id: int, name: str, distribution: BaseDistribution
    ) -> None:
        """Note the study's distribution of ``name`` (kept if one is known already)."""
        with self._dicts_lock():
            self.distributions.setdefault(study_id, {}).setdefault(name, distribution)

    # -- trials -----------------------------------------------------------------------------

    def note_created(self, study_id: int, trial_id: int, number: int) -> None:
        """Note a trial this object created (its number is kept for a while)."""
        with self._dicts_lock():
            self.trial_study[trial_id] = study_id
            self._created_numbers[trial_id] = (study_id, number)
            if len(self._created_numbers) > _KEPT_NUMBERS:  # the oldest goes (dicts keep order)
                del self._created_numbers[next(iter(self._created_numbers))]

    def number_of(self, trial_id: int) -> int | None:
        """The number of a trial this object created lately, else None."""
        known = self._created_numbers.get(trial_id)
        return None if known is None else known[1]

    def finished_trial(self, trial_id: int) -> FrozenTrial | None:
        """The trial if a view holds it finished (it is final), else None."""
        study_id = self.trial_study.get(trial_id)
        if study_id is None:
            return None
        view = self._views.get(study_id)
        trial = None if view is None else view.by_id.get(trial_id)
        return trial if trial is not None and trial.state.is_finished() else None

    def trial_id_of(self, study_id: int, trial_number: Any) -> int | None:
        """The id of the study's trial ``trial_number`` if its view holds it, else None."""
        view = self._views.get(study_id)
        if (
            view is not None
            and isinstance(trial_number, int)
            and 0 <= trial_number < len(view.ordered)
            and view.ordered[trial_number].number == trial_number
        ):
            return view.ordered[trial_number]._trial_id
        return None

    # -- views ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def fresh_view(self, study_id: int) -> Iterator[StudyTrials]:
        """Hold the study's lock over its view, brought up to date by a read of the database
        that began after this call did: its own, or one another thread made while this one
        waited for the lock. Threads reading one study at once (a gRPC proxy's clients) thus
        share a round trip instead of queueing for one each; a write that completed before
        the call is seen either way.

        Raises:
            KeyError: no such study (what was remembered of it is forgotten).
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
            cached = self._views.get(study_id)
            began = self._syncs_begun[study_id] = self._syncs_begun.get(study_id, 0) + 1
        if cached is None:
            cached = StudyTrials()
        params: dict[str, Any] = {"study_id": study_id, "max_id": cached.max_id}
        if not cached.unfinished:
            statement = self._sql.read_newer
        elif len(cached.unfinished) <= MAX_IN_LIST:
            statement = self._sql.read_newer_or_ids
            params["ids"] = sorted(cached.unfinished)
        else:
            statement = self._sql.read_from
            params["min_id"] = min(cached.unfinished)

        folded = self._sql.read_newer_folded if not cached.by_id else None

        def read(connection: sa.Connection) -> tuple[bool, list[FrozenTrial]]:
            # A first read may build thousands of trials; the collector is paused for one
            # attempt's fetch and build, never across the retries' backoff.
            with gc_paused():
                if folded is not None and _fast_paths.mariadb_with_pymysql(connection.dialect):
                    found = _fast_paths.read_folded_trials(connection, folded, params)
                    if found is not None:
                        return found
                return _read.build_trials(_read.raw_rows(connection.execute(statement, params)))

        study_seen, fetched = self._transactions.run(read, mode="none")
        with self._dicts_lock():
            if not study_seen:
                self.forget(study_id)
                raise KeyError(f"No study with id {study_id!r}.")
            cached.merge(fetched)
            self._views[study_id] = cached
            self._synced_as_of[study_id] = began
            for trial in fetched:
                self.trial_study[trial._trial_id] = study_id
        return cached

    # -- WAITING probes ---------------------------------------------------------------------

    def may_have_waiting(self, study_id: int) -> bool:
        """Whether the study has WAITING trials, by one light query (ids and states only).

        The study layer asks for WAITING trials before every new trial. A trial never returns
        to WAITING, so this object remembers a floor below which every trial it saw was past
        WAITING, and asks only about trials above it (new ones: trial ids grow in the order
        trials are created, since creators lock the study's row in the database before they
        insert) and those it saw WAITING.

        Raises:
            KeyError: no such study (what was remembered of it is forgotten).
        """
        with self.study_lock(study_id):
            floor, waiting = self.probe(study_id)
            params = {"study_id": study_id, "floor": floor, "ids": waiting}
            rows = self._transactions.run(
                lambda c: c.execute(self._sql.probe_waiting, params).all(), mode="none"
            )
            if not rows:
                self.forget(study_id)
                raise KeyError(f"No study with id {study_id!r}.")
            seen = [(int(r[1]), r[2]) for r in rows if r[1] is not None]
            return self.note_probe(study_id, floor, seen)

    def probe(self, study_id: int) -> tuple[int, list[int]]:
        """Where the study's next probe starts: (floor, ids), for a statement that lists the
        study's trials above ``floor`` or among ``ids`` (every trial that may be WAITING)."""
        with self._dicts_lock():
            floor, waiting = self._waiting_probes.get(study_id, (-1, frozenset()))
        return floor, sorted(waiting)

    def note_probe(self, study_id: int, floor: int, seen: list[tuple[int, str]]) -> bool:
        """Record what a probe from ``floor`` saw (each trial's id and state); return whether
        any of them is WAITING.

        Notes may come in any order from concurrent probes: each leaves a pair that is true
        from then on. A probe from a true pair (every trial up to its floor that is WAITING is
        in its ids) sees every trial above the floor, so the pair it makes is true when it
        reads. It stays true: a trial never returns to WAITING, and a new trial gets a higher
        id than every trial already there (creators lock the study's row first, and get their
        ids after). A note from an older probe only lowers the floor or keeps ids that have
        since left WAITING: the next probe reads a few more trials."""
        now_waiting = frozenset(tid for tid, state in seen if state == "WAITING")
        floor = max((tid for tid, _ in seen), default=floor)
        with self._dicts_lock():
            if len(now_waiting) > MAX_IN_LIST:  # too long a list: ask by range next time
                self._waiting_probes[study_id] = (min(now_waiting) - 1, frozenset())
            else:
                self._waiting_probes[study_id] = (floor, now_waiting)
        return bool(now_waiting)
