"""The trial cache the RDB and gRPC backends share (trialstore/storage/_trial_cache.py)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable

import pytest

from trialstore._core import FrozenTrial, TrialState
from trialstore.storage._trial_cache import Fetched, StudyTrials, TrialCache

_STUDY = 7


def _trial(trial_id: int, number: int, state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
    finished = state.is_finished()
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=[float(number)] if state == TrialState.COMPLETE else None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={"finished": finished},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


class _Source:
    """A study's trials as a backend would serve them, recording what each fetch asked."""

    def __init__(self, trials: Iterable[FrozenTrial] = ()) -> None:
        self.trials = {t._trial_id: t for t in trials}
        self.asked: list[tuple[int, list[int]]] = []

    def fetch(self, study_id: int, view: StudyTrials) -> list[FrozenTrial]:
        if study_id != _STUDY:
            raise KeyError(f"No study with id {study_id!r}.")
        cursor, unfinished = view.cursor(), sorted(view.unfinished)
        self.asked.append((cursor, unfinished))
        return [t for i, t in self.trials.items() if i > cursor or i in unfinished]

    def put(self, trial: FrozenTrial) -> None:
        self.trials[trial._trial_id] = trial


def _read(cache: TrialCache, states: tuple[TrialState, ...] | None = None) -> list[int]:
    with cache.fresh_view(_STUDY) as view:
        return [t._trial_id for t in view.select(states)]


def test_a_sync_asks_only_for_new_and_unfinished_trials() -> None:
    source = _Source([_trial(10, 0), _trial(11, 1, TrialState.RUNNING), _trial(12, 2)])
    cache = TrialCache(source.fetch)
    assert _read(cache) == [10, 11, 12]
    assert source.asked == [(-1, [])]
    source.put(_trial(11, 1, TrialState.PRUNED))
    source.put(_trial(13, 3, TrialState.RUNNING))
    assert _read(cache) == [10, 11, 12, 13]
    assert source.asked[-1] == (12, [11])
    assert _read(cache, (TrialState.COMPLETE,)) == [10, 12]
    assert _read(cache, (TrialState.PRUNED,)) == [11]
    assert _read(cache, (TrialState.RUNNING, TrialState.PRUNED)) == [11, 13]
    assert source.asked[-1] == (13, [13])
    assert cache.finished_trial(11) is not None and cache.finished_trial(13) is None
    assert cache.trial_id_of(_STUDY, 3) == 13


def test_a_finished_trial_held_is_kept_when_fetched_again() -> None:
    view = StudyTrials()
    first = _trial(1, 0)
    view.merge([first])
    view.merge([_trial(1, 0)])
    assert view.ordered[0] is first and view.finished[TrialState.COMPLETE] == [first]


def test_trials_finishing_out_of_number_order_stay_ordered_by_number() -> None:
    view = StudyTrials()
    view.merge([_trial(1, 0, TrialState.RUNNING), _trial(2, 1)])
    view.merge([_trial(1, 0)])
    assert [t.number for t in view.finished[TrialState.COMPLETE]] == [0, 1]
    assert [t.number for t in view.select((TrialState.COMPLETE,))] == [0, 1]


def test_the_cursor_falls_back_below_a_gap_in_the_numbers() -> None:
    view = StudyTrials()
    view.merge([_trial(10, 0), _trial(11, 1), _trial(13, 3)])  # 12 is not visible yet
    assert view.cursor() == 11
    assert view.trial_id_of(3) == 13 and view.trial_id_of(2) is None
    view.merge([_trial(12, 2)])
    assert view.cursor() == 13
    assert view.trial_id_of(3) == 13
    assert [t.number for t in view.ordered] == [0, 1, 2, 3]


def test_duplicate_numbers_are_kept_and_leave_the_cursor_at_the_top() -> None:
    view = StudyTrials()
    view.merge([_trial(10, 0), _trial(11, 1), _trial(12, 1)])
    assert [t._trial_id for t in view.ordered] == [10, 11, 12]
    assert view.cursor() == 12


