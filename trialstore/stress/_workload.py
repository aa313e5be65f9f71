"""The operation mix one worker runs against a storage, recording every call in its history.

A worker fills studies ``<run>-s0``, ``<run>-s1``, ... in turn (each up to ``trials_per_study``
trials; whoever gets there first creates the next one, the others find it by name). It keeps at
most ``max_open`` unfinished trials of its own and, at random, creates (with
``create_new_trial`` or ``create_trial_or_list_waiting``) or enqueues trials,
claims enqueued ones, sets parameters, reports intermediate values, sets attributes, beats,
finishes its trials (complete, prune, fail), reads one trial or all trials, fails stale trials
and, rarely, fails a trial of another worker or deletes one or two trials it has seen (in any
state, its own or another worker's; only on storages that implement ``delete_trials``).

Every key a worker writes to a trial is written once (param ``p<k>``, step ``k``, attribute
``a<k>``), so the final contents must hold exactly the acknowledged value of each.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import FloatDistribution
from trialstore.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage
from trialstore.stress._history import FAIL, OK, UNKNOWN, HistoryWriter
from trialstore.stress._snapshot import trial_digest

__all__ = ["DEFAULT_WEIGHTS", "WorkloadConfig", "run_workload"]

#: Relative frequency of each action (when it is possible).
DEFAULT_WEIGHTS: dict[str, float] = {
    "create_trial": 3.0,
    "enqueue": 1.5,
    "claim": 2.0,
    "set_param": 4.0,
    "report": 4.0,
    "set_attr": 2.0,
    "finish": 2.5,
    "get_trial": 1.0,
    "read_all": 1.0,
    "abort_foreign": 0.15,
    "delete": 0.3,
}


class WaitingListed(Exception):
    """``create_trial_or_list_waiting`` listed WAITING trials and created nothing: the
    worker's create is recorded as failed cleanly (no effect)."""


#: Errors after which the protocol promises nothing was written.
_CLEAN_ERRORS = (
    KeyError,
    ValueError,
    UpdateFinishedTrialError,
    DuplicatedStudyError,
    WaitingListed,
)

_DIST = FloatDistribution(0.0, 1.0)


@dataclass
class WorkloadConfig:
    """What one worker does. ``run_id`` prefixes every study name of the run."""

    run_id: str
    trials_per_study: int = 200
    max_open: int = 2
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: Seconds between two ``fail_stale_trials`` calls of one worker (heartbeats on only).
    reap_every: float = 0.5
    #: Seconds to sleep between operations (0: as fast as possible).
    think_time: float = 0.0


class _Failed(Exception):
    """The storage call failed cleanly (nothing written)."""


class _Unknown(Exception):
    """The storage call ended in a way that says nothing about its effect."""


@dataclass
class _OpenTrial:
    trial_id: int
    next_param: int = 0
    next_step: int = 0
    next_attr: int = 0
    last_beat: float = -1e9


