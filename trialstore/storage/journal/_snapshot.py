"""trialstore's snapshot of a journal: immutable segments of finished trials plus a head
(private).

A finished trial never changes again (a deletion is recorded in the head, and the deleted
trial's slot is rebuilt from its segment), so a snapshot is kept incrementally:

* a **segment** holds finished trials, written once and never changed. Its bytes are one JSON
  header line, ``{"format": F, "studies": [[study id, trial count, {column: [start, end]}],
  ...]}``, then each study's trials as columns (see ``_columns``) at bytes ``start..end``
  after the header line.
* the **head** (one JSON document) holds everything else: the log position it covers (the
  backend's ``journal`` entry), the studies (attributes, deleted trial ids, trial counts), the
  distribution tables (append-only, so every segment's indexes stay valid), the unfinished
  trials as rows, heartbeats, the study structure, and the list of segments in order.

Every trial with an id below the head's ``n_trials`` is either in exactly one segment or among
the head's unfinished trials (as rows: ``[trial id, study id, number, [state, values, start,
complete, params, dset, user_attrs, system_attrs, [[step, value], ...]]]``, where ``dset``
indexes the head's table of distribution sets). A writer extending a head ``H`` therefore
writes one new segment with the trials finished since ``H`` (``H``'s unfinished ones that
finished, and the finished ones among the trials created after ``H``), whatever process wrote
``H``: its work is proportional to what changed. Segments are merged (byte concatenation, no
decoding of trials) as the digits of a binary counter carry (see :func:`plan_merges`), so a
head lists O(log n) segments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from trialstore._core import FrozenTrial, StudyDirection
from trialstore.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from trialstore.storage._chunk_source import is_run
from trialstore.storage._columns import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    JSON_COLUMNS,
    array_of_ints,
    encode_chunk,
    merge_columns,
    plan_merge,
)
from trialstore.storage.journal._base import SnapshotStore
from trialstore.storage.journal._replay import ReplayState, SegmentChunk, Study, parse_row

__all__ = [
    "SNAPSHOT_FORMAT",
    "BrokenSnapshotError",
    "Capture",
    "Head",
    "SegmentRef",
    "capture",
    "encode_head",
    "encode_segments",
    "load_state",
    "merge_segments",
    "new_tables",
    "plan_merges",
    "write_segments",
    "write_snapshot",
]

SNAPSHOT_FORMAT = "trialstore-journal-snapshot/5"
#: The most trials one segment is written with (about 100 MB for trials of 5 parameters).
SEGMENT_TRIALS = 500_000
#: Merges stop short of segments larger than this (Redis takes at most 512 MB in one value).
MAX_SEGMENT_BYTES = 256 * 2**20


class BrokenSnapshotError(Exception):
    """A head or segment that is not a snapshot of this format (damaged, or foreign)."""


@dataclass(frozen=True)
class SegmentRef:
    """A segment as a head lists it."""

    name: str
    trials: int
    size: int

    def to_json(self) -> list[Any]:
        return [self.name, self.trials, self.size]


@dataclass
class Head:
    """A head read back, as a writer's base: what the next head extends."""

    records: int
    n_trials: int
    unfinished: list[int]
    segments: list[SegmentRef]
    dists: list[str]
    dsets: list[dict[str, int]]
    doc: dict[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, doc: Any, records: int) -> Head:
        """Return the head of a head document whose position covers ``records`` records.

        Raises:
            BrokenSnapshotError: not a head of this format.
        """
        try:
            if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
                raise BrokenSnapshotError("not a head of this format")
            segments = [SegmentRef(str(n), int(t), int(s)) for n, t, s in doc["segments"]]
            unfinished = [int(row[0]) for row in doc["unfinished"]]
            dists = [str(text) for text in doc["dists"]]
            dsets = [{str(k): int(v) for k, v in dset.items()} for dset in doc["dsets"]]
            n_trials = int(doc["n_trials"])
            if sum(ref.trials for ref in segments) + len(unfinished) != n_trials or any(
                not 0 <= trial_id < n_trials for trial_id in unfinished
            ):
                raise ValueError("its trials do not add up")
            return cls(records, n_trials, unfinished, segments, dists, dsets, doc)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BrokenSnapshotError(f"malformed head ({type(e).__name__}: {e})") from None


