"""Compaction: rewrite a journal to its minimal equivalent while workers keep running."""

from __future__ import annotations

import dataclasses
import os
import stat
import uuid
from typing import Any

from trialstore.exceptions import StorageInternalError
from trialstore.storage.journal._base import BaseJournalBackend, JournalReset
from trialstore.storage.journal._file import JournalFileBackend
from trialstore.storage.journal._records import COMPACTION_KEY, JournalOp, dump_file_line
from trialstore.storage.journal._redis import JournalRedisBackend
from trialstore.storage.journal._replay import MalformedRecordError, ReplayState
from trialstore.storage.journal._snapshot import (
    BrokenSnapshotError,
    Capture,
    Head,
    capture,
    encode_head,
    new_tables,
    write_segments,
)

__all__ = ["CompactionResult", "compact_journal"]

_MARKER = (
    '{"op_code":%d,"worker_id":"trialstore-compact","trial_ids":[],"%s":'
    '{"replaces":[%-20d,%-20d],"old_size":%-20d,"new_offset":%-20d,"new_lines":%-20d}}\n'
)


@dataclasses.dataclass(frozen=True)
class CompactionResult:
    """What :func:`compact_journal` did.

    File: ``records_before``/``records_after`` count lines and ``bytes_before``/
    ``bytes_after`` are the file sizes. Redis: both are taken atomically by the rewriting
    script over keys ``0..log_number``: records count the keys that are not compaction stubs
    (so a compacted log counts only its real records), and bytes are the sum of the values'
    lengths (Redis' own per-key overhead, roughly 50-80 bytes, is not counted; a stub is 45
    bytes).
    """

    records_before: int
    records_after: int
    bytes_before: int
    bytes_after: int
    snapshot_written: bool


def _replay(backend: BaseJournalBackend) -> ReplayState:
    state = ReplayState()
    for log_number, record in backend.read_new():
        try:
            state.apply(record)
        except MalformedRecordError as e:
            raise StorageInternalError(f"{backend.location(log_number)}: {e}") from e
    if state.in_batch:  # backends return a batch's records together (see read_new)
        raise StorageInternalError(
            "the journal's read ended inside a set_trial_params batch; compact again."
        )
    return state


def _compact_redis(backend: JournalRedisBackend) -> CompactionResult:
    """Compact a Redis journal (see :func:`compact_journal`); retry while other compactions
    interfere."""
    for _ in range(100):
        reader = JournalRedisBackend.__new__(JournalRedisBackend)
        reader.__setstate__(backend.__getstate__())
        try:
            try:
                state = _replay(reader)
            except JournalReset:
                continue  # compacted by someone else during the replay
            covered, generation = reader.position
            if covered == 0:
                return CompactionResult(0, 0, 0, 0, False)
            generation = 0 if generation is None else generation
            cap, tables = _full_snapshot(state, covered, (covered, generation + 1))
            store = reader.snapshot_store()
            with store.exclusive() as snapshots:
                refs = write_segments(store, cap, tables) if snapshots else None
                figures = reader._replace_prefix(
                    generation,
                    covered,
                    list(state.to_records()),
                    None if refs is None else encode_head(cap, tables, refs),
                )
        finally:
            reader.close()
        if figures is not None:
            records_before, bytes_before, records_after, bytes_after = figures
            return CompactionResult(
                records_before=records_before,
                records_after=records_after,
                bytes_before=bytes_before,
                bytes_after=bytes_after,
                snapshot_written=refs is not None,
            )
    raise StorageInternalError(
        f"could not compact Redis journal {backend.prefix!r}: compacted 100 times meanwhile"
    )


def _marker(ident: tuple[int, int], old_size: int, new_offset: int, new_lines: int) -> bytes:
    text = _MARKER % (
        int(JournalOp.DISCARD_TRIALS),
        COMPACTION_KEY,
        ident[0],
        ident[1],
        old_size,
        new_offset,
        new_lines,
    )
    return text.encode("ascii")


