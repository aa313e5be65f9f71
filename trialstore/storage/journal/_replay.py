"""The replay state of a journal: studies and trials rebuilt from records (private).

:class:`ReplayState` follows Optuna 5.0's replay rules exactly where they decide what other
readers see (study ids count successful CREATE_STUDY records from 0, trial ids count successful
CREATE_TRIAL records from 0 in log order, a trial's number is its index in its study, the first
RUNNING record of a WAITING trial wins the claim). A deletion of trials is trialstore's own (a
study system attribute record that Optuna stores as an attribute, see ``DELETED_TRIALS_KEY``):
a deleted trial keeps its id and number (its index), its contents are replaced by an empty
FAIL trial, and every later record naming it is invalid. A record that is invalid when replayed (a
duplicate name, a missing id, an update of a finished trial, an incompatible distribution) stays
in the log and changes nothing; :meth:`ReplayState.apply` returns the error as a value, so only
the writer of the record raises it.

A state loaded from a snapshot (see ``_snapshot``) builds each study's finished trials from
their segment rows when the study is first used. The state also yields the minimal list of
records that replays to the same state (compaction).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from trialstore._core import (
    DistributionsInterner,
    FrozenTrial,
    StudyDirection,
    TrialState,
    compact_trial,
)
from trialstore.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)
from trialstore.exceptions import (
    DuplicatedStudyError,
    StorageInternalError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage._columns import build_chunk, dset_info
from trialstore.storage._gc import gc_paused
from trialstore.storage.journal._records import (
    BATCH_KEY,
    DELETED_TRIALS_KEY,
    HEARTBEAT_KEY,
    JournalOp,
    format_datetime,
    is_batch_member,
    parse_datetime,
)

__all__ = [
    "MalformedRecordError",
    "ReplayState",
    "SegmentChunk",
    "Study",
    "deletion_record",
    "heartbeat_record",
    "parse_row",
    "trial_template_fields",
]

_STATES = sorted(TrialState, key=int)  # index = the state's value in a snapshot row
_COMPACTOR_WORKER_ID = "trialstore-compact"


class MalformedRecordError(Exception):
    """A record that no writer could have produced: unknown op code or broken fields."""


@dataclass(frozen=True)
class SegmentChunk:
    """A study's finished trials in one snapshot segment: column ``name`` is
    ``data[a:b]`` for ``(a, b) = columns[name]`` (see ``_columns``)."""

    data: bytes
    columns: dict[str, tuple[int, int]]


@dataclass
class Study:
    name: str
    directions: list[StudyDirection]
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    #: Every trial created in the study, deleted ones included: index = number.
    trial_ids: list[int] = field(default_factory=list)
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    deleted: bool = False
    #: The ids of the study's deleted trials.
    deleted_trials: set[int] = field(default_factory=set)
    #: Loaded from a snapshot and not built yet: its finished trials' rows (see
    #: ``ReplayState.trials``).
    chunks: list[SegmentChunk] = field(default_factory=list)


def _shallow(trial: FrozenTrial) -> FrozenTrial:
    """Return a new FrozenTrial sharing ``trial``'s containers (copy-on-write updates)."""
    return trial._shallow_copy()