_StudyCopy = tuple[
    str,
    list[int],
    dict[str, Any],
    dict[str, Any],
    bool,
    dict[str, BaseDistribution],
    list[int],
    int,
]
_TrialEntry = tuple[int, int, int, FrozenTrial]


@dataclass
class Capture:
    """What a snapshot needs of a replay state, taken under the storage's lock in time
    proportional to what changed since ``base`` (trials are shared, never copied: stored
    trials are replaced on update, never changed in place)."""

    records: int
    position: Any
    base: Head | None
    n_trials: int
    records_applied: int
    #: Per study: name, directions, user attrs, system attrs, deleted, distributions,
    #: deleted trial ids, trial count (containers copied).
    studies: list[_StudyCopy]
    #: (trial id, study id, number, trial): finished since ``base``.
    finished: list[_TrialEntry]
    #: (trial id, study id, number, trial): unfinished now.
    unfinished: list[_TrialEntry]
    heartbeats: list[list[Any]]
    structure: list[tuple[int, int, int]]


def capture(state: ReplayState, base: Head | None, records: int, position: Any) -> Capture:
    """Take what a snapshot of ``state`` (at ``records`` records, backend ``position``)
    extending ``base`` needs (the caller holds the storage's lock; ``state`` must not be in a
    ``set_trial_params`` batch).

    Raises:
        BrokenSnapshotError: ``base`` does not fit ``state`` (it lists more trials).
    """
    n_trials = len(state.trials)
    if base is None:
        candidates: Iterable[int] = range(n_trials)
    else:
        if base.n_trials > n_trials:
            raise BrokenSnapshotError("the base head lists more trials than the state")
        candidates = [*base.unfinished, *range(base.n_trials, n_trials)]
    finished: list[_TrialEntry] = []
    unfinished: list[_TrialEntry] = []
    trial_study = state.trial_study
    for trial_id in candidates:
        trial = state.stored_trial(trial_id)
        study_id = trial_study[trial_id]
        entry = (trial_id, study_id, trial.number, trial)
        (finished if trial.state.is_finished() else unfinished).append(entry)
    studies = [
        (
            s.name,
            [int(d) for d in s.directions],
            dict(s.user_attrs),
            dict(s.system_attrs),
            s.deleted,
            dict(s.distributions),
            sorted(s.deleted_trials),
            len(s.trial_ids),
        )
        for s in state.studies
    ]
    return Capture(
        records=records,
        position=position,
        base=base,
        n_trials=n_trials,
        records_applied=state.records_applied,
        studies=studies,
        finished=finished,
        unfinished=unfinished,
        heartbeats=[[k, v] for k, v in state.heartbeats.items()],
        structure=list(state.structure),
    )


