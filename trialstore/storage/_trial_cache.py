"""What a storage object remembers of the trials it reads from elsewhere (private).

One cache for the backends whose trials live in another process (RDB: the database; gRPC: the
proxy server). Finished trials never change, so once read they are kept until they are
deleted; a sync of a study asks the source only for the trials it may not know yet: those
with an id above the study's cursor (new ones) and those it holds unfinished, and learns in
the same reply which trials were deleted (see :class:`Fetched`). How to ask is the backend's:
it hands the cache a ``fetch`` function, and keeps its own query logic in its package.

This relies on one fact every trialstore backend and Optuna keep: within one study, trials
become visible in id order (ids grow with numbers). As a guard, when the numbers held have a
gap (a trial the source has not shown yet, below others it has), the cursor falls back below
the gap, so the late trial is still fetched. The numbers of deleted trials are no gap.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import operator
import os
import threading
import weakref
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any, NamedTuple

from trialstore._core import FrozenTrial, TrialState

__all__ = ["KEPT_NUMBERS", "Fetch", "Fetched", "StudyTrials", "TrialCache"]

#: How many created trials' numbers a cache keeps (see :meth:`TrialCache.note_created`).
KEPT_NUMBERS = 10_000


def _trial_order(trial: FrozenTrial) -> tuple[int, int]:
    return (trial.number, trial._trial_id)


def _number(trial: FrozenTrial) -> int:
    return trial.number


_numbers_of = operator.attrgetter("_number")
_ids_of = operator.attrgetter("_trial_id")


class StudyTrials:
    """This process's view of one study's trials: finished ones are final and kept; the
    others are fetched again on every sync, together with trials above :meth:`cursor`.

    ``ordered`` holds every trial held, by number (then id). ``finished`` holds the finished
    trials of each state by number, kept up to date as trials finish, so that a sampler's
    ``get_all_trials(states=(COMPLETE,))`` copies one list instead of testing the state of
    every trial of the study. ``unfinished`` holds the ids of the trials held unfinished.
    ``deletions_seen`` is the source's mark of the deletions this view has learned of (its
    meaning is the source's; -1: none). Not thread-safe: its owner holds the study's lock
    (see :meth:`TrialCache.study_lock`).
    """

    __slots__ = (
        "_duplicates",
        "_gone_numbers",
        "_gone_top",
        "by_id",
        "deletions_seen",
        "finished",
        "max_id",
        "ordered",
        "unfinished",
    )

    def __init__(self) -> None:
        self.by_id: dict[int, FrozenTrial] = {}
        self.ordered: list[FrozenTrial] = []  # sorted by (number, id)
        self.finished: dict[TrialState, list[FrozenTrial]] = {}
        self.unfinished: set[int] = set()
        #: The highest trial id ever held (ids are never reused, so it outlives a discard).
        self.max_id = -1
        self.deletions_seen = -1
        #: Numbers of trials deleted at the source: no gap for the cursor's guard.
        self._gone_numbers: set[int] = set()
        self._gone_top = -1
        #: Whether two trials held (or one held and one deleted) ever shared a number.
        self._duplicates = False

    def merge(self, fetched: Iterable[FrozenTrial]) -> None:
        """Take in fresh snapshots (a finished trial already held is kept: it is final)."""
        fetched = list(fetched)
        if not self.by_id and not self._gone_numbers and self._load(fetched):
            return
        for trial in sorted(fetched, key=_trial_order):
            known = self.by_id.get(trial._trial_id)
            if known is not None and known.state.is_finished():
                continue
            self._hold(trial)
            self._place(trial, replaces=known is not None)

    def _load(self, fetched: list[FrozenTrial]) -> bool:
        """Hold ``fetched`` in an empty view at once (a study's first read, maybe a million
        trials), as :meth:`merge` would one by one; False, changing nothing, when two of them
        share an id (then :meth:`merge` goes one by one)."""
        by_id = dict(zip(map(_ids_of, fetched), fetched, strict=True))
        if len(by_id) != len(fetched):
            return False
        numbers = list(map(_numbers_of, fetched))
        if all(map(operator.lt, numbers, itertools.islice(numbers, 1, None))):
            ordered = fetched  # by number already, no number twice
        else:
            ordered = sorted(fetched, key=_trial_order)
            numbers = list(map(_numbers_of, ordered))
            self._duplicates = any(map(operator.eq, numbers, itertools.islice(numbers, 1, None)))
        complete: list[FrozenTrial] = []
        others: list[FrozenTrial] = []
        done, add_complete, add_other = TrialState.COMPLETE, complete.append, others.append
        for trial in ordered:
            if trial.state is done:
                add_complete(trial)
            else:
                add_other(trial)
        if complete:
            self.finished[TrialState.COMPLETE] = complete
        for trial in others:
            if trial.state.is_finished():
                self.finished.setdefault(trial.state, []).append(trial)
            else:
                self.unfinished.add(trial._trial_id)
        self.by_id = by_id
        self.ordered = ordered
        self.max_id = max(by_id, default=-1)
        return True

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

    def _place(self, trial: FrozenTrial, *, replaces: bool) -> None:
        """Put ``trial`` at its place in ``ordered`` (``replaces``: instead of the snapshot
        of it held there). New trials usually come last: then it costs an append."""
        ordered, order = self.ordered, _trial_order(trial)
        if not replaces and (not ordered or _trial_order(ordered[-1]) < order):
            if ordered and ordered[-1].number == trial.number:
                self._duplicates = True
            ordered.append(trial)
        else:
            index = bisect.bisect_left(ordered, order, key=_trial_order)
            if replaces and index < len(ordered) and ordered[index]._trial_id == trial._trial_id:
                ordered[index] = trial
                return
            neighbours = ordered[max(index - 1, 0) : index + 1]
            self._duplicates = self._duplicates or any(
                t.number == trial.number for t in neighbours
            )
            ordered.insert(index, trial)
        if trial.number in self._gone_numbers:
            self._duplicates = True

    def discard(self, trial_ids: Iterable[int]) -> list[FrozenTrial]:
        """Drop the trials (deleted at the source): no sync fetches them again, and their
        numbers do not count as a gap. Ids not held are ignored. Returns the trials
        dropped."""
        gone = [self.by_id[t] for t in set(trial_ids) if t in self.by_id]
        self._drop(gone, {t.number for t in gone})
        return gone

    def discard_numbers(self, numbers: Iterable[int], *, every: bool = False) -> list[FrozenTrial]:
        """Note the numbers of trials deleted at the source (held or not): the trials held
        with them are dropped, and the numbers do not count as a gap. With ``every``, the
        numbers are all the study's deleted ones, replacing those noted before. Returns the
        trials dropped."""
        numbers = set(numbers)
        if every:
            self._gone_numbers = set()
            self._gone_top = -1
        gone = [t for t in self.ordered if t.number in numbers]
        self._drop(gone, numbers)
        return gone

    def _drop(self, gone: list[FrozenTrial], numbers: set[int]) -> None:
        self._gone_numbers |= numbers
        self._gone_top = max(self._gone_top, max(numbers, default=-1))
        if not gone:
            return
        gone_ids = {t._trial_id for t in gone}
        for trial_id in gone_ids:
            del self.by_id[trial_id]
            self.unfinished.discard(trial_id)
        for state, same_state in list(self.finished.items()):
            self.finished[state] = [t for t in same_state if t._trial_id not in gone_ids]
        self.ordered = [t for t in self.ordered if t._trial_id not in gone_ids]

    def select(self, states: Container[TrialState] | None) -> list[FrozenTrial]:
        """A new list of the trials in ``states`` (None: all), by number."""
        if states is None:
            return list(self.ordered)
        wanted = [state for state in TrialState if state in states]
        if len(wanted) == 1 and wanted[0].is_finished():
            return list(self.finished.get(wanted[0], ()))
        return [t for t in self.ordered if t.state in states]

    def trial_id_of(self, number: int) -> int | None:
        """The id of the trial numbered ``number`` if held, else None."""
        ordered = self.ordered
        index = bisect.bisect_left(ordered, number, key=_number)
        if index < len(ordered) and ordered[index].number == number:
            return ordered[index]._trial_id
        return None

    def known_numbers(self) -> tuple[int, int]:
        """(the highest trial number held or deleted, -1 for none; how many deleted numbers
        the view knows)."""
        top = self.ordered[-1].number if self.ordered else -1
        return max(top, self._gone_top), len(self._gone_numbers)

    def cursor(self) -> int:
        """The id above which every trial may be new to this view: the highest id held, or,
        below a gap in the numbers (a number neither held nor deleted), the highest id of the
        trials numbered below the gap (-1 when none is). A sync fetches the trials above it
        and those in ``unfinished``."""
        ordered, gone = self.ordered, self._gone_numbers
        top = max(ordered[-1].number if ordered else -1, self._gone_top)
        if not self._duplicates and len(ordered) + len(gone) == top + 1:
            return self.max_id  # every number up to the top held or deleted: no gap
        present = {t.number for t in ordered} | gone
        gap = next(n for n in itertools.count() if n not in present)
        if gap > max(present):  # duplicates, no gap
            return self.max_id
        return max((t._trial_id for t in ordered if t.number < gap), default=-1)


class Fetched(NamedTuple):
    """What a fetch returns from a source that tells of deleted trials: the fresh snapshots,
    and the numbers of the study's trials deleted at the source. Those are the deletions
    after the view's ``deletions_seen`` mark (``every`` False; ``deletions_seen`` then the new
    mark), or every deleted number up to the highest number the source knows (``every``
    True), which replace the ones the view noted."""

    trials: list[FrozenTrial]
    deleted_numbers: list[int]
    every: bool = False
    deletions_seen: int | None = None


#: ``fetch(study_id, view)`` returns fresh snapshots of the study's trials above
#: ``view.cursor()`` and of those in ``view.unfinished`` (more is harmless), without deleted
#: trials; a source that tells of deletions returns them in a :class:`Fetched`. It raises
#: KeyError when there is no such study.
Fetch = Callable[[int, StudyTrials], Iterable[FrozenTrial] | Fetched]


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
        self._fetch_trials = fetch
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
            got = self._fetch_trials(study_id, view)
        except KeyError:
            self.forget(study_id)
            raise
        fetched = got.trials if isinstance(got, Fetched) else list(got)
        with self._dicts_lock():
            view.merge(fetched)
            if isinstance(got, Fetched):
                self._note_deleted(study_id, view, got)
            self._views[study_id] = view
            self._synced_as_of[study_id] = began
            ids = view.by_id if len(view.by_id) == len(fetched) else map(_ids_of, fetched)
            self.trial_study.update(dict.fromkeys(ids, study_id))
        return view

    def _note_deleted(self, study_id: int, view: StudyTrials, fetched: Fetched) -> None:
        """Drop what a fetch says was deleted from the view and from the numbers and studies
        remembered. The caller holds the study's lock and the lock of the dicts."""
        if fetched.deletions_seen is not None:
            view.deletions_seen = max(view.deletions_seen, fetched.deletions_seen)
        if not fetched.deleted_numbers and not fetched.every:
            return
        gone = view.discard_numbers(fetched.deleted_numbers, every=fetched.every)
        for trial in gone:
            self.trial_study.pop(trial._trial_id, None)
        numbers = set(fetched.deleted_numbers)
        self._created_numbers = {
            t: known
            for t, known in self._created_numbers.items()
            if known[0] != study_id or known[1] not in numbers
        }