def test_discarded_trials_are_gone_and_not_asked_for_again() -> None:
    source = _Source(
        [_trial(10, 0), _trial(11, 1), _trial(12, 2, TrialState.RUNNING), _trial(13, 3)]
    )
    cache = TrialCache(source.fetch)
    cache.note_created(_STUDY, 12, 2)
    assert _read(cache) == [10, 11, 12, 13]
    del source.trials[11], source.trials[12]  # deleted at the source
    cache.discard([11, 12, 999])
    assert cache.finished_trial(11) is None
    assert cache.number_of(12) is None
    assert cache.trial_id_of(_STUDY, 1) is None
    assert cache.trial_id_of(_STUDY, 3) == 13
    assert _read(cache) == [10, 13]
    assert source.asked[-1] == (13, [])  # no refetch from "the gap" the discards left
    assert _read(cache, (TrialState.COMPLETE,)) == [10, 13]
    source.put(_trial(14, 4))
    assert _read(cache) == [10, 13, 14]
    assert source.asked[-1] == (13, [])


def test_trial_numbers_that_are_not_ints_name_no_trial() -> None:
    cache = TrialCache(_Source([_trial(10, 0), _trial(11, 1)]).fetch)
    _read(cache)
    assert cache.trial_id_of(_STUDY, 1) == 11
    for wrong in (True, 1.0, "1", None):
        assert cache.trial_id_of(_STUDY, wrong) is None


def test_a_missing_study_is_forgotten() -> None:
    source = _Source([_trial(10, 0)])
    cache = TrialCache(source.fetch)
    cache.note_created(_STUDY, 10, 0)
    _read(cache)
    cache.forget(_STUDY)
    assert cache.number_of(10) is None and cache.finished_trial(10) is None
    with pytest.raises(KeyError), cache.fresh_view(_STUDY + 1):
        pass


def test_created_numbers_are_kept_for_the_latest_trials_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trialstore.storage import _trial_cache

    monkeypatch.setattr(_trial_cache, "KEPT_NUMBERS", 3)
    cache = TrialCache(_Source().fetch)
    for trial_id in range(5):
        cache.note_created(_STUDY, trial_id, trial_id)
    assert [cache.number_of(t) for t in range(5)] == [None, None, 2, 3, 4]


def _use_in_child(cache: TrialCache) -> int:
    """What the child of the fork test does; its exit status (0: all as expected)."""
    signal.alarm(60)  # a deadlocked child dies instead of hanging the test run
    assert _read(cache) == [10, 11]
    cache.note_created(_STUDY, 12, 2)
    assert cache.number_of(12) == 2
    cache.discard([12])
    with cache.study_lock(_STUDY):
        assert cache.finished_trial(10) is not None
    return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_a_thread_holds_the_locks_uses_the_cache() -> None:
    """A thread of the parent holds the study's lock and the lock of the dicts when the
    process forks: the child, which does not have that thread, must not wait for it."""
    cache = TrialCache(_Source([_trial(10, 0), _trial(11, 1)]).fetch)
    _read(cache)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache.study_lock(_STUDY), cache._dicts_lock():
            held.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=60)
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            status = 1
            try:
                status = _use_in_child(cache)
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        holder.join()
    assert os.WIFEXITED(status), "the child was killed: it waited for a lock its parent held"
    assert os.WEXITSTATUS(status) == 0


class _DeletingSource(_Source):
    """A source that tells of deletions, as the RDB does: the numbers deleted since the
    view's mark (a count of deletions here)."""

    def __init__(self, trials: Iterable[FrozenTrial] = ()) -> None:
        super().__init__(trials)
        self.deleted: list[tuple[int, int]] = []  # (trial id, number), in deletion order

    def delete(self, *trial_ids: int) -> None:
        for trial_id in trial_ids:
            self.deleted.append((trial_id, self.trials.pop(trial_id).number))

    def fetch(self, study_id: int, view: StudyTrials) -> Fetched:  # type: ignore[override]
        trials = super().fetch(study_id, view)
        new = self.deleted[view.deletions_seen + 1 :]
        return Fetched(trials, [n for _, n in new], deletions_seen=len(self.deleted) - 1)