class ReplayState:
    """Studies and trials as the records replayed so far define them. Not thread-safe."""

    def __init__(self) -> None:
        self.studies: list[Study] = []  # index = study id, deleted ones included
        self.name_to_id: dict[str, int] = {}  # live studies only
        #: Index = trial id. None for a trial of a study loaded from a snapshot and not used
        #: since: the study's trials are built on first use (:meth:`stored_trial`,
        #: :meth:`trials_of`), so a process that opens a large journal builds and parses only
        #: the studies it reads.
        self.trials: list[FrozenTrial | None] = []
        self.trial_study: list[int] = []  # index = trial id
        self.heartbeats: dict[int, float] = {}
        #: (trials created before, kind 0=create 1=delete, study id), in log order.
        self.structure: list[tuple[int, int, int]] = []
        self.records_applied = 0
        self._dist_cache: dict[str, BaseDistribution] = {}
        #: Finished trials with equal distributions share one dict (stored trials are
        #: copy-on-write: never mutated).
        self._distributions = DistributionsInterner()
        #: The loaded snapshot's distribution sets, which its segment rows refer to by index.
        self.row_dsets: list[dict[str, BaseDistribution]] = []
        self._dset_info: list[Any] | None = None
        #: The records read so far of a ``set_trial_params`` batch (see ``BATCH_KEY``), with
        #: each one's name, distribution and external value; applied when the last one comes.
        self._batch: list[tuple[dict[str, Any], str, BaseDistribution, Any]] = []
        self._batch_size = 0
        self._appliers: list[Callable[[dict[str, Any]], Any]] = [
            self._create_study,
            self._delete_study,
            self._set_study_user_attr,
            self._set_study_system_attr,
            self._create_trial,
            self._set_trial_param,
            self._set_trial_state_values,
            self._set_trial_intermediate_value,
            self._set_trial_user_attr,
            self._set_trial_system_attr,
            self._discard_trials,
        ]

    # -- applying records --------------------------------------------------------------------

    def apply(self, record: dict[str, Any]) -> Any:
        """Apply one record; return its outcome for the record's writer.

        The outcome is the new study or trial id (creations), whether a claim won (state
        RUNNING), None, or an exception *instance* when the record is invalid here and
        changed nothing.

        Raises:
            MalformedRecordError: unknown op code or fields of the wrong shape.
        """
        self.records_applied += 1
        try:
            op = record["op_code"]
            if type(op) is not int or not 0 <= op < len(self._appliers):
                raise MalformedRecordError(f"unknown op_code {op!r}")
            if self._batch:
                if is_batch_member(self._batch[0][0], record):
                    return self._add_to_batch(record)
                # Its writer died in the middle of the append: the batch never completes.
                self._batch = []
            if op == JournalOp.SET_TRIAL_PARAM and BATCH_KEY in record:
                size = record[BATCH_KEY]
                if type(size) is not int or size < 1:
                    raise MalformedRecordError(f"{BATCH_KEY} {size!r} is not a count")
                self._batch_size = size
                return self._add_to_batch(record)
            return self._appliers[op](record)
        except MalformedRecordError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise MalformedRecordError(f"malformed record ({type(e).__name__}: {e})") from e

    def _dist(self, text: str) -> BaseDistribution:
        dist = self._dist_cache.get(text)
        if dist is None:
            dist = json_to_distribution(text)
            if len(self._dist_cache) < 100_000:
                self._dist_cache[text] = dist
        return dist

    def live_study(self, study_id: Any) -> Study | None:
        """Return the live study with this id, or None."""
        if type(study_id) is not int or not 0 <= study_id < len(self.studies):
            return None
        study = self.studies[study_id]
        return None if study.deleted else study

    def live_trial(self, trial_id: Any) -> FrozenTrial | None:
        """Return the stored trial with this id if its study is live and it is not deleted,
        or None."""
        if type(trial_id) is not int or not 0 <= trial_id < len(self.trials):
            return None
        study = self.studies[self.trial_study[trial_id]]
        if study.deleted or trial_id in study.deleted_trials:
            return None
        return self.stored_trial(trial_id)

    def is_deleted_trial(self, trial_id: Any) -> bool:
        """Whether ``trial_id`` names a deleted trial of a live study."""
        if type(trial_id) is not int or not 0 <= trial_id < len(self.trials):
            return False
        study = self.studies[self.trial_study[trial_id]]
        return not study.deleted and trial_id in study.deleted_trials

    def missing_trial_error(self, trial_id: Any) -> KeyError:
        """The error of a trial id that names no live trial: TrialDeletedError for a deleted
        trial of a live study, else KeyError."""
        if self.is_deleted_trial(trial_id):
            study_id = self.trial_study[trial_id]
            return TrialDeletedError(f"Trial id {trial_id} of study {study_id} was deleted.")
        return KeyError(f"No trial with id {trial_id!r}.")

    def stored_trial(self, trial_id: int) -> FrozenTrial:
        """Return the stored trial with this id (a valid id; deleted studies' included)."""
        trial = self.trials[trial_id]
        if trial is None:
            self._build(self.studies[self.trial_study[trial_id]])
            trial = self.trials[trial_id]
        return trial  # type: ignore[return-value]

    def trials_of(self, study: Study) -> list[FrozenTrial]:
        """Return the study's stored trials that are not deleted, in number order."""
        if study.chunks:
            self._build(study)
        trials = self.trials
        deleted = study.deleted_trials
        if deleted:
            return [trials[i] for i in study.trial_ids if i not in deleted]  # type: ignore[misc]
        return [trials[i] for i in study.trial_ids]  # type: ignore[misc]

    def cache_distribution(self, text: str, dist: BaseDistribution) -> None:
        """Remember ``dist`` as the distribution of the JSON ``text``."""
        self._dist_cache[text] = dist

    def _build(self, study: Study) -> None:
        """Build the finished trials of a study loaded from a snapshot, from its segment
        rows; deleted ones become their empty FAIL trial.

        Raises:
            StorageInternalError: the rows of this study are broken (a segment damaged after
                its structure was checked on open).
        """
        # Many long-lived objects at once: keep the cyclic collector from rescanning them.
        with gc_paused():
            if self._dset_info is None:
                self._dset_info = dset_info(self.row_dsets)
            try:
                built = []
                for chunk in study.chunks:
                    view = memoryview(chunk.data)
                    columns = {name: view[a:b] for name, (a, b) in chunk.columns.items()}
                    built.extend(build_chunk(columns, self._dset_info, study.trial_ids))
            except (KeyError, TypeError, ValueError, IndexError, StopIteration) as e:
                raise StorageInternalError(
                    f"the journal's snapshot holds broken trials of study {study.name!r} "
                    f"({type(e).__name__}: {e}); remove the snapshot to replay the journal"
                ) from None
            trials = self.trials
            deleted = study.deleted_trials
            for trial in built:
                trial_id = trial._trial_id
                if trials[trial_id] is None:
                    trials[trial_id] = _tombstone(trial) if trial_id in deleted else trial
        study.chunks = []

    def _updatable(self, trial_id: Any) -> FrozenTrial | BaseException:
        trial = self.live_trial(trial_id)
        if trial is None:
            return self.missing_trial_error(trial_id)
        if trial.state.is_finished():
            return UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )
        return trial

    def _create_study(self, record: dict[str, Any]) -> Any:
        name = record["study_name"]
        directions = [StudyDirection(d) for d in record["directions"]]
        if not isinstance(name, str):
            raise MalformedRecordError(f"study_name {name!r} is not a str")
        if name in self.name_to_id:
            return DuplicatedStudyError(f"Another study with name '{name}' already exists.")
        study_id = len(self.studies)
        self.studies.append(Study(name=name, directions=directions))
        self.name_to_id[name] = study_id
        self.structure.append((len(self.trials), 0, study_id))
        return study_id

    def _delete_study(self, record: dict[str, Any]) -> Any:
        study_id = record["study_id"]
        study = self.live_study(study_id)
        if study is None:
            return KeyError(f"No study with id {study_id!r}.")
        study.deleted = True
        del self.name_to_id[study.name]
        for trial_id in study.trial_ids:
            self.heartbeats.pop(trial_id, None)
        self.structure.append((len(self.trials), 1, study_id))
        return None

    def _set_study_attr(self, record: dict[str, Any], field_name: str) -> Any:
        study = self.live_study(record["study_id"])
        attrs = record[field_name]
        if not isinstance(attrs, dict):
            raise MalformedRecordError(f"{field_name} is not an object")
        if study is None:
            return KeyError(f"No study with id {record['study_id']!r}.")
        getattr(study, field_name + "s").update(attrs)
        return None

    def _set_study_user_attr(self, record: dict[str, Any]) -> Any:
        return self._set_study_attr(record, "user_attr")

    def _set_study_system_attr(self, record: dict[str, Any]) -> Any:
        attrs = record["system_attr"]
        if isinstance(attrs, dict) and DELETED_TRIALS_KEY in attrs:
            attrs = dict(attrs)
            trial_ids = attrs.pop(DELETED_TRIALS_KEY)
            if attrs:  # not a record trialstore writes; its other keys are attributes
                self._set_study_attr({**record, "system_attr": attrs}, "system_attr")
            return self._delete_trials(record["study_id"], trial_ids)
        return self._set_study_attr(record, "system_attr")

    def _delete_trials(self, study_id: Any, trial_ids: Any) -> Any:
        """Delete trials (a deletion record): all or nothing; an invalid record (not a list
        of distinct ids, a missing study, an id that names no live trial of the study) changes
        nothing and its outcome is the error."""
        study = self.live_study(study_id)
        if study is None:
            return KeyError(f"No study with id {study_id!r}.")
        if not isinstance(trial_ids, list) or any(type(t) is not int for t in trial_ids):
            return ValueError(f"{DELETED_TRIALS_KEY} {trial_ids!r} is not a list of trial ids.")
        if len(set(trial_ids)) != len(trial_ids):
            return ValueError(f"{DELETED_TRIALS_KEY} {trial_ids!r} names a trial twice.")
        for trial_id in trial_ids:
            if self.live_trial(trial_id) is None:
                return self.missing_trial_error(trial_id)
            if self.trial_study[trial_id] != study_id:
                return KeyError(f"No trial with id {trial_id} in study {study_id}.")
        for trial_id in trial_ids:
            self.trials[trial_id] = _tombstone(self.stored_trial(trial_id))
            study.deleted_trials.add(trial_id)
            self.heartbeats.pop(trial_id, None)
        return None

    def _create_trial(self, record: dict[str, Any]) -> Any:
        study_id = record["study_id"]
        study = self.live_study(study_id)
        if study is None:
            return KeyError(f"No study with id {study_id!r}.")
        distributions = {k: self._dist(v) for k, v in record.get("distributions", {}).items()}
        params = {
            k: distributions[k].to_external_repr(p) for k, p in record.get("params", {}).items()
        }
        start = record["datetime_start"]
        complete = record.get("datetime_complete")
        values = record.get("values")
        if values is None and record.get("value") is not None:
            values = [record["value"]]
        trial_id = len(self.trials)
        trial = FrozenTrial(
            number=len(study.trial_ids),
            state=TrialState(record.get("state", 0)),
            value=None,
            values=None if values is None else [float(v) for v in values],
            datetime_start=None if start is None else parse_datetime(start),
            datetime_complete=None if complete is None else parse_datetime(complete),
            params=params,
            distributions=distributions,
            user_attrs=dict(record.get("user_attrs", {})),
            system_attrs=dict(record.get("system_attrs", {})),
            intermediate_values={
                int(k): float(v) for k, v in record.get("intermediate_values", {}).items()
            },
            trial_id=trial_id,
        )
        for name, dist in distributions.items():
            study.distributions.setdefault(name, dist)
        if trial.state.is_finished():
            compact_trial(trial, self._distributions)
        self.trials.append(trial)
        self.trial_study.append(study_id)
        study.trial_ids.append(trial_id)
        return trial_id

    def _set_trial_param(self, record: dict[str, Any]) -> Any:
        name = record["param_name"]
        dist = self._dist(record["distribution"])
        external = dist.to_external_repr(record["param_value_internal"])
        trial = self._updatable(record["trial_id"])
        if isinstance(trial, BaseException):
            return trial
        study = self.studies[self.trial_study[trial._trial_id]]
        known = study.distributions.get(name)
        if known is not None and known is not dist:  # same JSON text: the same cached object
            try:
                check_distribution_compatibility(known, dist)
            except ValueError as e:
                return ValueError(f"param {name!r}: {e}")
        else:
            study.distributions[name] = dist
        new = _shallow(trial)
        new._params = {**trial._params, name: external}
        new._distributions = {**trial._distributions, name: dist}
        self.trials[trial._trial_id] = new
        return None

    @property
    def in_batch(self) -> bool:
        """Whether the last record applied is inside a ``set_trial_params`` batch whose last
        records have not been applied yet (a snapshot of this state would lose them)."""
        return bool(self._batch)

    def _add_to_batch(self, record: dict[str, Any]) -> Any:
        """Keep one record of a batch; apply the batch when it is complete. The outcome of
        the batch is the outcome of its last record (the others': None)."""
        name = record["param_name"]
        dist = self._dist(record["distribution"])
        external = dist.to_external_repr(record["param_value_internal"])
        self._batch.append((record, name, dist, external))
        if len(self._batch) < self._batch_size:
            return None
        batch, self._batch = self._batch, []
        return self._apply_batch(batch)

    def _apply_batch(self, batch: list[tuple[dict[str, Any], str, BaseDistribution, Any]]) -> Any:
        """Apply the records of one batch all or nothing: an invalid one (a finished or
        missing trial, an incompatible distribution) makes the whole batch change nothing."""
        trial = self._updatable(batch[0][0]["trial_id"])
        if isinstance(trial, BaseException):
            return trial
        study = self.studies[self.trial_study[trial._trial_id]]
        registered: dict[str, BaseDistribution] = {}
        for _, name, dist, _ in batch:
            known = registered.get(name) or study.distributions.get(name)
            if known is not None and known is not dist:
                try:
                    check_distribution_compatibility(known, dist)
                except ValueError as e:
                    return ValueError(f"param {name!r}: {e}")
            elif known is None:
                registered[name] = dist
        study.distributions.update(registered)
        params = dict(trial._params)
        distributions = dict(trial._distributions)
        for _, name, dist, external in batch:
            params[name] = external
            distributions[name] = dist
        new = _shallow(trial)
        new._params = params
        new._distributions = distributions
        self.trials[trial._trial_id] = new
        return None

    def _set_trial_state_values(self, record: dict[str, Any]) -> Any:
        state = TrialState(record["state"])
        values = record["values"]
        trial = self._updatable(record["trial_id"])
        if isinstance(trial, BaseException):
            return trial
        if state == TrialState.RUNNING and trial.state == TrialState.RUNNING:
            return False
        new = _shallow(trial)
        if state == TrialState.RUNNING:
            new._datetime_start = parse_datetime(record["datetime_start"])
        elif state.is_finished():
            new.datetime_complete = parse_datetime(record["datetime_complete"])
            self.heartbeats.pop(trial._trial_id, None)
            compact_trial(new, self._distributions)
        new.state = state
        if values is not None:
            new._values = [float(v) for v in values]
        self.trials[trial._trial_id] = new
        return True

    def _set_trial_intermediate_value(self, record: dict[str, Any]) -> Any:
        step = record["step"]
        value = record["intermediate_value"]
        if type(step) is not int:
            raise MalformedRecordError(f"step {step!r} is not an int")
        trial = self._updatable(record["trial_id"])
        if isinstance(trial, BaseException):
            return trial
        new = _shallow(trial)
        new.intermediate_values = {**trial._intermediate_values, step: float(value)}
        self.trials[trial._trial_id] = new
        return None

    def _set_trial_attr(self, record: dict[str, Any], field_name: str) -> Any:
        attrs = record[field_name]
        if not isinstance(attrs, dict):
            raise MalformedRecordError(f"{field_name} is not an object")
        trial = self._updatable(record["trial_id"])
        if isinstance(trial, BaseException):
            return trial
        new = _shallow(trial)
        if field_name == "user_attr":
            new._user_attrs = {**trial._user_attrs, **attrs}
        else:
            new._system_attrs = {**trial._system_attrs, **attrs}
        self.trials[trial._trial_id] = new
        return None

    def _set_trial_user_attr(self, record: dict[str, Any]) -> Any:
        return self._set_trial_attr(record, "user_attr")

    def _set_trial_system_attr(self, record: dict[str, Any]) -> Any:
        return self._set_trial_attr(record, "system_attr")

    def _discard_trials(self, record: dict[str, Any]) -> Any:
        beat = record.get(HEARTBEAT_KEY)
        if beat is None:
            return None  # Optuna ignores DISCARD_TRIALS on replay; so do we.
        trial_id = beat["trial_id"]
        beat_time = float(beat["time"])
        # The beat is decided at its place in the log, like every other trial write: the
        # writer's own check ran on the state as last read, and another process may have
        # finished the trial since (the beat must then fail, so that the worker stops).
        trial = self._updatable(trial_id)
        if isinstance(trial, BaseException):
            return trial
        if trial.state == TrialState.RUNNING:
            self.heartbeats[trial_id] = max(beat_time, self.heartbeats.get(trial_id, -math.inf))
        return None

    # -- compaction --------------------------------------------------------------------------

    def to_records(self) -> Iterable[dict[str, Any]]:
        """Yield the fewest records that replay (in Optuna and here) to this state.

        Every study and trial keeps its id and number: deleted studies are created and deleted
        again at the same place relative to the trials, and every trial is one CREATE_TRIAL
        record holding its whole current content.
        """
        wid = _COMPACTOR_WORKER_ID
        events = iter(self.structure)
        pending = next(events, None)
        for trial_id in range(len(self.trials) + 1):
            while pending is not None and pending[0] <= trial_id:
                _, kind, study_id = pending
                study = self.studies[study_id]
                if kind == 0:
                    yield from _study_records(study_id, study, wid)
                else:
                    yield {
                        "op_code": int(JournalOp.DELETE_STUDY),
                        "worker_id": wid,
                        "study_id": study_id,
                    }
                pending = next(events, None)
            if trial_id < len(self.trials):
                trial = self.stored_trial(trial_id)
                yield _trial_record(trial, self.trial_study[trial_id], wid)
        for study_id, study in enumerate(self.studies):
            if study.deleted_trials and not study.deleted:
                yield deletion_record(wid, study_id, sorted(study.deleted_trials))
        for trial_id, beat in self.heartbeats.items():
            yield heartbeat_record(wid, trial_id, beat)