class _Tables:
    """The head's append-only distribution tables, extended as trials need."""

    def __init__(self, base: Head | None) -> None:
        self.dists: list[str] = [] if base is None else list(base.dists)
        self.dsets: list[dict[str, int]] = [] if base is None else list(base.dsets)
        self._dist_index = {text: i for i, text in enumerate(self.dists)}
        self._dset_index = {tuple(d.items()): i for i, d in enumerate(self.dsets)}
        # Lookups by identity (the objects are kept alive here, so ids are not reused):
        # replayed trials share one distribution object per JSON text, and trials loaded
        # from a snapshot one dict per set.
        self._dist_by_id: dict[int, tuple[BaseDistribution, int]] = {}
        self._dset_by_id: dict[int, tuple[dict[str, BaseDistribution], int]] = {}
        self._dset_by_ids: dict[tuple[Any, ...], tuple[tuple[BaseDistribution, ...], int]] = {}

    def dist(self, dist: BaseDistribution) -> int:
        known = self._dist_by_id.get(id(dist))
        if known is not None and known[0] is dist:
            return known[1]
        text = distribution_to_json(dist)
        index = self._dist_index.get(text)
        if index is None:
            index = self._dist_index[text] = len(self.dists)
            self.dists.append(text)
        self._dist_by_id[id(dist)] = (dist, index)
        return index

    def dset(self, distributions: dict[str, BaseDistribution]) -> int:
        known = self._dset_by_id.get(id(distributions))
        if known is not None and known[0] is distributions:
            return known[1]
        values = tuple(distributions.values())
        by_ids = (tuple(distributions), tuple(map(id, values)))
        hit = self._dset_by_ids.get(by_ids)
        if hit is None:
            key = tuple((name, self.dist(d)) for name, d in distributions.items())
            index = self._dset_index.get(key)
            if index is None:
                index = self._dset_index[key] = len(self.dsets)
                self.dsets.append(dict(key))
            # The entry keeps the distributions alive, so that their ids stay theirs.
            hit = self._dset_by_ids[by_ids] = (values, index)
        if len(self._dset_by_id) < 100_000:
            self._dset_by_id[id(distributions)] = (distributions, hit[1])
        return hit[1]


def _row(trial: FrozenTrial, tables: _Tables) -> list[Any]:
    start = trial._datetime_start
    complete = trial.datetime_complete
    return [
        int(trial.state),
        trial._values,
        None if start is None else start.isoformat(),
        None if complete is None else complete.isoformat(),
        trial._params,
        tables.dset(trial._distributions),
        trial._user_attrs,
        trial._system_attrs,
        [[step, value] for step, value in trial._intermediate_values.items()],
    ]


def _segment_bytes(studies: list[tuple[int, int, dict[str, bytes]]]) -> bytes:
    header = []
    body = []
    offset = 0
    for study_id, count, columns in studies:
        ranges = {}
        for name, data in columns.items():
            ranges[name] = [offset, offset + len(data)]
            body.append(data)
            offset += len(data)
        header.append([study_id, count, ranges])
    line = json.dumps({"format": SNAPSHOT_FORMAT, "studies": header}, separators=(",", ":"))
    return b"".join([line.encode(), b"\n", *body])


def encode_segments(cap: Capture, tables: _Tables) -> Iterator[tuple[bytes, int]]:
    """Yield the segments of the trials ``cap`` found finished, with their trial counts: one,
    or several of at most :data:`SEGMENT_TRIALS` trials (so that no segment outgrows what a
    store takes in one value)."""
    for first in range(0, len(cap.finished), SEGMENT_TRIALS):
        batch = cap.finished[first : first + SEGMENT_TRIALS]
        by_study: dict[int, list[FrozenTrial]] = {}
        for _, study_id, _, trial in batch:
            by_study.setdefault(study_id, []).append(trial)
        data = _segment_bytes(
            [
                (sid, len(trials), encode_chunk(trials, tables.dset))
                for sid, trials in by_study.items()
            ]
        )
        yield data, len(batch)


def write_segments(store: SnapshotStore, cap: Capture, tables: _Tables) -> list[SegmentRef] | None:
    """Write the segments of the trials ``cap`` found finished; return them (None: a write
    failed)."""
    refs = []
    for data, trials in encode_segments(cap, tables):
        name = store.write_segment(data)
        if name is None:
            return None
        refs.append(SegmentRef(name, trials, len(data)))
    return refs


def new_tables(base: Head | None) -> _Tables:
    """The distribution tables of a head extending ``base``."""
    return _Tables(base)


