"""Snapshots of finished trials in the RDB storage: reading and writing segments (private).

Reading a study of a million trials row by row (nine rows a trial) costs tens of seconds in
Python. trialstore therefore keeps, in its own table ``trialstore_trial_segments``, segments
of each study's finished trials as binary columns (see :mod:`_segment_codec`), which a
process decodes at the cost of a memory copy per column, and reads rows only for what the
segments do not cover.

**What a segment covers.** A segment of a study covers the id range ``first..last``: it holds
every trial of the study in that range that was finished when it was written, and names the
others (``holes``; deleted trials are neither). A finished trial never changes, deletions are
recorded apart (``trialstore_deleted_trials``, applied to every read) and a segment never
changes either: it is true for good. It may also hold finished trials below its range
(``extras``: holes of earlier segments that had finished) and name holes of earlier segments
that were deleted (``settled``).

**Reading** (:meth:`Segments.first_read`, a study's first read in a process). One query
loads the study's segments; of those, the reader takes a *chain*, segments whose ranges
follow each other from id 0 without gap or overlap (the chain reaching the highest id; see
:func:`chain_of`), so that abandoned or redundant segments never matter. Its trials are
decoded, and the usual incremental read then fetches, in one statement, the rows of the
trials above the chain's top and of its open holes (holes neither held by a later segment
nor settled), with every deletion of the study. Segments and rows need not come from one
snapshot: both are true whenever read.

**Writing** (:meth:`Segments.write`). The writer reads the chain (without data), syncs this
process's view of the study, and encodes the finished trials from the chain's top up to the
view's cursor (below it, every trial is known: see ``StudyTrials.cursor``), with the chain's
holes that have since finished. It inserts the new segment only if it extends the chain, in
a write transaction that also deletes segments made redundant; a unique key on (study,
first, last) makes a concurrent writer of the same range fail instead of writing it twice.
Then the chain's last segments are merged as the digits of a binary counter carry (see
:func:`plan_merge`), so that a study has O(log n) segments, each at most
:data:`MAX_SEGMENT_BYTES` (MySQL: a third of ``max_allowed_packet``). A writer killed midway
leaves either nothing or a whole segment (each is one transaction).

**Keeping them current.** Each storage object counts the finished trials it reads as rows;
past ``threshold`` of a study, a background thread writes a segment of it (see
:meth:`Segments.note_read`), so a long run of trialstore workers leaves every study covered
up to the last ``threshold`` trials or so, whoever wrote them (Optuna included).

A database without the table (made by Optuna, opened with ``skip_table_creation=True``) has no
segments: reads go by rows only and :meth:`Segments.write` writes nothing.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import exc

from trialstore._core import FrozenTrial
from trialstore.storage import _columns
from trialstore.storage._gc import gc_paused
from trialstore.storage._trial_cache import StudyTrials, TrialCache
from trialstore.storage.rdb import _segment_codec as codec
from trialstore.storage.rdb._segment_codec import BrokenSegmentError, Meta
from trialstore.storage.rdb._tables import SEGMENTS_TABLE, studies, trial_segments, trials
from trialstore.storage.rdb._transactions import Transactions

__all__ = [
    "DEFAULT_THRESHOLD",
    "MAX_SEGMENT_BYTES",
    "Base",
    "Segments",
    "chain_of",
    "open_holes",
    "plan_merge",
]

_logger = logging.getLogger(__name__)

#: Finished trials a storage object reads as rows of one study before it writes a segment:
#: a fresh process then reads at most about as many rows (2000 trials: some 0.05 s), and
#: writers encode a segment (some 30 ms of a background thread) every so many trials.
DEFAULT_THRESHOLD = 2_000
#: The largest segment written or merged (MySQL/MariaDB: at most a third of the server's
#: ``max_allowed_packet``, which bounds one statement).
MAX_SEGMENT_BYTES = 64 * 2**20
#: The fewest trials per segment a large write is split into.
_MIN_PIECE = 1_000

_s = trial_segments.c
_META_COLUMNS = (_s.segment_id, _s.first_trial_id, _s.last_trial_id, _s.n_trials, _s.meta)
# A segment counts only while its last trial's row is its study's: the foreign key (or, on
# SQLite, a trigger) deletes a study's segments with it; this guards against anything else.
_LIVE = sa.and_(
    _s.study_id == sa.bindparam("study_id"),
    sa.exists().where(trials.c.trial_id == _s.last_trial_id, trials.c.study_id == _s.study_id),
)
#: The study ``:study_id``'s segments, with their data.
SELECT_WITH_DATA = sa.select(*_META_COLUMNS, _s.data).where(_LIVE)
#: ``SELECT_WITH_DATA`` for psycopg (3), whose binary results carry ``bytea`` as it is: in
#: text, as hexadecimal digits, it costs twice the bytes and a parse.
PG_SELECT_WITH_DATA = (
    "SELECT segment_id, first_trial_id, last_trial_id, n_trials, meta, data "
    f"FROM {SEGMENTS_TABLE} AS s WHERE study_id = %(study_id)s AND EXISTS "
    "(SELECT 1 FROM trials AS t WHERE t.trial_id = s.last_trial_id "
    "AND t.study_id = s.study_id)"
)
#: The study ``:study_id``'s segments, without their data.
SELECT_META = sa.select(*_META_COLUMNS).where(_LIVE)
#: The data of the segments ``:ids``.
SELECT_DATA = sa.select(_s.segment_id, _s.data).where(
    _s.segment_id.in_(sa.bindparam("ids", expanding=True))
)
DELETE = trial_segments.delete().where(_s.segment_id.in_(sa.bindparam("ids", expanding=True)))
INSERT = trial_segments.insert()
STUDY_IDS = sa.select(studies.c.study_id).order_by(studies.c.study_id)
STUDY_EXISTS = sa.select(studies.c.study_id).where(studies.c.study_id == sa.bindparam("study_id"))


class Base(NamedTuple):
    """What a study's segments hold: their trials, the top of the chain's range (-1: no
    segment), and the ids of the study's trials up to it that they do not hold (open holes,
    sorted; some may have been deleted)."""

    trials: list[FrozenTrial]
    top: int
    holes: list[int]


def chain_of(metas: Iterable[Meta]) -> list[Meta]:
    """The segments that cover the study's ids from 0 on, each range starting right after
    the previous one, as far as any such chain reaches (of chains reaching as far, the one of
    fewest segments). Empty when no segment starts at 0."""
    by_first: dict[int, list[Meta]] = {}
    for meta in metas:
        if meta.first <= meta.last:
            by_first.setdefault(meta.first, []).append(meta)
    # Best (reach, -segments) and next segment from each segment, from the highest first on.
    best: dict[int, tuple[tuple[int, int], Meta | None]] = {}
    for first in sorted(by_first, reverse=True):
        for meta in by_first[first]:
            score, after = (meta.last, -1), None
            for following in by_first.get(meta.last + 1, ()):
                (reach, count), _ = best[following.segment_id]
                if (reach, count - 1) > score:
                    score, after = (reach, count - 1), following
            best[meta.segment_id] = (score, after)
    starts = by_first.get(0, [])
    if not starts:
        return []
    current: Meta | None = max(starts, key=lambda m: (best[m.segment_id][0], -m.segment_id))
    chain = []
    while current is not None:
        chain.append(current)
        current = best[current.segment_id][1]
    return chain


def open_holes(chain: Sequence[Meta]) -> set[int]:
    """The holes of ``chain`` that no segment of it holds and none settled."""
    holes: set[int] = set()
    covered: set[int] = set()
    for meta in chain:
        holes |= meta.holes
        covered |= meta.extras | meta.settled
    return holes - covered


def plan_merge(chain: Sequence[Meta], max_bytes: int) -> tuple[int, int] | None:
    """The slice ``(start, end)`` of ``chain`` to merge into one segment, or None.

    The chain's trial counts stay strictly decreasing, as the digits of a binary counter:
    its last segments are merged while the one before them holds no more trials than they do
    together (so a study has about log2(trials / threshold) segments, and each trial is
    copied as often), and no merge makes a segment larger than ``max_bytes``.
    """
    return _columns.plan_merge([(meta.n_trials, meta.size) for meta in chain], max_bytes)


def read_segments(connection: sa.Connection, study_id: int) -> list[Sequence[Any]]:
    """The rows of ``SELECT_WITH_DATA`` (in psycopg's binary format on PostgreSQL).

    Raises:
        sqlalchemy.exc.DBAPIError: a database error, wrapped as SQLAlchemy wraps it (so that
            conflicts and lost connections are retried as usual).
    """
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return list(connection.execute(SELECT_WITH_DATA, {"study_id": study_id}).all())
    import psycopg

    raw: Any = connection.connection.driver_connection
    params = {"study_id": study_id}
    try:
        with raw.cursor(binary=True) as cursor:
            cursor.execute(PG_SELECT_WITH_DATA, params)
            return list(cursor.fetchall())
    except psycopg.Error as e:
        lost = bool(raw.closed or raw.broken)
        if lost:
            connection.invalidate()
        raise exc.DBAPIError.instance(
            PG_SELECT_WITH_DATA, params, e, psycopg.Error, connection_invalidated=lost
        ) from e


def _parse(rows: Iterable[Sequence[Any]]) -> list[Meta]:
    """The segments of ``rows`` (id, first, last, count, meta, ...) whose meta parses."""
    metas = []
    for row in rows:
        try:
            metas.append(Meta.parse(row[0], row[1], row[2], row[3], row[4]))
        except BrokenSegmentError as e:
            _logger.warning("Ignoring snapshot segment %s: %s", row[0], e)
    return metas


class _Capture(NamedTuple):
    """What a segment write takes from a view: the finished trials to hold (by id), the new
    holes, the earlier holes now deleted, and the new top."""

    trials: list[FrozenTrial]
    holes: list[int]
    settled: list[int]
    top: int


def _capture(view: StudyTrials, top: int, holes: set[int]) -> _Capture | None:
    """What a segment extending a chain (its ``top`` and open ``holes``) holds, from a view
    synced just now (None: nothing to write). Every live trial up to the view's cursor is
    held in it, so a hole it does not hold was deleted."""
    cutoff = view.cursor()
    if cutoff <= top:
        return None
    finished: list[FrozenTrial] = []
    new_holes: list[int] = []
    for trial in [t for t in view.ordered if top < t._trial_id <= cutoff]:
        if trial.state.is_finished():
            finished.append(trial)
        else:
            new_holes.append(trial._trial_id)
    extras: list[FrozenTrial] = []
    settled: list[int] = []
    for trial_id in holes:
        held = view.by_id.get(trial_id)
        if held is None:
            settled.append(trial_id)
        elif held.state.is_finished():
            extras.append(held)
    if not finished and not extras:
        return None
    chosen = sorted(extras, key=_trial_id) + sorted(finished, key=_trial_id)
    return _Capture(chosen, new_holes, settled, cutoff)


def _trial_id(trial: FrozenTrial) -> int:
    return trial._trial_id


class _Piece(NamedTuple):
    first: int
    last: int
    n_trials: int
    meta: str
    data: bytes


def _pieces(capture: _Capture, first: int, max_bytes: int) -> list[_Piece]:
    """Encode ``capture`` as segments from id ``first`` on, each at most ``max_bytes`` (or of
    :data:`_MIN_PIECE` trials): its trials above ``first`` split by id, each piece's range
    ending at its last trial's id (the last piece's at the capture's top); the first piece
    also holds the trials below ``first`` and names the settled holes."""
    trials = capture.trials
    n_extras = sum(1 for t in trials if t._trial_id < first)
    natives = trials[n_extras:]
    size = len(natives)
    if len(trials) > 10 * _MIN_PIECE:  # likely too large for one: size pieces by a sample
        sample = trials[:_MIN_PIECE]
        per_trial = max(1, len(codec.encode(sample, (), (), ())[1]) // len(sample))
        size = max(_MIN_PIECE, int(max_bytes * 0.9) // per_trial)
    pieces: list[_Piece] = []
    start, low = 0, first
    while True:
        end = min(len(natives), start + size)
        high = capture.top if end == len(natives) else natives[end - 1]._trial_id
        holes = [h for h in capture.holes if low <= h <= high]
        if pieces:
            meta, data = codec.encode(natives[start:end], holes, (), ())
        else:
            extras = [t._trial_id for t in trials[:n_extras]]
            meta, data = codec.encode(trials[: n_extras + end], holes, extras, capture.settled)
        if len(data) > max_bytes and end - start > _MIN_PIECE:
            size = max(_MIN_PIECE, (end - start) // 2)
            continue
        pieces.append(_Piece(low, high, end - start + (0 if pieces else n_extras), meta, data))
        if end == len(natives):
            return pieces
        start, low = end, high + 1


class Segments:
    """The snapshot segments of one storage object: reads through them, writes of them
    (through ``transactions``, with ``cache``'s views), and the background writer that keeps
    them current once this object has read ``threshold`` finished trials of a study as rows
    (0: never in the background).

    Thread-safe; in a forked child the parent's writer thread is not running, and the first
    due write starts one.
    """

    def __init__(self, transactions: Transactions, cache: TrialCache, threshold: int) -> None:
        self._transactions = transactions
        self._cache = cache
        self.threshold = threshold
        self._available: bool | None = None
        self._max_bytes: int | None = None
        self._dsets = codec.DsetCache()
        self._lock = threading.Lock()
        #: study id -> finished trials read as rows since this object last wrote its segments.
        self._pending: dict[int, int] = {}
        self._due: list[int] = []
        self._running = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        #: Segments this object wrote or merged (for tests and benchmarks).
        self.written = 0

    def available(self) -> bool:
        """Whether the database holds the table of segments (asked once)."""
        if self._available is None:
            self._available = self._transactions.run(
                lambda c: sa.inspect(c).has_table(SEGMENTS_TABLE), mode="none"
            )
        return self._available

    # -- reading ----------------------------------------------------------------------------

    def first_read(self, study_id: int) -> Base | None:
        """Load the study's segments (one query) and decode the chain's trials (None: no
        usable segment). A chain segment that does not decode ends the chain there."""
        if not self.available():
            return None
        rows = self._transactions.run(lambda c: read_segments(c, study_id), mode="none")
        if not rows:
            return None
        chain = chain_of(_parse(rows))
        datas = {int(row[0]): row[5] for row in rows}
        del rows
        kept: list[Meta] = []
        built: list[FrozenTrial] = []
        with gc_paused():
            for meta in chain:
                try:
                    built.extend(codec.decode(meta, datas.pop(meta.segment_id), self._dsets))
                except BrokenSegmentError as e:
                    _logger.warning("Ignoring snapshot segment %s: %s", meta.segment_id, e)
                    break
                kept.append(meta)
        if not kept:
            return None
        return Base(built, kept[-1].last, sorted(open_holes(kept)))

    def note_read(self, study_id: int, fetched: Iterable[FrozenTrial]) -> None:
        """Count the finished trials of the study just read as rows; past the threshold,
        have the background writer write the study's segments."""
        if not self.threshold:
            return
        finished = sum(1 for t in fetched if t.state.is_finished())
        if not finished:
            return
        with self._guard():
            pending = self._pending[study_id] = self._pending.get(study_id, 0) + finished
            if pending < self.threshold or study_id in self._due:
                return
            self._due.append(study_id)
            if self._running:
                return
            self._running = True
            self._thread = threading.Thread(
                target=self._run, name="trialstore-rdb-segments", daemon=True
            )
            self._thread.start()

    def _guard(self) -> threading.Lock:
        """The lock of the background writer's state (in a forked child, a new one: the
        parent's writer thread is not the child's, and may have held the lock)."""
        if os.getpid() != self._pid:
            self._pid, self._lock = os.getpid(), threading.Lock()
            self._due, self._running, self._thread = [], False, None
        return self._lock

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._due:
                    self._running = False
                    return
                study_id = self._due[0]
            try:
                # Other processes reading the study are due about as often: the first to
                # write spares the others most of the work.
                self.write(study_id, min_trials=self.threshold // 2)
            except Exception as e:  # best effort: due again after another threshold
                _logger.debug("Writing the segments of study %s failed: %s", study_id, e)
                with self._lock:
                    self._pending[study_id] = 0
            with self._lock:
                self._due.remove(study_id)
                if self._pending.get(study_id, 0) >= self.threshold:  # read meanwhile
                    self._due.append(study_id)

    def wait(self) -> None:
        """Wait for the background writer to finish what is due (for tests and closing)."""
        thread = self._thread
        if thread is not None and self._pid == os.getpid():
            thread.join()

    # -- writing ----------------------------------------------------------------------------

    def write_all(self, study_id: int | None) -> int:
        """Write segments of the study (None: of every study); return how many trials the
        new segments hold (0: none written). See :meth:`write`."""
        if not self.available():
            return 0
        if study_id is not None:
            return self.write(study_id)
        ids = self._transactions.run(
            lambda c: [int(r[0]) for r in c.execute(STUDY_IDS)], mode="none"
        )
        total = 0
        for each in ids:
            try:
                total += self.write(each)
            except KeyError:  # deleted meanwhile
                continue
        return total

    def write(self, study_id: int, min_trials: int = 1) -> int:
        """Write a segment of the study's finished trials that no segment covers yet (split
        in several when large; none when fewer than ``min_trials``), then merge its chain's
        last segments; return how many trials the new segments hold.

        Raises:
            KeyError: no such study.
        """
        if not self.available():
            return 0
        chain = chain_of(self._metas(study_id))
        top = chain[-1].last if chain else -1
        with self._cache.fresh_view(study_id) as view:
            capture = _capture(view, top, open_holes(chain))
            with self._guard():  # what was read up to here is covered now (or by others)
                self._pending[study_id] = 0
        written = 0
        if capture is not None and len(capture.trials) >= min_trials:
            for piece in _pieces(capture, top + 1, self._segment_bytes()):
                if not self._insert(study_id, piece):
                    break
                written += piece.n_trials
        self._merge(study_id)
        return written

    def _metas(self, study_id: int, connection: sa.Connection | None = None) -> list[Meta]:
        if connection is not None:
            return _parse(connection.execute(SELECT_META, {"study_id": study_id}))
        return self._transactions.run(lambda c: self._metas(study_id, c), mode="none")

    def _segment_bytes(self) -> int:
        """:data:`MAX_SEGMENT_BYTES`, or on MySQL/MariaDB a third of ``max_allowed_packet``."""
        if self._max_bytes is None:

            def ask(connection: sa.Connection) -> int:
                if connection.dialect.name not in ("mysql", "mariadb"):
                    return MAX_SEGMENT_BYTES
                packet = connection.exec_driver_sql("SELECT @@max_allowed_packet").scalar()
                return min(MAX_SEGMENT_BYTES, int(packet or 0) // 3)

            self._max_bytes = max(2**16, self._transactions.run(ask, mode="none"))
        return self._max_bytes

    def _insert(self, study_id: int, piece: _Piece) -> bool:
        """Insert ``piece`` if it extends the study's chain (checked in the transaction, which
        also drops the segments the new chain makes redundant); return whether it did."""

        def body(connection: sa.Connection) -> bool:
            # (SQLite does not enforce the foreign key: a deleted study gets no segment.)
            if connection.execute(STUDY_EXISTS, {"study_id": study_id}).first() is None:
                return False
            metas = self._metas(study_id, connection)
            mine = Meta.parse(-1, piece.first, piece.last, piece.n_trials, piece.meta)
            if not any(m.segment_id == -1 for m in chain_of([*metas, mine])):
                return False
            connection.execute(
                INSERT,
                {
                    "study_id": study_id,
                    "first_trial_id": piece.first,
                    "last_trial_id": piece.last,
                    "n_trials": piece.n_trials,
                    "meta": piece.meta,
                    "data": piece.data,
                },
            )
            _drop_redundant(connection, study_id, self._metas(study_id, connection))
            return True

        return self._commit(body)

    def _commit(self, body: Any) -> bool:
        """Run a write ``body``; False when a concurrent writer wrote the same range (the
        unique key) or the study was deleted (the foreign key)."""
        try:
            done: bool = self._transactions.run(body, mode="write")
        except exc.IntegrityError:
            return False
        if done:
            self.written += 1
        return done

    def _merge(self, study_id: int) -> None:
        """Merge the chain's last segments while :func:`plan_merge` finds some to merge."""
        max_bytes = self._segment_bytes()
        for _ in range(64):  # each merge shortens the chain: a bound, never reached
            chain = chain_of(self._metas(study_id))
            plan = plan_merge(chain, max_bytes)
            if plan is None:
                return
            parts = chain[plan[0] : plan[1]]
            found = self._datas([m.segment_id for m in parts])
            if len(found) != len(parts):
                continue  # merged or dropped meanwhile: plan again
            try:
                text, data = codec.merge([(m, found[m.segment_id]) for m in parts])
            except BrokenSegmentError:
                return
            del found
            if not self._replace(study_id, parts, text, data):
                return

    def _datas(self, ids: list[int]) -> dict[int, bytes]:
        """The data of the segments ``ids`` that exist, by id."""
        return self._transactions.run(
            lambda c: {int(r[0]): r[1] for r in c.execute(SELECT_DATA, {"ids": ids})},
            mode="none",
        )

    def _replace(self, study_id: int, parts: list[Meta], text: str, data: bytes) -> bool:
        """Insert the merge of ``parts`` and delete them, if they are all still there."""
        ids = [m.segment_id for m in parts]

        def body(connection: sa.Connection) -> bool:
            present = {m.segment_id for m in self._metas(study_id, connection)}
            if not set(ids) <= present:
                return False
            connection.execute(
                INSERT,
                {
                    "study_id": study_id,
                    "first_trial_id": parts[0].first,
                    "last_trial_id": parts[-1].last,
                    "n_trials": sum(m.n_trials for m in parts),
                    "meta": text,
                    "data": data,
                },
            )
            connection.execute(DELETE, {"ids": ids})
            _drop_redundant(connection, study_id, self._metas(study_id, connection))
            return True

        return self._commit(body)


def _drop_redundant(connection: sa.Connection, study_id: int, metas: list[Meta]) -> None:
    """Delete the study's segments that its chain covers but does not use."""
    chain = chain_of(metas)
    if not chain:
        return
    used = {m.segment_id for m in chain}
    top = chain[-1].last
    redundant = [m.segment_id for m in metas if m.segment_id not in used and m.last <= top]
    if redundant:
        connection.execute(DELETE, {"ids": redundant})