def compact_journal(backend: BaseJournalBackend) -> CompactionResult:
    """Compact the journal that ``backend`` names (``backend`` itself is only used for its
    location; its reading position does not move).

    File: replays the file without any lock, writes the minimal equivalent records (one
    CREATE_TRIAL per trial holding its whole content; every id and number kept) to a temporary
    file, then, holding the writers' lock only for this last step, copies the records appended
    meanwhile, and atomically replaces the file (``os.replace``). A snapshot of the compacted
    part is written next to it. Readers notice the new file and continue from the equivalent
    position (a marker record, ignored by Optuna, maps the old file's end to it), so no record
    is lost or applied twice, and writers append to the new file. Optuna processes must not
    have the journal open during compaction (they cannot follow a replaced file).

    Redis: replays the keys ``0..K-1`` without blocking anyone (K: the log's end when the
    replay reached it), then one Lua script (atomic in Redis, so it blocks Redis for roughly
    10 microseconds per log key: 0.8 s for 100 000 keys) rewrites keys ``0..M-1`` with the
    minimal records and keys ``M..K-1`` with a tiny stub record that Optuna and trialstore
    ignore, stores trialstore's snapshot of the result up to K and increments
    ``<prefix>:trialstore:generation`` -- only if no other compaction ran since the replay
    (else it starts again). Records appended after K are left as they are. Keys are
    overwritten, never deleted: Optuna 5.0 reads every log number from 0 to ``log_number``
    and waits forever for a missing key, so dropping the stubs would hang Optuna readers (and
    renumbering the log would break every open reader's position). trialstore readers open
    meanwhile notice the new generation and, if they had not read up to K yet, reload from
    the new snapshot; writers receive the records before their own in the same atomic step as
    their append, so no record is lost or applied twice. Optuna processes must not have the
    journal open during compaction (their position could fall inside the rewritten keys), and
    compaction refuses to run while Optuna's own snapshot key ``<prefix>:snapshot`` exists
    (only its existence is checked: it would restore an Optuna process to a log number inside
    the rewritten keys).

    Raises:
        StorageInternalError: the journal is corrupt, the new file cannot be written, Redis
            failed or Optuna's snapshot key exists.
        ValueError: an unknown backend type.
    """
    if isinstance(backend, JournalFileBackend):
        return _compact_file(backend)
    if isinstance(backend, JournalRedisBackend):
        return _compact_redis(backend)
    raise ValueError(f"cannot compact a {type(backend).__name__}.")


def _compact_file(backend: JournalFileBackend) -> CompactionResult:
    path = backend.file_path
    lock = backend._lock
    for _ in range(100):
        reader = JournalFileBackend.__new__(JournalFileBackend)
        reader.__setstate__(backend.__getstate__())
        try:
            state = _replay(reader)
            fd, ident, covered = reader._fd, reader._ident, reader._offset
            assert fd is not None
            tmp = f"{path}.compact-{uuid.uuid4().hex}.tmp"
            try:
                result = _write_compacted(reader, state, fd, ident, covered, tmp, lock)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        finally:
            reader.close()
        if result is not None:
            return result
    raise StorageInternalError(f"could not compact {path}: it was replaced 100 times meanwhile")


def _full_snapshot(state: ReplayState, records: int, position: object) -> tuple[Capture, Any]:
    """What a snapshot of all of ``state`` needs: its capture and distribution tables."""
    cap = capture(state, None, records, position)
    return cap, new_tables(None)


def _write_compacted(
    reader: JournalFileBackend,
    state: ReplayState,
    fd: int,
    ident: tuple[int, int],
    covered: int,
    tmp: str,
    lock: object,
) -> CompactionResult | None:
    path = reader.file_path
    records_before = reader._line
    try:
        out = open(tmp, "w+b")
    except OSError as e:
        raise StorageInternalError(f"cannot write the compacted journal {tmp}: {e}") from e
    store = reader.snapshot_store()
    with out:
        out.write(_marker((0, 0), 0, 0, 0))
        lines = 1
        for record in state.to_records():
            out.write(dump_file_line(record))
            lines += 1
        prefix_end = out.tell()
        prefix_lines = lines
        out.flush()
        st_out = os.fstat(out.fileno())
        _, _, position = reader.position_of(
            out.fileno(), (st_out.st_dev, st_out.st_ino), prefix_end, prefix_lines
        )
        cap, tables = _full_snapshot(state, prefix_lines, position)
        with store.exclusive() as snapshots:
            # Readers of the old file's head may be loading its segments: keep them once more.
            old_head, _, _ = store.read_head()
            keep = set()
            if old_head is not None:
                try:
                    keep = {ref.name for ref in Head.parse(old_head, 0).segments}
                except BrokenSnapshotError:
                    keep = set()
            refs = write_segments(store, cap, tables) if snapshots else None
            lock.acquire()  # type: ignore[attr-defined]
            try:
                st = os.stat(path)
                if (st.st_dev, st.st_ino) != ident:
                    return None  # compacted by someone else meanwhile: start again
                size = os.fstat(fd).st_size
                tail = os.pread(fd, size - covered, covered)
                tail = tail[: tail.rfind(b"\n") + 1]
                out.write(tail)
                tail_lines = tail.count(b"\n")
                final = out.tell()
                out.seek(0)
                out.write(_marker(ident, covered + len(tail), final, lines + tail_lines))
                out.flush()
                os.fsync(out.fileno())
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
                os.replace(tmp, path)
                dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            finally:
                lock.release()  # type: ignore[attr-defined]
            written = refs is not None and store.write_head(
                encode_head(cap, tables, refs), position, keep | {ref.name for ref in refs}
            )
    return CompactionResult(
        records_before=records_before + tail_lines,
        records_after=lines + tail_lines,
        bytes_before=covered + len(tail),
        bytes_after=final,
        snapshot_written=written,
    )