def encode_head(cap: Capture, tables: _Tables, segments: list[SegmentRef]) -> dict[str, Any]:
    """Return the head document of ``cap`` listing ``segments`` (without its ``journal``
    position entry, which the backend adds)."""
    studies = [
        [
            name,
            directions,
            ua,
            sa,
            deleted,
            {k: tables.dist(d) for k, d in dists.items()},
            deleted_trials,
            count,
        ]
        for name, directions, ua, sa, deleted, dists, deleted_trials, count in cap.studies
    ]
    unfinished = [
        [trial_id, study_id, number, _row(trial, tables)]
        for trial_id, study_id, number, trial in cap.unfinished
    ]
    return {
        "format": SNAPSHOT_FORMAT,
        "id": uuid.uuid4().hex,
        "records_applied": cap.records_applied,
        "n_trials": cap.n_trials,
        "studies": studies,
        "dists": tables.dists,
        "dsets": tables.dsets,
        "unfinished": unfinished,
        "heartbeats": cap.heartbeats,
        "structure": cap.structure,
        "segments": [ref.to_json() for ref in segments],
    }


def plan_merges(segments: list[SegmentRef]) -> tuple[int, int] | None:
    """Return the slice ``(start, end)`` of ``segments`` to merge into one, or None.

    The segments stay strictly decreasing in size, like the digits of a binary counter: the
    last ones are merged while the one before them holds no more trials than they do
    together. So a head lists at most about log2(trials / trials per snapshot) segments and
    each trial is copied as often. No merge makes a segment larger than
    :data:`MAX_SEGMENT_BYTES` (beyond that size, segments stay as they are).
    """
    return plan_merge([(ref.trials, ref.size) for ref in segments], MAX_SEGMENT_BYTES)


_COLUMNS = frozenset(INT_COLUMNS + FLOAT_COLUMNS + JSON_COLUMNS)


def _split(data: bytes) -> tuple[list[tuple[int, int, dict[str, tuple[int, int]]]], int]:
    """Return a segment's chunks (study id, trial count, absolute column ranges) and the
    offset of its body.

    Raises:
        BrokenSnapshotError: not a segment of this format.
    """
    end = data.find(b"\n")
    try:
        if end < 0:
            raise ValueError("no header line")
        header = json.loads(data[:end])
        if header["format"] != SNAPSHOT_FORMAT or not isinstance(header["studies"], list):
            raise ValueError("not a segment of this format")
        body = end + 1
        size = len(data) - body
        chunks = []
        for sid, count, ranges in header["studies"]:
            if type(sid) is not int or type(count) is not int or set(ranges) != _COLUMNS:
                raise ValueError("a malformed study entry")
            absolute = {}
            for name, (start, stop) in ranges.items():
                if not 0 <= start <= stop <= size:
                    raise ValueError(f"column {name} out of the segment")
                absolute[name] = (body + start, body + stop)
            chunks.append((sid, count, absolute))
    except (KeyError, TypeError, ValueError) as e:
        raise BrokenSnapshotError(f"malformed segment ({type(e).__name__}: {e})") from None
    return chunks, body


def merge_segments(datas: list[bytes]) -> bytes:
    """Return one segment holding the trials of ``datas`` (columns are copied as bytes).

    Raises:
        BrokenSnapshotError: one of them is not a segment.
    """
    merged: dict[int, tuple[list[int], dict[str, list[bytes]]]] = {}
    for data in datas:
        chunks, _ = _split(data)
        for sid, count, ranges in chunks:
            counts, parts = merged.setdefault(sid, ([], {name: [] for name in _COLUMNS}))
            counts.append(count)
            for name, (start, stop) in ranges.items():
                parts[name].append(data[start:stop])
    return _segment_bytes(
        [
            (sid, sum(counts), {name: merge_columns(name, p) for name, p in sorted(parts.items())})
            for sid, (counts, parts) in merged.items()
        ]
    )


def load_state(doc: dict[str, Any], segments: list[bytes]) -> ReplayState:
    """Rebuild a replay state from a head document and its segments' bytes (in the head's
    order). Segment rows are parsed per study when the study is first used (see
    :attr:`ReplayState.trials`); everything else is checked here.

    Raises:
        BrokenSnapshotError: the head or a segment is malformed, or they do not fit together.
    """
    try:
        return _load(doc, segments)
    except BrokenSnapshotError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise BrokenSnapshotError(f"malformed snapshot ({type(e).__name__}: {e})") from None