def parse_row(
    trial_id: int, number: int, row: list[Any], dsets: list[dict[str, BaseDistribution]]
) -> FrozenTrial:
    """Return the trial of a snapshot row (see ``_snapshot``); its distributions are the set
    ``dsets[row[5]]``, shared with the other trials of that set (stored trials are
    copy-on-write).

    Raises:
        ValueError, TypeError, IndexError, KeyError: not a row.
    """
    st, values, start, complete, params, dset, ua, sa, ivs = row
    if st < 0 or dset < 0:
        raise IndexError("a negative index")
    if type(trial_id) is not int or type(number) is not int:
        raise TypeError("ids and numbers are ints")
    fromiso = datetime.datetime.fromisoformat
    return FrozenTrial._compact(
        number,
        _STATES[st],
        values,
        None if start is None else fromiso(start),
        None if complete is None else fromiso(complete),
        dsets[dset],
        trial_id,
        None,
        params=params,
        user_attrs=ua,
        system_attrs=sa,
        intermediate_values={step: value for step, value in ivs} if ivs else {},
    )


def deletion_record(worker_id: str, study_id: int, trial_ids: list[int]) -> dict[str, Any]:
    """Return the record of a deletion of trials: a SET_STUDY_SYSTEM_ATTR record of the
    reserved key ``DELETED_TRIALS_KEY``, which Optuna stores as a study system attribute."""
    return {
        "op_code": int(JournalOp.SET_STUDY_SYSTEM_ATTR),
        "worker_id": worker_id,
        "study_id": study_id,
        "system_attr": {DELETED_TRIALS_KEY: trial_ids},
    }


