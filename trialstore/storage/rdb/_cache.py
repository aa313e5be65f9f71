"""What one RDB storage object remembers of the database (private).

Finished trials never change, nor does a study's directions, a trial's study or number, or the
distribution a study first stored for a parameter name: :class:`StudyCache` keeps them, so
that a read of a study costs one query for the trials that are new or unfinished and the
trials deleted since the previous read (:meth:`StudyCache.fresh_view`, with the storage
layer's :class:`TrialCache`), the study layer's questions "is any trial WAITING?" and
"which trials are stale?" one light query each (:meth:`StudyCache.may_have_waiting`,
:meth:`StudyCache.stale_check`), and the first-stored distribution of a parameter name one
light query (:meth:`StudyCache.name_scope`).
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

import sqlalchemy as sa

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.storage import validation as check
from trialstore.storage._gc import gc_paused
from trialstore.storage._trial_cache import Fetched, StudyTrials, TrialCache
from trialstore.storage.rdb import _fast_paths, _read
from trialstore.storage.rdb import _studies as studies
from trialstore.storage.rdb._dml import Statements
from trialstore.storage.rdb._names import NameScope, first_distributions, scope_after_read
from trialstore.storage.rdb._segments import DEFAULT_THRESHOLD, Segments
from trialstore.storage.rdb._transactions import Transactions

__all__ = ["MAX_IN_LIST", "StudyCache", "only_waiting"]

#: Longest IN-list of unfinished trial ids in an incremental read; beyond it, the read
#: fetches every trial from the oldest unfinished one on.
MAX_IN_LIST = 500


def only_waiting(states: Container[TrialState] | None) -> bool:
    """Whether a ``states`` filter asks for WAITING trials only (a collection we can see
    through; any other container is treated as asking for more)."""
    return (
        isinstance(states, (tuple, list, set, frozenset))
        and len(states) > 0
        and all(state == TrialState.WAITING for state in states)
    )


class StudyCache(TrialCache):
    """What one storage object remembers of the database, read through ``transactions``
    with the statements ``sql``: the trial views of :class:`TrialCache` (synced by one query
    for the trials that are new or unfinished, see :meth:`_fetch`), and more.

    Plain dicts, read and written by the storage without a lock (each entry, once set, holds
    until :meth:`forget`): ``directions`` (study id -> its directions), ``distributions``
    (study id -> parameter name -> the distribution the study stored first; write through
    :meth:`remember_distribution`; a fresh first read of the study fills it, see
    :func:`_names.first_distributions`), ``trial_study`` (trial id -> its study id).

    A study's first read goes through its snapshot segments, written by ``segments`` (see
    :mod:`_segments`; in the background once ``snapshot_threshold`` finished trials of a
    study were read as rows).

    Thread-safe and fork-safe as :class:`TrialCache` is.
    """

    def __init__(
        self,
        transactions: Transactions,
        sql: Statements,
        snapshot_threshold: int = DEFAULT_THRESHOLD,
    ) -> None:
        super().__init__(self._fetch_and_learn)
        self._transactions = transactions
        self._sql = sql
        self.segments = Segments(transactions, self, snapshot_threshold)
        #: study id -> (floor, ids): of the trials up to ``floor``, only ``ids`` were WAITING
        #: when last seen (see :meth:`may_have_waiting`).
        self._waiting_probes: dict[int, tuple[int, frozenset[int]]] = {}
        #: study id -> (floor, ids): of the trials up to ``floor``, only ``ids`` were RUNNING
        #: or WAITING when last seen (see :meth:`stale_check`).
        self._stale_checks: dict[int, tuple[int, frozenset[int]]] = {}
        #: study id -> what its reads told of its parameter names (see :meth:`name_scope`).
        self._name_scopes: dict[int, NameScope] = {}
        self.directions: dict[int, list[StudyDirection]] = {}
        self.distributions: dict[int, dict[str, BaseDistribution]] = {}

    def forget(self, study_id: int) -> None:
        """Drop what is remembered of the study (see :meth:`TrialCache.forget`)."""
        with self._dicts_lock():
            super().forget(study_id)
            self._waiting_probes.pop(study_id, None)
            self._stale_checks.pop(study_id, None)
            self._name_scopes.pop(study_id, None)
            self.directions.pop(study_id, None)
            self.distributions.pop(study_id, None)

    def remember_distribution(
        self, study_id: int, name: str, distribution: BaseDistribution
    ) -> None:
        """Note the study's distribution of ``name`` (kept if one is known already)."""
        with self._dicts_lock():
            self.distributions.setdefault(study_id, {}).setdefault(name, distribution)

    def directions_of(self, study_id: int) -> list[StudyDirection]:
        """The study's directions (read once, then remembered); KeyError: no such study."""
        directions = self.directions.get(study_id)
        if directions is None:
            directions = self._transactions.run(
                lambda c: studies.read_directions(c, study_id), mode="none"
            )
            self.directions[study_id] = directions
        return directions

    def study_of_trial(self, trial_id: int) -> int:
        """The id of the trial's study (read once, then remembered); KeyError: no such trial."""
        study_id = self.trial_study.get(trial_id)
        if study_id is not None:
            return study_id
        found = self._transactions.run(
            lambda c: c.execute(self._sql.study_of_trial, {"tid": trial_id}).scalar(),
            mode="none",
        )
        if found is None:
            raise KeyError(f"No trial with id {trial_id!r}.")
        self.trial_study[trial_id] = study_id = int(found)
        return study_id

    def check_template(self, study_id: int, template: FrozenTrial, n_objectives: int) -> None:
        """Check a template against what this object knows of the study (its directions, the
        distributions it has seen); the creating transaction checks the others.

        Raises:
            KeyError: no such study (deleted since its directions were read).
            ValueError: the template does not fit the study.
        """
        try:
            check.check_values_count(template.values, n_objectives)
            known = self.distributions.get(study_id, {})
            for name, dist in template.distributions.items():
                check.check_distribution_against(name, known.get(name), dist)
        except ValueError:
            self.directions.pop(study_id, None)
            self.directions_of(study_id)  # KeyError if deleted meanwhile
            raise

    def _fetch_and_learn(self, study_id: int, view: StudyTrials) -> Fetched:
        """:meth:`_fetch`, then what the read tells beyond the trials: of the study's
        parameter names (see :meth:`name_scope`), where the stale checks start if none was
        noted yet (of the trials up to the scope's floor, only its unfinished ones may be
        RUNNING: a deleted trial never is, deleting fails it), and, from a first read of
        every live trial and deletion, the distributions the study stored first. The caller
        holds the study's lock: reads of a study are noted one at a time, in order."""
        cursor, listed = view.cursor(), frozenset(view.unfinished)
        fresh = cursor < 0 and view.deletions_seen < 0
        fetched = self._fetch(study_id, view)
        trials = fetched.trials
        with self._dicts_lock():
            scope = self._name_scopes.get(study_id)
            scope = scope_after_read(scope, cursor, listed, trials)
            if scope is not None:
                self._name_scopes[study_id] = scope
                if study_id not in self._stale_checks:
                    self._stale_checks[study_id] = _probe_pair(scope.floor, scope.unfinished)
        if fresh:
            for name, dist in first_distributions(trials, fetched.deleted_numbers).items():
                self.remember_distribution(study_id, name, dist)
        return fetched

    def name_scope(
        self, study_id: int, name: str
    ) -> tuple[int, list[int], tuple[int, BaseDistribution] | None]:
        """Where the study's first trial carrying ``name`` may be, as (floor, ids, known):
        among the trials above ``floor``, the trials ``ids`` and the deleted trials, or
        ``known`` (the lowest of the other trials that carries it, as (trial id,
        distribution); None: none does). The first is the lower of ``known`` and the lowest
        of the trials asked about that carries it. With more than :data:`MAX_IN_LIST` ids,
        the floor is below them instead (none listed)."""
        with self._dicts_lock():
            scope = self._name_scopes.get(study_id)
        if scope is None:
            return -1, [], None
        known = scope.first.get(name)
        if len(scope.unfinished) > MAX_IN_LIST:
            return min(scope.unfinished) - 1, [], known
        return scope.floor, sorted(scope.unfinished), known

    def _fetch(self, study_id: int, view: StudyTrials) -> Fetched:
        """The study's live trials above the view's cursor or unfinished in it, and its
        deletions after the view's ``deletions_seen`` (a deletion id), by one query (a range,
        with an IN-list of at most :data:`MAX_IN_LIST` unfinished ids). A new view's first
        read takes what the study's segments hold, and reads rows above them and for the
        trials they do not hold (their open holes, in place of unfinished ids).

        Raises:
            KeyError: no such study.
        """
        cursor, unfinished = view.cursor(), view.unfinished
        first = view.max_id < 0 and view.deletions_seen < 0
        base = self.segments.first_read(study_id) if first else None
        if base is not None:
            cursor, unfinished = base.top, set(base.holes)
        params: dict[str, Any] = {
            "study_id": study_id,
            "max_id": cursor,
            "deleted_after": view.deletions_seen,
        }
        if not unfinished:
            statement = self._sql.read_newer
        elif len(unfinished) <= MAX_IN_LIST:
            statement = self._sql.read_newer_or_ids
            params["ids"] = sorted(unfinished)
        else:
            statement = self._sql.read_from
            params["min_id"] = min(min(unfinished), cursor + 1)
        folded = self._sql.read_newer_folded if not view.by_id and not unfinished else None

        def read(connection: sa.Connection) -> _read.Loaded:
            # A first read may build thousands of trials; the collector is paused for one
            # attempt's fetch and build, never across the retries' backoff.
            with gc_paused():
                if folded is not None and _fast_paths.mariadb_with_pymysql(connection.dialect):
                    found = _fast_paths.read_folded_trials(connection, folded, params)
                    if found is not None:
                        return found
                return _read.build_trials(_read.raw_rows(connection.execute(statement, params)))

        loaded = self._transactions.run(read, mode="none")
        if not loaded.study_seen:
            raise KeyError(f"No study with id {study_id!r}.")
        if cursor < 0 or base is not None:
            self._seed_probe(study_id, loaded.trials, -1 if base is None else base.top)
        deleted = loaded.deleted
        self.segments.note_read(study_id, loaded.trials)
        return Fetched(
            loaded.trials if base is None else base.trials + loaded.trials,
            [number for _, _, number in deleted],
            deletions_seen=deleted[-1][0] if deleted else None,
        )

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

    def _seed_probe(self, study_id: int, trials: list[FrozenTrial], top: int = -1) -> None:
        """Start the study's probes from a read of all its live trials (``trials``, by id;
        with ``top``, those its snapshot segments do not hold, which hold every other trial up
        to ``top``, all finished), unless a probe was noted already: that read saw, in one
        snapshot, every trial a probe from floor -1 would (a deleted trial is never WAITING:
        deleting fails it; a finished one never is again), so it leaves a pair as true as that
        probe's (see :meth:`note_probe`), and the first probe lists only the trials created
        since instead of the whole study."""
        floor = max(top, trials[-1]._trial_id if trials else -1)
        if floor < 0:
            return
        waiting = frozenset(t._trial_id for t in trials if t.state is TrialState.WAITING)
        with self._dicts_lock():
            if study_id not in self._waiting_probes:
                self._waiting_probes[study_id] = _probe_pair(floor, waiting)

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
        floor = max([floor, *(tid for tid, _ in seen)])  # listed ids may all be below
        with self._dicts_lock():
            self._waiting_probes[study_id] = _probe_pair(floor, now_waiting)
        return bool(now_waiting)

    # -- stale checks -----------------------------------------------------------------------

    def stale_check(self, study_id: int) -> tuple[int, list[int]]:
        """Where the study's next stale check starts: (floor, ids), for a statement that
        lists the study's trials above ``floor`` or among ``ids`` (every trial that may be
        RUNNING, so stale: a finished trial never runs again)."""
        with self._dicts_lock():
            floor, unfinished = self._stale_checks.get(study_id, (-1, frozenset()))
        return floor, sorted(unfinished)

    def note_stale_check(self, study_id: int, floor: int, seen: list[tuple[int, str]]) -> None:
        """Record what a stale check from ``floor`` saw (each trial's id and state): the
        RUNNING and WAITING trials (a WAITING one may run later) are asked about again, and
        the next check starts above the highest trial seen (or ``floor``, if higher).

        Notes may come in any order from concurrent checks, and each leaves a true pair, as
        with :meth:`note_probe`: a trial never returns from a finished state, and a new trial
        gets a higher id than every trial already there."""
        unfinished = frozenset(tid for tid, state in seen if state in ("RUNNING", "WAITING"))
        floor = max([floor, *(tid for tid, _ in seen)])  # listed ids may all be below
        with self._dicts_lock():
            self._stale_checks[study_id] = _probe_pair(floor, unfinished)


def _probe_pair(floor: int, waiting: frozenset[int]) -> tuple[int, frozenset[int]]:
    """The (floor, ids) to note after seeing every trial up to ``floor``, of which
    ``waiting`` were WAITING (or, for a stale check, unfinished): with too long a list of
    ids, a floor below them instead (the next probe asks by range)."""
    if len(waiting) > MAX_IN_LIST:
        return min(waiting) - 1, frozenset()
    return floor, waiting