def _load(doc: dict[str, Any], segments: list[bytes]) -> ReplayState:
    head = Head.parse(doc, 0)
    if len(segments) != len(head.segments):
        raise BrokenSnapshotError("segments missing")
    state = ReplayState()
    dists = [json_to_distribution(text) for text in head.dists]
    for text, dist in zip(head.dists, dists, strict=True):
        state.cache_distribution(text, dist)
    row_dsets = [{name: dists[i] for name, i in dset.items()} for dset in head.dsets]
    state.row_dsets = row_dsets
    _load_studies(doc, dists, state)
    trial_study = [-1] * head.n_trials
    _load_segments(head, segments, state.studies, trial_study)
    state.trials = _load_unfinished(doc, head.n_trials, state.studies, trial_study, row_dsets)
    _check_every_trial_placed(state.studies, trial_study)
    state.trial_study = trial_study
    state.heartbeats = {int(k): float(v) for k, v in doc["heartbeats"]}
    state.structure = [(int(a), int(b), int(c)) for a, b, c in doc["structure"]]
    state.records_applied = int(doc["records_applied"])
    return state


def _load_studies(doc: dict[str, Any], dists: list[BaseDistribution], state: ReplayState) -> None:
    """The head's studies, with room for their trials' ids."""
    for sid, row in enumerate(doc["studies"]):
        name, directions, ua, sa, deleted, sdists, deleted_trials, count = row
        if not isinstance(name, str) or not isinstance(ua, dict) or not isinstance(sa, dict):
            raise TypeError(f"study {sid}: malformed")
        study = Study(
            name=name,
            directions=[StudyDirection(d) for d in directions],
            user_attrs=ua,
            system_attrs=sa,
            deleted=bool(deleted),
            distributions={k: dists[i] for k, i in sdists.items()},
            trial_ids=[-1] * int(count),
            deleted_trials={int(t) for t in deleted_trials},
        )
        state.studies.append(study)
        if not study.deleted:
            state.name_to_id[name] = sid


def _place(trial_id: int, number: int, sid: int, study: Study, trial_study: list[int]) -> None:
    """Record trial ``trial_id`` as number ``number`` of study ``sid``.

    Raises:
        ValueError: the id or the number was placed before.
    """
    if trial_id < 0 or trial_study[trial_id] != -1 or study.trial_ids[number] != -1:
        raise ValueError(f"trial {trial_id} listed twice")
    trial_study[trial_id] = sid
    study.trial_ids[number] = trial_id


def _place_run(
    ids: list[int], numbers: list[int], sid: int, study: Study, trial_study: list[int]
) -> bool:
    """Place a chunk whose ids and numbers are both consecutive, at once (the common case:
    one study, trials finishing in order), as :func:`_place` would one by one. Returns
    False, having placed nothing, for any other chunk (:func:`_place` then tells what is
    wrong, if anything)."""
    if not (is_run(ids) and is_run(numbers)):
        return False
    first_id, first_number, n = ids[0], numbers[0], len(ids)
    if first_id < 0 or first_number < 0:
        return False
    id_slots = trial_study[first_id : first_id + n]
    number_slots = study.trial_ids[first_number : first_number + n]
    if len(id_slots) != n or len(number_slots) != n:
        return False
    if id_slots.count(-1) != n or number_slots.count(-1) != n:
        return False
    trial_study[first_id : first_id + n] = [sid] * n
    study.trial_ids[first_number : first_number + n] = ids
    return True