def test_a_sync_learns_of_deletions_since_its_mark() -> None:
    source = _DeletingSource([_trial(10 + n, n) for n in range(6)])
    cache = TrialCache(source.fetch)
    cache.note_created(_STUDY, 15, 5)
    assert _read(cache) == [10, 11, 12, 13, 14, 15]
    source.delete(12, 15)  # a number in the middle, and the highest
    assert _read(cache) == [10, 11, 13, 14]
    assert cache.finished_trial(12) is None and cache.number_of(15) is None
    assert _read(cache, (TrialState.COMPLETE,)) == [10, 11, 13, 14]
    assert source.asked[-1] == (15, [])  # neither gap makes it read again from below
    source.put(_trial(16, 6))
    assert _read(cache) == [10, 11, 13, 14, 16]
    assert source.asked[-1] == (15, [])


def test_a_first_read_after_deletions_has_no_gap() -> None:
    """A view that never held the deleted trials learns their numbers: no gap either."""
    source = _DeletingSource([_trial(10 + n, n) for n in range(5)])
    source.delete(11, 12)
    cache = TrialCache(source.fetch)
    assert _read(cache) == [10, 13, 14]
    assert _read(cache) == [10, 13, 14]
    assert source.asked == [(-1, []), (14, [])]


def test_every_deleted_number_replaces_those_known() -> None:
    view = StudyTrials()
    view.merge([_trial(10, 0), _trial(11, 1), _trial(13, 3)])
    assert view.cursor() == 11
    assert [t._trial_id for t in view.discard_numbers([1, 2], every=True)] == [11]
    assert view.cursor() == 13 and view.known_numbers() == (3, 2)
    view.discard_numbers([1], every=True)  # 2 was not deleted after all: a gap again
    assert view.known_numbers() == (3, 1)
    assert view.cursor() == 10


def test_a_trial_merged_at_a_deleted_number_is_a_duplicate() -> None:
    view = StudyTrials()
    view.merge([_trial(10, 0), _trial(12, 2)])
    view.discard_numbers([1])
    assert view.cursor() == 12
    view.merge([_trial(11, 1)])  # a source that reused a deleted number
    assert [t._trial_id for t in view.ordered] == [10, 11, 12]
    assert view.cursor() == 12


def _state_of(view: StudyTrials) -> tuple[object, ...]:
    return (
        {i: t._trial_id for i, t in view.by_id.items()},
        [t._trial_id for t in view.ordered],
        {state: [t._trial_id for t in ts] for state, ts in view.finished.items() if ts},
        sorted(view.unfinished),
        view.max_id,
        view.cursor(),
        view._duplicates,
    )


@pytest.mark.parametrize(
    "spec",
    [
        [(3, 0), (5, 1), (8, 2)],  # in order
        [(8, 2), (3, 0), (5, 1)],  # out of order
        [(3, 0), (5, 2), (8, 1)],  # numbers out of id order
        [(3, 0), (5, 1), (6, 1), (8, 2)],  # a number twice
        [(3, 0), (8, 2)],  # a gap
        [],
    ],
)
def test_a_first_merge_at_once_equals_one_by_one(spec: list[tuple[int, int]]) -> None:
    """An empty view takes a first read's trials at once (a study's first read may be a
    million trials); the view is the one a trial-by-trial merge builds."""
    states = [TrialState.COMPLETE, TrialState.RUNNING, TrialState.PRUNED, TrialState.WAITING]
    trials = [_trial(i, n, states[k % len(states)]) for k, (i, n) in enumerate(spec)]
    at_once = StudyTrials()
    at_once.merge(trials)
    one_by_one = StudyTrials()
    for trial in sorted(trials, key=lambda t: (t.number, t._trial_id)):
        one_by_one.merge([trial])
    assert _state_of(at_once) == _state_of(one_by_one)


def test_a_first_merge_with_an_id_twice_keeps_one() -> None:
    """Two snapshots of one finished trial in a first read (two snapshot segments may both
    hold it) leave one trial held."""
    view = StudyTrials()
    view.merge([_trial(3, 0), _trial(5, 1), _trial(3, 0)])
    assert [t._trial_id for t in view.ordered] == [3, 5]
    assert not view._duplicates