def _tombstone(trial: FrozenTrial) -> FrozenTrial:
    """What a deleted trial's slot holds: its id, number and start, as an empty FAIL trial
    (so a compacted journal shows Optuna a failed trial with nothing in it)."""
    start = trial._datetime_start
    return FrozenTrial(
        number=trial.number,
        state=TrialState.FAIL,
        value=None,
        values=None,
        datetime_start=start,
        datetime_complete=trial.datetime_complete or start,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial._trial_id,
    )


def heartbeat_record(worker_id: str, trial_id: int, beat_time: float) -> dict[str, Any]:
    """Return the record of a heartbeat: a DISCARD_TRIALS of no trial, which Optuna ignores."""
    return {
        "op_code": int(JournalOp.DISCARD_TRIALS),
        "worker_id": worker_id,
        "trial_ids": [],
        HEARTBEAT_KEY: {"trial_id": trial_id, "time": beat_time},
    }


def trial_template_fields(trial: FrozenTrial) -> dict[str, Any]:
    """Return the CREATE_TRIAL fields that carry a whole trial, as Optuna writes them."""
    values = trial._values
    fields: dict[str, Any] = {
        "datetime_start": None
        if trial._datetime_start is None
        else format_datetime(trial._datetime_start),
        "state": int(trial.state),
    }
    if values is not None and len(values) != 1:
        fields["value"] = None
        fields["values"] = list(values)
    else:
        fields["value"] = None if values is None else values[0]
        fields["values"] = None
    if trial.datetime_complete is not None:
        fields["datetime_complete"] = format_datetime(trial.datetime_complete)
    fields["distributions"] = {
        name: distribution_to_json(dist) for name, dist in trial._distributions.items()
    }
    params = trial._params
    fields["params"] = {
        name: dist.to_internal_repr(params[name]) for name, dist in trial._distributions.items()
    }
    fields["user_attrs"] = trial._user_attrs
    fields["system_attrs"] = trial._system_attrs
    fields["intermediate_values"] = {
        str(step): value for step, value in trial._intermediate_values.items()
    }
    return fields


def _study_records(study_id: int, study: Study, wid: str) -> Iterator[dict[str, Any]]:
    """The records that create study ``study_id`` with its attributes (a study deleted later
    gets none: its deletion follows)."""
    yield {
        "op_code": int(JournalOp.CREATE_STUDY),
        "worker_id": wid,
        "study_name": study.name,
        "directions": [int(d) for d in study.directions],
    }
    if study.deleted:
        return
    for key, value in study.user_attrs.items():
        yield {
            "op_code": int(JournalOp.SET_STUDY_USER_ATTR),
            "worker_id": wid,
            "study_id": study_id,
            "user_attr": {key: value},
        }
    for key, value in study.system_attrs.items():
        yield {
            "op_code": int(JournalOp.SET_STUDY_SYSTEM_ATTR),
            "worker_id": wid,
            "study_id": study_id,
            "system_attr": {key: value},
        }


def _trial_record(trial: FrozenTrial, study_id: int, worker_id: str) -> dict[str, Any]:
    return {
        "op_code": int(JournalOp.CREATE_TRIAL),
        "worker_id": worker_id,
        "study_id": study_id,
        **trial_template_fields(trial),
    }