def _load_segments(
    head: Head, segments: list[bytes], studies: list[Study], trial_study: list[int]
) -> None:
    """Place the finished trials of every segment and keep their chunks (decoded later)."""
    for ref, data in zip(head.segments, segments, strict=True):
        if len(data) != ref.size:
            raise BrokenSnapshotError(f"segment {ref.name}: {len(data)} bytes, not {ref.size}")
        chunks, _ = _split(data)
        view = memoryview(data)
        for sid, count, ranges in chunks:
            study = studies[sid]
            start, stop = ranges["id"]
            ids = array_of_ints(view[start:stop])
            start, stop = ranges["number"]
            numbers = array_of_ints(view[start:stop])
            if len(ids) != count or len(numbers) != count:
                raise ValueError("a chunk's trial count does not fit its columns")
            if not _place_run(ids, numbers, sid, study, trial_study):
                for trial_id, number in zip(ids, numbers, strict=True):
                    _place(trial_id, number, sid, study, trial_study)
            study.chunks.append(SegmentChunk(data, ranges))


def _load_unfinished(
    doc: dict[str, Any],
    n_trials: int,
    studies: list[Study],
    trial_study: list[int],
    row_dsets: list[dict[str, BaseDistribution]],
) -> list[FrozenTrial | None]:
    """The trials list, holding the head's unfinished trials (the others are in chunks)."""
    trials: list[FrozenTrial | None] = [None] * n_trials
    for trial_id, sid, number, row in doc["unfinished"]:
        _place(trial_id, number, sid, studies[sid], trial_study)
        trial = parse_row(trial_id, number, row, row_dsets)
        if trial.state.is_finished():
            raise ValueError(f"unfinished trial {trial_id} is finished")
        trials[trial_id] = trial
    return trials


def _check_every_trial_placed(studies: list[Study], trial_study: list[int]) -> None:
    """Raise ValueError unless ids and numbers are 0..n-1 and deleted trials are their
    study's."""
    if -1 in trial_study or any(-1 in s.trial_ids for s in studies):
        raise ValueError("the trials are not 0..n-1")
    for sid, study in enumerate(studies):
        for trial_id in study.deleted_trials:
            if trial_study[trial_id] != sid:
                raise ValueError(f"deleted trial {trial_id} is not in its study")


def _merge_tail(store: SnapshotStore, refs: list[SegmentRef]) -> list[SegmentRef]:
    """Return ``refs`` with the segments :func:`plan_merges` names merged into a new one
    (unchanged when there is nothing to merge or a segment cannot be read or written)."""
    plan = plan_merges(refs)
    if plan is None:
        return refs
    start, end = plan
    datas = store.read_segments([ref.name for ref in refs[start:end]])
    if datas is None:
        return refs
    try:
        merged = merge_segments(datas)
    except BrokenSnapshotError:
        return refs
    del datas
    name = store.write_segment(merged)
    if name is None:
        return refs
    trials = sum(ref.trials for ref in refs[start:end])
    return [*refs[:start], SegmentRef(name, trials, len(merged))]


def write_snapshot(
    store: SnapshotStore, take: Callable[[Head | None, Any], Capture | None]
) -> int | None:
    """Write a snapshot that extends the store's current head, under the store's lock.

    ``take(base, log)`` is called with the current head (None: none, or it does not match
    the log) and the log it is in; it returns the capture to write (see :func:`capture`) or
    None to write nothing (the head is recent enough, or the caller's state is not in that
    log). Encoding, segment writes and merges run outside the caller's lock.

    Returns the records covered by the newest head now in place (written or found), or None
    when nothing could be decided (lock not had, a write failed, the log moved).
    """
    with store.exclusive() as held:
        if not held:
            return None
        doc, records, log = store.read_head()
        base: Head | None = None
        if doc is not None:
            try:
                base = Head.parse(doc, records)
            except BrokenSnapshotError:
                base = None
        try:
            cap = take(base, log)
        except BrokenSnapshotError:
            cap = take(None, log)
        if cap is None:
            return None if base is None else base.records
        tables = new_tables(cap.base)
        new = write_segments(store, cap, tables)
        if new is None:
            return None
        refs = _merge_tail(store, [*([] if cap.base is None else cap.base.segments), *new])
        head = encode_head(cap, tables, refs)
        keep = {ref.name for ref in refs}
        if base is not None:
            keep.update(ref.name for ref in base.segments)  # a reader may be loading them
        if store.write_head(head, cap.position, keep):
            return cap.records
        return None
