"""JournalStorage: a storage that is a log of operations, replayed in memory."""

from __future__ import annotations

import copy
import datetime
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, TypeVar

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState, copy_trial
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution, distribution_to_json
from trialstore.exceptions import (
    DuplicatedStudyError,
    StorageInternalError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage import validation as check
from trialstore.storage._gc import gc_paused
from trialstore.storage.base import BaseStorage
from trialstore.storage.journal._base import BaseJournalBackend, JournalReset
from trialstore.storage.journal._keeper import SnapshotKeeper
from trialstore.storage.journal._records import (
    BATCH_KEY,
    DELETED_TRIALS_KEY,
    HEARTBEAT_KEY,
    JournalOp,
    format_datetime,
)
from trialstore.storage.journal._replay import (
    MalformedRecordError,
    ReplayState,
    trial_template_fields,
)
from trialstore.storage.journal._snapshot import BrokenSnapshotError, load_state

__all__ = ["JournalStorage"]

_MISSING = object()

#: Every live JournalStorage of this process, for :func:`_renew_locks_in_child`.
_LIVE: weakref.WeakSet[JournalStorage] = weakref.WeakSet()


def _renew_locks_in_child() -> None:
    """In a forked child, give every storage a new lock: the parent's snapshot thread (or
    any other thread) may have held the old one at the fork, and no thread of the child
    would ever release it."""
    for storage in list(_LIVE):
        storage._renew_lock()


os.register_at_fork(after_in_child=_renew_locks_in_child)
_T = TypeVar("_T")


def _now() -> str:
    return format_datetime(datetime.datetime.now(datetime.timezone.utc))


class JournalStorage(BaseStorage):
    """A storage kept as a journal of operations in a backend (a file or Redis), in the
    record format of Optuna 5.0, so either library can open what the other wrote.

    Every write appends one record, then reads every record appended since this object's last
    read (only those: each object keeps its position in the log) and applies them to an
    in-memory replay state, in log order. The log order decides races: of two processes
    creating a study of one name, or claiming one WAITING trial, the first record wins; a
    record that is invalid when its turn comes stays in the log, changes nothing for any
    reader, and makes only its writer raise. Reads first catch up with the log, so every
    object observes every write that returned before the read began.

    Thread-safe (one lock per object). Pickling gives an object that replays the log afresh.

    Opening reads the backend's snapshot (if one matches the log) and the records after it.
    Every object keeps that snapshot current: once its reading position (after its own
    appends and reads) is ``snapshot_threshold`` records or more past the newest snapshot, a
    background thread writes a new one that adds only what changed (the trials finished
    since, in a new immutable segment, plus a small head; see ``_snapshot``). So after the
    processes using a journal have closed it or exited, a fresh opener replays fewer than
    ``snapshot_threshold`` records (plus those of the last append). ``snapshot_threshold=0``
    writes none. :meth:`close` waits for a snapshot in progress.

    ``delete_trials`` appends one record that Optuna stores as a study system attribute (the
    reserved key ``trialstore:deleted_trials``, which ``set_study_system_attr`` refuses and
    which is never among the study's system attributes): every trialstore reader applies it
    at its place in the log, so every object learns of a deletion as it learns of any write.

    Heartbeats (off unless ``heartbeat_interval`` is given; ``grace_period`` defaults to twice
    the interval) are records of their own, in a form Optuna ignores: a DISCARD_TRIALS record
    of no trial with a ``trialstore_heartbeat`` field. The beat time is the writer's wall
    clock, so the processes sharing a journal need roughly synchronized clocks.

    Raises:
        ValueError: bad heartbeat settings, or a ``snapshot_threshold`` that is not an int
            >= 0.
        StorageInternalError: the journal is not readable or is corrupt (names where).
    """

    cheap_trial_lookup = True

    def __init__(
        self,
        log_storage: BaseJournalBackend,
        *,
        heartbeat_interval: float | None = None,
        grace_period: float | None = None,
        snapshot_threshold: int = 10_000,
    ) -> None:
        self._heartbeat_interval, self._grace_period = check.check_heartbeat_settings(
            heartbeat_interval, grace_period
        )
        if type(snapshot_threshold) is not int or snapshot_threshold < 0:
            raise ValueError(
                f"snapshot_threshold must be an int >= 0 (0: write no snapshots), got "
                f"{snapshot_threshold!r}."
            )
        self._backend = log_storage
        self._snapshot_threshold = snapshot_threshold
        self._lock = threading.RLock()
        self._init_runtime()
        _LIVE.add(self)
        with self._lock:
            self._load()

    def _init_runtime(self) -> None:
        self._pid = os.getpid()
        self._worker_prefix = f"{uuid.uuid4()}-"
        self._pending: str | None = None
        self._outcome: Any = _MISSING
        self._state = ReplayState()
        self._dist_json: dict[BaseDistribution, str] = {}
        self._keeper = SnapshotKeeper(
            self._backend, self._lock, lambda: self._state, self._snapshot_threshold
        )

    def __getstate__(self) -> dict[str, Any]:
        return {
            "backend": self._backend,
            "heartbeat_interval": self._heartbeat_interval,
            "grace_period": self._grace_period,
            "snapshot_threshold": self._snapshot_threshold,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._backend = state["backend"]
        self._heartbeat_interval = state["heartbeat_interval"]
        self._grace_period = state["grace_period"]
        self._snapshot_threshold = state["snapshot_threshold"]
        self._lock = threading.RLock()
        self._init_runtime()
        _LIVE.add(self)
        with self._lock:
            self._load()

    def _renew_lock(self) -> None:
        """A new lock, for this storage and its snapshot keeper (called in a forked child)."""
        self._lock = threading.RLock()
        self._keeper.use_lock(self._lock)

    def _distribution_json(self, distribution: BaseDistribution) -> str:
        text = self._dist_json.get(distribution)
        if text is None:
            text = distribution_to_json(distribution)
            if len(self._dist_json) < 10_000:
                self._dist_json[distribution] = text
        return text

    @property
    def backend(self) -> BaseJournalBackend:
        """The backend this storage reads and appends to."""
        return self._backend

    # -- replay ----------------------------------------------------------------------------

    def _restart_from_snapshot(self) -> None:
        """Replace the replay state by the backend's snapshot, with the reading position at
        the point it covers; or, when there is no matching snapshot or it is malformed, by an
        empty state with the position at the start of the log (lock held).

        The state is emptied first: if the backend raises, the state is empty and the
        position (which only a returned snapshot moves) is where it was.
        """
        self._state = ReplayState()
        loaded = self._backend.load_snapshot()
        if loaded is not None:
            try:
                self._state = load_state(*loaded)
                self._keeper.known(self._backend.log_records())
                return
            except BrokenSnapshotError:
                pass  # not a usable snapshot: replay the whole log
        self._backend.reset()
        self._keeper.known(0)

    def _load(self) -> None:
        # Loading builds up to millions of long-lived objects at once; the cyclic collector
        # would rescan them many times meanwhile (none of them can be garbage yet).
        with gc_paused():
            self._restart_from_snapshot()
            self._sync()

    def write_snapshot(self) -> bool:
        """Write a snapshot of the log up to this object's reading position now, in this
        thread, unless the newest one already covers it; return whether one was written.

        Openers and writers keep the snapshot current by themselves (see the class
        docstring); this is for tools (and tests) that want it written before they go on.
        """
        with self._lock:
            self._sync()
        return self._keeper.write_now(1)

    def _sync(self) -> None:
        for _ in range(100):
            try:
                batch = self._backend.read_new()
                break
            except JournalReset:  # compacted: start again from its snapshot (or the start)
                self._restart_from_snapshot()
        else:
            raise StorageInternalError(
                "the journal was compacted 100 times while this process was catching up."
            )
        apply = self._state.apply
        pending = self._pending
        for log_number, record in batch:
            try:
                outcome = apply(record)
            except MalformedRecordError as e:
                raise StorageInternalError(f"{self._backend.location(log_number)}: {e}") from e
            if pending is not None and record.get("worker_id") == pending:
                self._outcome = outcome
        self._keeper.note()

    def _worker_id(self) -> str:
        if self._pid != os.getpid():  # a forked child must not pass for its parent
            self._pid = os.getpid()
            self._worker_prefix = f"{uuid.uuid4()}-"
        return self._worker_prefix + str(threading.get_ident())

    def _write(self, op: JournalOp, fields: dict[str, Any]) -> Any:
        """Append one record, catch up with the log, return the record's outcome (lock held).

        Raises:
            the record's error when it was invalid at its place in the log.
        """
        return self._write_records([(op, fields)])

    def _write_records(self, writes: list[tuple[JournalOp, dict[str, Any]]]) -> Any:
        """Append records in one append (together, in order), catch up with the log, and
        return the outcome of the last one (lock held). Several records are one
        ``set_trial_params`` batch, whose outcome its last record carries.

        Raises:
            the outcome's error when the records were invalid at their place in the log.
        """
        worker_id = self._worker_id()
        records = [{"op_code": int(op), "worker_id": worker_id, **fields} for op, fields in writes]
        self._pending = worker_id
        self._outcome = _MISSING
        try:
            if self._backend.append(records):
                try:
                    for record in records:
                        self._outcome = self._state.apply(record)
                except MalformedRecordError as e:  # pragma: no cover - our own records
                    raise StorageInternalError(f"bad record written: {e}") from e
                self._keeper.note()
            else:
                self._sync()
        finally:
            self._pending = None
        outcome = self._outcome
        self._outcome = _MISSING
        if outcome is _MISSING:
            raise StorageInternalError(
                "the journal was compacted twice while this write was in flight; whether it "
                "took effect is unknown."
            )
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _precheck(self, check_fn: Callable[[], _T]) -> _T:
        """Run a write's checks on the state as last read, and again after catching up with
        the log if they fail (lock held).

        The state only moves forward (studies and trials appear, trials finish), so checks
        that pass on an older state are re-decided by the replay of the record itself; only a
        failure needs the newest state before it is reported.
        """
        try:
            return check_fn()
        except (KeyError, UpdateFinishedTrialError, DuplicatedStudyError, ValueError):
            self._sync()
            return check_fn()

    # -- private lookups (lock held) -----------------------------------------------------------

    def _study(self, study_id: int) -> Any:
        study = self._state.live_study(study_id)
        if study is None:
            raise KeyError(f"No study with id {study_id!r}.")
        return study

    def _trial(self, trial_id: int) -> FrozenTrial:
        trial = self._state.live_trial(trial_id)
        if trial is None:
            raise self._state.missing_trial_error(trial_id)
        return trial

    def _updatable_trial(self, trial_id: int) -> FrozenTrial:
        trial = self._trial(trial_id)
        if trial.state.is_finished():
            raise UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )
        return trial

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked = check.check_directions(directions)
        name = check.check_study_name(study_name)
        if name is None:
            name = f"no-name-{uuid.uuid4()}"

        def unused_name() -> None:
            if name in self._state.name_to_id:
                raise DuplicatedStudyError(f"Another study with name '{name}' already exists.")

        with self._lock:
            self._precheck(unused_name)
            study_id: int = self._write(
                JournalOp.CREATE_STUDY,
                {"study_name": name, "directions": [int(d) for d in checked]},
            )
            return study_id

    def delete_study(self, study_id: int) -> None:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._precheck(lambda: self._study(study_id))
            self._write(JournalOp.DELETE_STUDY, {"study_id": study_id})

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._precheck(lambda: self._study(study_id))
            self._write(
                JournalOp.SET_STUDY_USER_ATTR, {"study_id": study_id, "user_attr": {key: stored}}
            )

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        """Set one system attribute of a study (see :meth:`BaseStorage.set_study_system_attr`).

        Raises:
            ValueError: also for the key ``trialstore:deleted_trials``, which the journal
                reserves for deletions of trials.
        """
        stored = check.check_attr(key, value)
        if key == DELETED_TRIALS_KEY:
            raise ValueError(
                f"key {key!r} is reserved: the journal records deletions of trials under it."
            )
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._precheck(lambda: self._study(study_id))
            self._write(
                JournalOp.SET_STUDY_SYSTEM_ATTR,
                {"study_id": study_id, "system_attr": {key: stored}},
            )

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._lock:
            self._sync()
            try:
                return self._state.name_to_id[study_name]
            except (KeyError, TypeError):
                raise KeyError(f"No such study {study_name!r}.") from None

    def get_study_name_from_id(self, study_id: int) -> str:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            name: str = self._study(study_id).name
            return name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            return list(self._study(study_id).directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            return copy.deepcopy(self._study(study_id).user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            return copy.deepcopy(self._study(study_id).system_attrs)

    def get_all_studies(self) -> list[FrozenStudy]:
        with self._lock:
            self._sync()
            return [
                FrozenStudy(
                    study_name=study.name,
                    direction=None,
                    directions=list(study.directions),
                    user_attrs=copy.deepcopy(study.user_attrs),
                    system_attrs=copy.deepcopy(study.system_attrs),
                    study_id=study_id,
                )
                for study_id, study in enumerate(self._state.studies)
                if not study.deleted
            ]

    # -- trials -----------------------------------------------------------------------------

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        template = None if template_trial is None else check.check_template(template_trial)
        study_id = check.check_id(study_id, "study")
        if template is None:
            fields: dict[str, Any] = {"study_id": study_id, "datetime_start": _now()}
        else:
            fields = {"study_id": study_id, **trial_template_fields(template)}

        def consistent() -> None:
            study = self._study(study_id)
            if template is not None:
                check.check_values_count(template.values, len(study.directions))
                for name, dist in template.distributions.items():
                    check.check_distribution_against(name, study.distributions.get(name), dist)

        with self._lock:
            self._precheck(consistent)
            trial_id: int = self._write(JournalOp.CREATE_TRIAL, fields)
            return trial_id

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        """Delete the trials with one record (see :meth:`BaseStorage.delete_trials`), applied
        all or nothing at its place in the log, where a concurrent deletion of one of the
        trials (through another object) is decided as for any write: the later record
        changes nothing and its writer raises TrialDeletedError."""
        checked = check.check_trial_ids(trial_ids)
        study_id = check.check_id(study_id, "study")

        def deletable() -> None:
            self._study(study_id)
            for trial_id in checked:
                self._trial(check.check_id(trial_id, "trial"))
                if self._state.trial_study[trial_id] != study_id:
                    raise KeyError(f"No trial with id {trial_id} in study {study_id}.")

        with self._lock:
            if not checked:  # nothing to append: decide the check on the newest state
                self._sync()
                deletable()
                return
            self._precheck(deletable)
            self._write(
                JournalOp.SET_STUDY_SYSTEM_ATTR,
                {"study_id": study_id, "system_attr": {DELETED_TRIALS_KEY: checked}},
            )

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        trial_id = check.check_id(trial_id, "trial")

        def compatible() -> None:
            self._updatable_trial(trial_id)
            study = self._state.studies[self._state.trial_study[trial_id]]
            check.check_distribution_against(name, study.distributions.get(name), distribution)

        with self._lock:
            self._precheck(compatible)
            self._write(
                JournalOp.SET_TRIAL_PARAM,
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value_internal": internal,
                    "distribution": self._distribution_json(distribution),
                },
            )

    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, BaseDistribution]]
    ) -> None:
        """Set several parameters at once: one SET_TRIAL_PARAM record per parameter (Optuna's
        format), appended together in one append. The first record carries the batch's size
        (``trialstore_batch``, which Optuna ignores), so that trialstore readers apply the
        records all or nothing; a concurrent finish lands either before all of them (the call
        raises UpdateFinishedTrialError) or after all of them. An Optuna reader applies them
        one by one: it differs only when a record is invalid at its place in the log (another
        process registered an incompatible distribution for one of the names in between this
        call's check and its append, or the writer died in the middle of its append): Optuna
        then keeps the valid records, trialstore none."""
        checked = check.check_params(params)
        trial_id = check.check_id(trial_id, "trial")

        def compatible() -> None:
            self._updatable_trial(trial_id)
            study = self._state.studies[self._state.trial_study[trial_id]]
            for name, _, distribution in checked:
                check.check_distribution_against(name, study.distributions.get(name), distribution)

        with self._lock:
            if not checked:  # nothing to append: decide the checks on the newest state
                self._sync()
                compatible()
                return
            self._precheck(compatible)
            writes = []
            for name, internal, distribution in checked:
                fields: dict[str, Any] = {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value_internal": internal,
                    "distribution": self._distribution_json(distribution),
                }
                writes.append((JournalOp.SET_TRIAL_PARAM, fields))
            if len(writes) > 1:
                writes[0][1][BATCH_KEY] = len(writes)
            self._write_records(writes)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            trial_ids = self._study(study_id).trial_ids
            number = check.check_trial_number(trial_number, study_id)
            if number >= len(trial_ids):
                raise check.missing_trial_number(trial_number, study_id)
            trial_id: int = trial_ids[number]
            if self._state.is_deleted_trial(trial_id):
                raise TrialDeletedError(
                    f"Trial#{trial_number} (id {trial_id}) of study {study_id} was deleted."
                )
            return trial_id

    def get_trial_number_from_id(self, trial_id: int) -> int:
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._sync()
            return self._trial(trial_id).number

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        state, checked_values = check.check_state_values(state, values)
        trial_id = check.check_id(trial_id, "trial")

        def updatable() -> FrozenTrial:
            trial = self._updatable_trial(trial_id)
            study = self._state.studies[self._state.trial_study[trial_id]]
            check.check_values_count(checked_values, len(study.directions))
            return trial

        with self._lock:
            if state == TrialState.RUNNING:
                self._sync()  # a claim decides on the newest state, as Optuna does
            trial = self._precheck(updatable)
            if state == TrialState.RUNNING and trial.state != TrialState.WAITING:
                return False
            fields: dict[str, Any] = {
                "trial_id": trial_id,
                "state": int(state),
                "values": checked_values,
            }
            if state == TrialState.RUNNING:
                fields["datetime_start"] = _now()
            else:
                fields["datetime_complete"] = _now()
            return bool(self._write(JournalOp.SET_TRIAL_STATE_VALUES, fields))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._precheck(lambda: self._updatable_trial(trial_id))
            self._write(
                JournalOp.SET_TRIAL_INTERMEDIATE_VALUE,
                {"trial_id": trial_id, "step": checked_step, "intermediate_value": value},
            )

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._precheck(lambda: self._updatable_trial(trial_id))
            self._write(
                JournalOp.SET_TRIAL_USER_ATTR, {"trial_id": trial_id, "user_attr": {key: stored}}
            )

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._precheck(lambda: self._updatable_trial(trial_id))
            self._write(
                JournalOp.SET_TRIAL_SYSTEM_ATTR,
                {"trial_id": trial_id, "system_attr": {key: stored}},
            )

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._sync()
            return copy_trial(self._trial(trial_id))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            trials = self._state.trials_of(self._study(study_id))
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return [copy_trial(t) for t in trials] if deepcopy else trials

    # -- heartbeats -------------------------------------------------------------------------

    def get_heartbeat_interval(self) -> float | None:
        return self._heartbeat_interval

    def get_grace_period(self) -> float | None:
        return self._grace_period

    def record_heartbeat(self, trial_id: int) -> None:
        trial_id = check.check_id(trial_id, "trial")
        with self._lock:
            self._precheck(lambda: self._updatable_trial(trial_id))
            self._write(
                JournalOp.DISCARD_TRIALS,
                {"trial_ids": [], HEARTBEAT_KEY: {"trial_id": trial_id, "time": time.time()}},
            )

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        study_id = check.check_id(study_id, "study")
        with self._lock:
            self._sync()
            self._study(study_id)
            if self._grace_period is None:
                return []
            deadline = time.time() - self._grace_period
            stored_trial = self._state.stored_trial
            trial_study = self._state.trial_study
            return sorted(
                trial_id
                for trial_id, beat in self._state.heartbeats.items()
                if beat < deadline
                and trial_study[trial_id] == study_id
                and stored_trial(trial_id).state == TrialState.RUNNING
            )

    def close(self) -> None:
        """Wait for a snapshot this object is writing, then release the backend's files or
        connections."""
        self._keeper.close()
        with self._lock:
            self._backend.close()