class _Worker:
    def __init__(
        self,
        storage: BaseStorage,
        history: HistoryWriter,
        config: WorkloadConfig,
        rng: random.Random,
    ) -> None:
        self.storage = storage
        self.history = history
        self.config = config
        self.rng = rng
        self.name = history.worker
        self.study_index: int | None = None  # None: not located yet (see _latest_study)
        self.study_id: int | None = None
        self.previous_study_id: int | None = None
        #: Ids of the run's studies that existed when this worker started (see _latest_study).
        self.earlier_study_ids: list[int] = []
        self.study_full = False
        self.open: dict[int, _OpenTrial] = {}
        self.waiting: list[int] = []
        self.foreign_running: list[int] = []
        self.known: list[int] = []
        self.seen_finished: dict[int, tuple[int, str]] = {}
        self.interval = storage.get_heartbeat_interval()
        self.deletes = type(storage).delete_trials is not BaseStorage.delete_trials
        self.last_reap = time.monotonic()
        self.counter = 0

    # -- recording --------------------------------------------------------------------------

    def call(
        self,
        op: str,
        args: dict[str, Any],
        fn: Callable[[], Any],
        encode: Callable[[Any], Any] = lambda r: r,
    ) -> Any:
        seq = self.history.invoke(op, args)
        try:
            result = fn()
        except _CLEAN_ERRORS as e:
            self.history.complete(seq, FAIL, error=f"{type(e).__name__}: {e}"[:300])
            raise _Failed(type(e).__name__) from e
        except Exception as e:
            self.history.complete(seq, UNKNOWN, error=f"{type(e).__name__}: {e}"[:300])
            raise _Unknown(type(e).__name__) from e
        self.history.complete(seq, OK, result=encode(result))
        return result

    # -- the loop ---------------------------------------------------------------------------

    def step(self) -> None:
        try:
            self._step()
        except _Failed:
            pass
        except _Unknown:
            time.sleep(0.05)  # the storage is unwell: do not spin
        if self.config.think_time:
            time.sleep(self.config.think_time)

    def _step(self) -> None:
        if self.study_id is None:
            self._ensure_study()
            return
        if self.interval is not None:
            now = time.monotonic()
            for trial in list(self.open.values()):
                if now - trial.last_beat > self.interval / 2:
                    self._heartbeat(trial)
                    return
            if now - self.last_reap > self.config.reap_every:
                self.last_reap = now
                self._fail_stale(self._reap_target())
                return
        if self.study_full and not self.open:
            self.previous_study_id = self.study_id
            assert self.study_index is not None
            self.study_index += 1
            self.study_id = None
            self.study_full = False
            self.waiting, self.foreign_running, self.known = [], [], []
            return
        action = self._choose()
        getattr(self, "_" + action)()

    def _choose(self) -> str:
        w = self.config.weights
        options: list[tuple[str, float]] = []
        can_open = len(self.open) < self.config.max_open and not self.study_full
        if can_open:
            options += [
                ("create_trial", w.get("create_trial", 0)),
                ("enqueue", w.get("enqueue", 0)),
            ]
            if self.waiting:
                options.append(("claim", w.get("claim", 0)))
        if self.open:
            for name in ("set_param", "report", "set_attr", "finish"):
                options.append((name, w.get(name, 0)))
        if self.known:
            options.append(("get_trial", w.get("get_trial", 0)))
        if self.foreign_running:
            options.append(("abort_foreign", w.get("abort_foreign", 0)))
        if self.known and self.deletes:
            options.append(("delete", w.get("delete", 0)))
        options.append(("read_all", w.get("read_all", 0) if not self.study_full else 0.5))
        total = sum(weight for _, weight in options)
        x = self.rng.random() * total
        for name, weight in options:
            x -= weight
            if x <= 0:
                return name
        return options[-1][0]

    # -- actions ----------------------------------------------------------------------------

    def _latest_study(self) -> int:
        """The index of the run's newest study, where a worker that starts late (a
        replacement) joins; 0 when there is none or the study list cannot be read. One read
        of the study list, not recorded (it bears on no invariant). Without it each
        replacement would walk every earlier study, adding trials to each and reading it
        whole, until it found one not yet full: the studies would grow without bound and the
        run slow down as it goes."""
        prefix = f"{self.config.run_id}-s"
        try:
            studies = self.storage.get_all_studies()
        except Exception:
            return 0
        found = {
            int(s.study_name[len(prefix) :]): s._study_id
            for s in studies
            if s.study_name.startswith(prefix) and s.study_name[len(prefix) :].isdigit()
        }
        if not found:
            return 0
        latest = max(found)
        self.earlier_study_ids = [sid for index, sid in found.items() if index < latest]
        return latest

    def _ensure_study(self) -> None:
        if self.study_index is None:
            self.study_index = self._latest_study()
        name = f"{self.config.run_id}-s{self.study_index}"
        try:
            self.study_id = self.call(
                "create_study",
                {"name": name},
                lambda: self.storage.create_new_study([StudyDirection.MINIMIZE], name),
            )
        except _Failed as e:
            if str(e) != "DuplicatedStudyError":
                raise
            self.study_id = self.call(
                "get_study_id", {"name": name}, lambda: self.storage.get_study_id_from_name(name)
            )

    def _create_trial(self) -> None:
        """Create a RUNNING trial, half of the time as the study layer does, through
        ``create_trial_or_list_waiting``, which creates nothing while a trial is WAITING; the
        trials it lists join those this worker may claim, as the study layer claims them."""
        sid = self.study_id
        assert sid is not None
        or_list = self.rng.random() < 0.5
        listed: list[int] = []

        def create() -> int:
            if not or_list:
                return self.storage.create_new_trial(sid)
            created = self.storage.create_trial_or_list_waiting(sid)
            if isinstance(created, list):
                listed.extend(created)
                raise WaitingListed(f"{len(created)} trials WAITING")
            return created

        try:
            trial_id = self.call("create_trial", {"s": sid, "or_list": or_list}, create)
        except _Failed:
            self.waiting.extend(tid for tid in listed if tid not in self.waiting)
            raise
        self.open[trial_id] = _OpenTrial(trial_id)
        self.known.append(trial_id)

    def _enqueue(self) -> None:
        sid = self.study_id
        assert sid is not None
        value = round(self.rng.random(), 6)
        template = FrozenTrial(
            number=-1,
            state=TrialState.WAITING,
            value=None,
            datetime_start=None,
            datetime_complete=None,
            params={"q": value},
            distributions={"q": _DIST},
            user_attrs={"enqueued_by": self.name},
            system_attrs={},
            intermediate_values={},
            trial_id=-1,
        )
        trial_id = self.call(
            "enqueue",
            {"s": sid, "q": value, "by": self.name},
            lambda: self.storage.create_new_trial(sid, template),
        )
        self.waiting.append(trial_id)
        self.known.append(trial_id)

    def _claim(self) -> None:
        trial_id = self.waiting.pop(self.rng.randrange(len(self.waiting)))
        won = self.call(
            "claim",
            {"t": trial_id},
            lambda: self.storage.set_trial_state_values(trial_id, TrialState.RUNNING),
        )
        if won:
            self.open[trial_id] = _OpenTrial(trial_id)

    def _pick_open(self) -> _OpenTrial:
        return self.open[self.rng.choice(list(self.open))]

    def _own_write(self, trial: _OpenTrial, op: str, args: dict[str, Any], fn: Any) -> None:
        try:
            self.call(op, args, fn)
        except _Failed as e:
            if str(e) in ("UpdateFinishedTrialError", "KeyError", "TrialDeletedError"):
                self.open.pop(trial.trial_id, None)  # reaped, failed or deleted by another
            raise

    def _set_param(self) -> None:
        trial = self._pick_open()
        name = f"p{trial.next_param}"
        trial.next_param += 1
        value = round(self.rng.random(), 6)
        tid = trial.trial_id
        self._own_write(
            trial,
            "set_param",
            {"t": tid, "k": name, "v": value},
            lambda: self.storage.set_trial_param(tid, name, value, _DIST),
        )

    def _report(self) -> None:
        trial = self._pick_open()
        step = trial.next_step
        trial.next_step += 1
        value = round(self.rng.uniform(-10, 10), 6)
        tid = trial.trial_id
        self._own_write(
            trial,
            "report",
            {"t": tid, "k": step, "v": value},
            lambda: self.storage.set_trial_intermediate_value(tid, step, value),
        )

    def _set_attr(self) -> None:
        trial = self._pick_open()
        key = f"a{trial.next_attr}"
        trial.next_attr += 1
        self.counter += 1
        value = f"{self.name}:{self.counter}"
        tid = trial.trial_id
        self._own_write(
            trial,
            "set_attr",
            {"t": tid, "k": key, "v": value},
            lambda: self.storage.set_trial_user_attr(tid, key, value),
        )

    def _heartbeat(self, trial: _OpenTrial) -> None:
        trial.last_beat = time.monotonic()
        tid = trial.trial_id
        self._own_write(trial, "heartbeat", {"t": tid}, lambda: self.storage.record_heartbeat(tid))

    def _finish(self) -> None:
        trial = self._pick_open()
        x = self.rng.random()
        values: list[float] | None
        if x < 0.6:
            state, values = TrialState.COMPLETE, [round(self.rng.random(), 6)]
        elif x < 0.8:
            state, values = TrialState.PRUNED, None
        else:
            state, values = TrialState.FAIL, None
        tid = trial.trial_id
        args: dict[str, Any] = {"t": tid, "state": state.name, "values": values}
        batch: dict[str, tuple[float, FloatDistribution]] = {}
        if self.rng.random() < 0.5:  # with parameters, as a study with at_tell writes them
            args["p"] = {}
            for _ in range(self.rng.randint(1, 2)):
                name, value = f"p{trial.next_param}", round(self.rng.random(), 6)
                trial.next_param += 1
                args["p"][name] = value
                batch[name] = (value, _DIST)

        def finish() -> bool:
            if batch:
                return self.storage.set_trial_params_and_state_values(tid, batch, state, values)
            return self.storage.set_trial_state_values(tid, state, values)

        try:
            self._own_write(trial, "finish", args, finish)
        finally:
            self.open.pop(tid, None)

    def _abort_foreign(self) -> None:
        tid = self.foreign_running.pop(self.rng.randrange(len(self.foreign_running)))
        self.call(
            "finish",
            {"t": tid, "state": "FAIL", "values": None, "foreign": True},
            lambda: self.storage.set_trial_state_values(tid, TrialState.FAIL),
        )

    def _delete(self) -> None:
        """Delete one or two trials this worker has seen, in one batch (the batch fails as a
        whole when one of them was deleted meanwhile)."""
        sid = self.study_id
        assert sid is not None
        candidates = self.known[-50:]
        doomed = self.rng.sample(candidates, min(len(candidates), self.rng.randint(1, 2)))
        try:
            self.call(
                "delete", {"s": sid, "ts": doomed}, lambda: self.storage.delete_trials(sid, doomed)
            )
        except _Unknown:
            self._forget(doomed)  # maybe deleted: leave them alone
            raise
        self._forget(doomed)  # (a clean failure deleted nothing: keep them)

    def _forget(self, trial_ids: list[int]) -> None:
        gone = set(trial_ids)
        self.known = [t for t in self.known if t not in gone]
        self.waiting = [t for t in self.waiting if t not in gone]
        self.foreign_running = [t for t in self.foreign_running if t not in gone]
        for tid in trial_ids:
            self.open.pop(tid, None)

    def _get_trial(self) -> None:
        tid = self.rng.choice(self.known[-50:])
        self.call(
            "get_trial",
            {"t": tid},
            lambda: self.storage.get_trial(tid),
            lambda t: [t._trial_id, t.number, t.state.name, trial_digest(t)],
        )

    def _read_all(self) -> None:
        sid = self.study_id
        assert sid is not None
        trials = self.call(
            "read_all",
            {"s": sid},
            lambda: self.storage.get_all_trials(sid, deepcopy=False),
            self._encode_read,
        )
        self.waiting = [t._trial_id for t in trials if t.state == TrialState.WAITING]
        self.foreign_running = [
            t._trial_id
            for t in trials
            if t.state == TrialState.RUNNING and t._trial_id not in self.open
        ]
        self.known = [t._trial_id for t in trials[-50:]]
        if len(trials) >= self.config.trials_per_study:
            self.study_full = True

    def _encode_read(self, trials: list[FrozenTrial]) -> list[Any]:
        """``[count, rows, repeated]``: a row ``[id, number, state, digest]`` per trial, except
        finished trials this worker already recorded with the same number and digest (a
        finished trial never changes, and repeating it would make histories grow with the
        square of the study size); ``repeated`` lists those left out, as ``[first, last]``
        ranges of ids, so that the read's every id is known (a deleted trial must not come
        back). Unfinished trials get an empty digest."""
        rows: list[list[Any]] = []
        repeated: list[list[int]] = []
        for t in trials:
            if t.state.is_finished():
                seen = (t.number, trial_digest(t))
                if self.seen_finished.get(t._trial_id) == seen:
                    if repeated and repeated[-1][1] == t._trial_id - 1:
                        repeated[-1][1] = t._trial_id
                    else:
                        repeated.append([t._trial_id, t._trial_id])
                    continue
                self.seen_finished[t._trial_id] = seen
                rows.append([t._trial_id, t.number, t.state.name, seen[1]])
            else:
                rows.append([t._trial_id, t.number, t.state.name, ""])
        return [len(trials), rows, repeated]

    def _reap_target(self) -> int:
        """The study to fail stale trials of: the current one half the time, else the one
        before it or, for a worker that joined late, an earlier study of the run (whose
        killed workers' trials no one working there is left to fail)."""
        assert self.study_id is not None
        draw = self.rng.random()
        if draw < 0.5:
            return self.study_id
        if self.previous_study_id is not None and (draw < 0.75 or not self.earlier_study_ids):
            return self.previous_study_id
        if self.earlier_study_ids:
            return self.rng.choice(self.earlier_study_ids)
        return self.study_id

    def _fail_stale(self, study_id: int) -> None:
        self.call("fail_stale", {"s": study_id}, lambda: self.storage.fail_stale_trials(study_id))

    def shutdown(self) -> None:
        """Finish the worker's own trials so that none is left RUNNING by a clean exit."""
        for tid in list(self.open):
            try:
                self.call(
                    "finish",
                    {"t": tid, "state": "FAIL", "values": None},
                    functools.partial(self.storage.set_trial_state_values, tid, TrialState.FAIL),
                )
            except (_Failed, _Unknown):
                pass
        self.open.clear()


def run_workload(
    storage: BaseStorage,
    history: HistoryWriter,
    config: WorkloadConfig,
    seed: int,
    should_stop: Callable[[], bool],
) -> int:
    """Run operations until ``should_stop()`` is true, then finish the worker's open trials.

    Returns the number of steps taken. Exceptions of the storage are recorded, never raised.
    """
    worker = _Worker(storage, history, config, random.Random(seed))
    steps = 0
    while not should_stop():
        worker.step()
        steps += 1
    worker.shutdown()
    return steps
