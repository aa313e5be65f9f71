"""The journal file backend: one JSON record per line, appended under an OS lock."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

import portalocker

from trialstore.exceptions import StorageInternalError, StorageNotFoundError
from trialstore.storage.journal._base import BaseJournalBackend, JournalReset, SnapshotStore
from trialstore.storage.journal._records import (
    COMPACTION_KEY,
    dump_file_line,
    incomplete_batch_start,
)

__all__ = [
    "FileSnapshotStore",
    "JournalFileBackend",
    "JournalFileLock",
    "JournalFileOpenLock",
    "JournalFileSymlinkLock",
]

_CHUNK = 16 * 1024 * 1024
_TAIL_CHECK = 4096
LOCK_SUFFIX = ".tslock"
SNAPSHOT_SUFFIX = ".snapshot"
_SEGMENT_SUFFIX = ".seg"
_SNAPSHOT_LOCK_SUFFIX = ".lock"
#: Seconds after which a temporary head file nobody renamed is a dead writer's leftover.
_ABANDONED_SNAPSHOT_S = 600.0
#: Seconds a snapshot writer waits for another one before giving up (it retries later).
_SNAPSHOT_LOCK_WAIT_S = 60.0


class _Lock(Protocol):
    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


class JournalFileLock:
    """An exclusive OS lock (``flock`` through portalocker) on ``<file>.tslock``.

    The kernel drops the lock when its holder exits for any reason, SIGKILL included, so a
    lock is never stale. Safe for threads (an in-process lock is taken first) and for forked
    children (the lock file is reopened in a new process). The lock file stays on disk.
    """

    def __init__(self, filepath: str) -> None:
        self._lock_path = os.fspath(filepath) + LOCK_SUFFIX
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"_lock_path": self._lock_path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["_lock_path"][: -len(LOCK_SUFFIX)])  # type: ignore[misc]

    def acquire(self) -> bool:
        """Block until this process holds the lock; return True."""
        if self._pid != os.getpid():
            # A forked child: the parent's thread lock and descriptor are the parent's.
            self._thread_lock = threading.Lock()
            self._fd = None
            self._pid = os.getpid()
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            portalocker.lock(self._fd, portalocker.LockFlags.EXCLUSIVE)
        except BaseException:
            self._thread_lock.release()
            raise
        return True

    def release(self) -> None:
        """Release the lock held by :meth:`acquire`."""
        try:
            assert self._fd is not None
            portalocker.unlock(self._fd)
        finally:
            self._thread_lock.release()


class JournalFileOpenLock(JournalFileLock):
    """Name kept for scripts written for Optuna; the same OS lock as :class:`JournalFileLock`.

    ``grace_period`` is accepted and ignored: an OS lock cannot outlive its holder.
    """

    def __init__(self, filepath: str, grace_period: int | None = 30) -> None:
        super().__init__(filepath)


class JournalFileSymlinkLock(JournalFileOpenLock):
    """Name kept for scripts written for Optuna; the same OS lock as :class:`JournalFileLock`."""


def _no_journal_file(path: str) -> str:
    """The message for a journal file that is not there, naming what is there instead."""
    if os.path.isdir(path):
        return f"no storage at journal://{path}: it is a directory."
    if not os.path.isdir(os.path.dirname(path)):
        return f"no storage at journal://{path}: its directory does not exist."
    return (
        f"no storage at journal://{path}: the file does not exist. A storage is created there "
        f"on first use: trialstore create-study --storage journal://{path}"
    )


def _tail_digest(fd: int, offset: int) -> str:
    start = max(0, offset - _TAIL_CHECK)
    return hashlib.sha256(os.pread(fd, offset - start, start)).hexdigest()


class JournalFileBackend(BaseJournalBackend):
    """A journal in one file, in Optuna 5.0's format (compatible both ways).

    Appends take an exclusive OS lock (:class:`JournalFileLock`, or ``lock_obj`` if given: any
    object with ``acquire()`` and ``release()``) that covers only the write; readers take no
    lock. A record becomes visible to others when its whole line, newline included, is in the
    file: a writer killed in the middle of a write leaves a *torn tail* (bytes without a
    final newline) that readers ignore and the next appender cuts off under the lock before
    writing, so it can never merge with a later record.

    ``fsync=True`` also flushes each append to the disk (survives power loss, costs a disk
    flush per write); without it an acknowledged append survives the death of any process
    but not of the machine.

    trialstore's snapshot of the replay state is kept next to the file: a head in
    ``<file>.snapshot`` and segments in ``<file>.snapshot.<name>.seg`` (see
    :class:`FileSnapshotStore`).
    The file may be read-only (then only reading works). If the file is missing it is
    created, unless ``create`` is False.

    Raises:
        StorageInternalError: the file cannot be created or opened.
        StorageNotFoundError: ``create`` is False and the file does not exist (nothing is
            created).
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        lock_obj: _Lock | None = None,
        *,
        fsync: bool = False,
        create: bool = True,
    ) -> None:
        self._path = os.path.abspath(os.fspath(file_path))
        self._custom_lock = lock_obj
        self._lock: _Lock = lock_obj if lock_obj is not None else JournalFileLock(self._path)
        self._fsync = fsync
        if not create and not os.path.isfile(self._path):
            raise StorageNotFoundError(_no_journal_file(self._path))
        if not os.path.exists(self._path):
            try:
                os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666))
            except OSError as e:
                raise StorageInternalError(f"cannot create journal file {self._path}: {e}") from e
        self._init_handles()

    def _init_handles(self) -> None:
        self._fd: int | None = None  # reading
        self._ident: tuple[int, int] = (-1, -1)
        self._offset = 0
        self._line = 0
        self._wfd: int | None = None  # appending
        self._wident: tuple[int, int] = (-1, -1)

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self._path, "lock": self._custom_lock, "fsync": self._fsync}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._path = state["path"]
        self._custom_lock = state["lock"]
        self._lock = self._custom_lock or JournalFileLock(self._path)
        self._fsync = state["fsync"]
        self._init_handles()

    @property
    def file_path(self) -> str:
        """The absolute path of the journal file."""
        return self._path

    # -- reading -------------------------------------------------------------------------------

    def _open_reader(self) -> None:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY)
            except OSError as e:
                raise StorageInternalError(f"cannot open journal file {self._path}: {e}") from e
            st = os.fstat(self._fd)
            self._ident = (st.st_dev, st.st_ino)

    def location(self, log_number: int) -> str:
        return f"journal file {self._path}, line {log_number}"

    def reset(self) -> None:
        self._open_reader()
        self._offset = 0
        self._line = 0

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        self._open_reader()
        assert self._fd is not None
        try:
            st = os.stat(self._path)
        except OSError as e:
            raise StorageInternalError(f"journal file {self._path} is gone: {e}") from e
        out: list[tuple[int, dict[str, Any]]] = []
        if (st.st_dev, st.st_ino) != self._ident:
            self._read_to(os.fstat(self._fd).st_size, out)
            self._follow_replacement()
            st = os.fstat(self._fd)
        if st.st_size < self._offset:
            raise StorageInternalError(
                f"journal file {self._path} shrank below {self._offset} bytes already read: "
                "it was truncated or rewritten in place (only appends are allowed)."
            )
        if st.st_size > self._offset:
            offset, line, replaced_records = self._offset, self._line, len(out)
            try:
                self._read_to(st.st_size, out)
            except BaseException:
                # Nothing of this call is applied: read it all again next time (unless the
                # records of a replaced file came first, which cannot be read again).
                if not replaced_records:
                    self._offset, self._line = offset, line
                raise
            start = incomplete_batch_start(out)
            if start is not None and start >= replaced_records:
                self._hold_back(len(out) - start)
                del out[start:]
        return out

    def _hold_back(self, n_lines: int) -> None:
        """Move the reading position back before the last ``n_lines`` lines read: the start
        of a ``set_trial_params`` batch whose other lines are not in the file yet. A reader
        may see the first lines of an append before the others (the kernel makes a write
        visible page by page), and a batch is applied only as a whole: its lines are read
        again, with the rest, next time. (A writer that died in the middle of its append
        leaves its batch incomplete for good; the next record appended by anyone ends it,
        and the replay drops it.)"""
        assert self._fd is not None
        pos = self._offset - 1  # the newline ending the last line read
        remaining = n_lines
        while remaining > 0 and pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(self._fd, pos - start, start)
            cut = len(chunk)
            while remaining > 0:
                cut = chunk.rfind(b"\n", 0, cut)
                if cut < 0:
                    break
                remaining -= 1
            if remaining == 0:
                pos = start + cut
                break
            pos = start
        self._offset = 0 if remaining > 0 else pos + 1
        self._line -= n_lines

    def _read_to(self, size: int, out: list[tuple[int, dict[str, Any]]]) -> None:
        assert self._fd is not None
        while self._offset < size:
            data = os.pread(self._fd, min(size - self._offset, _CHUNK), self._offset)
            if not data:
                return
            end = data.rfind(b"\n")
            if end < 0:
                if self._offset + len(data) < size and len(data) == _CHUNK:
                    data = os.pread(self._fd, size - self._offset, self._offset)
                    end = data.rfind(b"\n")
                if end < 0:
                    self._check_torn_tail(data)
                    return
            line = self._line
            for record in self._parse_lines(data[:end].split(b"\n")):
                line += 1
                if type(record) is not dict or "op_code" not in record:
                    raise self._bad_line(line, "not a journal record (a JSON object with op_code)")
                out.append((line, record))
            self._line = line
            self._offset += end + 1

    def _parse_lines(self, lines: list[bytes]) -> list[Any]:
        """Return the JSON values of ``lines``, the lines after line ``self._line``.

        One json.loads for the whole chunk (as an array) instead of one per line: the
        per-call overhead was a third of a reader's cost with several writers. Any problem
        falls back to line by line, which names the bad line.

        Raises:
            StorageInternalError: a line is not JSON (names the line).
        """
        loads = json.loads
        joined: list[Any] | None
        try:
            joined = loads(b"[" + b",".join(lines) + b"]")
        except ValueError:
            joined = None
        if joined is not None and len(joined) == len(lines):
            return joined
        records: list[Any] = []
        for raw in lines:
            try:
                records.append(loads(raw))
            except ValueError as e:
                raise self._bad_line(
                    self._line + len(records) + 1, f"corrupt record ({e})"
                ) from None
        return records

    def _bad_line(self, line: int, what: str) -> StorageInternalError:
        if line == 1:
            return StorageInternalError(f"{self._path} is not a journal file: line 1 is a {what}.")
        return StorageInternalError(
            f"journal file {self._path}, line {line}: {what}. A corrupt line in the middle of "
            "a journal is never skipped; repair or truncate the file by hand."
        )

    def _check_torn_tail(self, tail: bytes) -> None:
        if not tail.startswith(b"{"):
            raise self._bad_line(self._line + 1, "text that is not a JSON record")

    def _follow_replacement(self) -> None:
        """Switch to the file now at the path (after :meth:`_read_to` drained the old one)."""
        assert self._fd is not None
        old_ident, old_offset = self._ident, self._offset
        os.close(self._fd)
        self._fd = None
        self._open_reader()
        assert self._fd is not None
        head = os.pread(self._fd, 4096, 0)
        marker: Any = None
        if b"\n" in head:
            try:
                marker = json.loads(head[: head.index(b"\n")]).get(COMPACTION_KEY)
            except (ValueError, AttributeError):
                marker = None
        if (
            isinstance(marker, dict)
            and marker.get("replaces") == list(old_ident)
            and marker.get("old_size") == old_offset
        ):
            self._offset = int(marker["new_offset"])
            self._line = int(marker["new_lines"])
            return
        self._offset = 0
        self._line = 0
        raise JournalReset

    # -- appending -----------------------------------------------------------------------------

    def _writer(self) -> tuple[int, int]:
        """Return the appending descriptor of the file now at the path, and its size (lock
        held)."""
        try:
            st = os.stat(self._path)
        except OSError as e:
            raise StorageInternalError(f"journal file {self._path} is gone: {e}") from e
        if self._wfd is None or (st.st_dev, st.st_ino) != self._wident:
            if self._wfd is not None:
                os.close(self._wfd)
                self._wfd = None
            try:
                self._wfd = os.open(self._path, os.O_RDWR | os.O_APPEND)
            except OSError as e:
                raise StorageInternalError(
                    f"cannot append to journal file {self._path}: {e}"
                ) from e
            wst = os.fstat(self._wfd)
            self._wident = (wst.st_dev, wst.st_ino)
            self._check_head(self._wfd)
            return self._wfd, os.fstat(self._wfd).st_size
        return self._wfd, st.st_size

    def _check_head(self, fd: int) -> None:
        """Refuse to append to a non-empty file whose first line is not a journal record."""
        head = os.pread(fd, 65536, 0)
        if not head:
            return
        newline = head.find(b"\n")
        if newline < 0:
            if len(head) < 65536:
                self._check_torn_tail(head)
            return
        try:
            record = json.loads(head[:newline])
        except ValueError:
            record = None
        if type(record) is not dict or "op_code" not in record:
            raise StorageInternalError(
                f"{self._path} is not a journal file: line 1 is not a journal record; "
                "refusing to append."
            )

    def _cut_torn_tail(self, fd: int, size: int) -> int:
        """Cut the bytes after the last newline (a writer died mid-line); return the new size."""
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(fd, pos - start, start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            pos = start
        else:
            cut = 0
        head = os.pread(fd, 1, cut)
        if head != b"{":
            raise StorageInternalError(
                f"{self._path} is not a journal file: it ends with text that is not a JSON "
                f"record (byte {cut}); refusing to append."
            )
        os.ftruncate(fd, cut)
        return cut

    def append(self, records: list[dict[str, Any]]) -> bool:
        data = b"".join(dump_file_line(r) for r in records)
        self._lock.acquire()
        try:
            fd, size = self._writer()
            if size and os.pread(fd, 1, size - 1) != b"\n":
                size = self._cut_torn_tail(fd, size)
            try:
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
                if self._fsync:
                    os.fsync(fd)
            except OSError as e:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
                raise StorageInternalError(
                    f"appending to journal file {self._path} failed: {e}"
                ) from e
            ident = self._wident
        finally:
            self._lock.release()
        if ident == self._ident and size == self._offset:
            self._offset = size + len(data)
            self._line += len(records)
            return True
        return False

    # -- snapshots -----------------------------------------------------------------------------

    @property
    def snapshot_path(self) -> str:
        """Where this journal's snapshot head lives: ``<file>.snapshot`` (its segments are
        ``<file>.snapshot.<name>.seg`` beside it)."""
        return self._path + SNAPSHOT_SUFFIX

    def snapshot_store(self) -> FileSnapshotStore:
        return FileSnapshotStore(self._path)

    def log_records(self) -> int:
        return self._line

    def snapshot_position(self) -> tuple[int, Any, Any]:
        self._open_reader()
        assert self._fd is not None
        position = (self._ident, self._offset, self._line, _tail_digest(self._fd, self._offset))
        return self._line, self._ident, position

    def load_snapshot(self) -> tuple[dict[str, Any], list[bytes]] | None:
        """See :meth:`BaseJournalBackend.load_snapshot`: the head must match the file this
        object reads (its position's digest) and its segments must all be there (a writer
        may remove the segments of an older head meanwhile: the head is read again)."""
        self._open_reader()
        assert self._fd is not None
        store = FileSnapshotStore(self._path)
        for _ in range(5):
            found = store.head_of(self._fd)
            if found is None:
                return None
            doc, offset, lines = found
            try:
                names = [str(ref[0]) for ref in doc["segments"]]
            except (KeyError, TypeError, IndexError):
                return None
            segments = store.read_segments(names)
            if segments is not None:
                self._offset, self._line = offset, lines
                return doc, segments
        return None

    def position_of(
        self, fd: int, ident: tuple[int, int], offset: int, lines: int
    ) -> tuple[int, Any, Any]:
        """Return what :meth:`snapshot_position` returns, for the file open as ``fd``
        (identity ``ident``) at ``offset`` (``lines`` lines): the position of a compactor's
        snapshot of the file it wrote."""
        return lines, ident, (ident, offset, lines, _tail_digest(fd, offset))

    def close(self) -> None:
        for fd in (self._fd, self._wfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._init_handles()


def _fsync_dir(path: str) -> None:
    try:
        dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class FileSnapshotStore(SnapshotStore):
    """The snapshot of a journal file: the head ``<file>.snapshot`` (replaced atomically by
    rename), segments ``<file>.snapshot.<random name>.seg`` (written and flushed to the disk
    before any head names them), and the writers' lock ``<file>.snapshot.lock`` (an OS lock,
    dropped by the kernel when its holder dies). A head records the byte offset and line
    count it covers and a digest of the 4 KiB before that offset: a head that does not match
    the file (another file at the path, a compacted one) is never used.

    A writer removes, under the lock, the segments that neither the new head nor the one it
    replaced names (merged away two heads ago, or left by a writer that died before writing
    its head), and temporary head files older than ten minutes.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self.head_path = path + SNAPSHOT_SUFFIX

    # -- locking -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        try:
            fd = os.open(self.head_path + _SNAPSHOT_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:
            yield False  # a read-only directory: no snapshots
            return
        try:
            deadline = time.monotonic() + _SNAPSHOT_LOCK_WAIT_S
            while True:
                try:
                    portalocker.lock(
                        fd, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING
                    )
                    break
                except portalocker.exceptions.LockException:
                    if time.monotonic() > deadline:
                        yield False
                        return
                    time.sleep(0.02)
            try:
                yield True
            finally:
                portalocker.unlock(fd)
        finally:
            os.close(fd)

    # -- reading -------------------------------------------------------------------------------

    def head_of(self, fd: int) -> tuple[dict[str, Any], int, int] | None:
        """Return the head with the offset and lines it covers, if it matches the file open
        as ``fd``; else None."""
        try:
            with open(self.head_path, "rb") as f:
                doc = json.loads(f.read())
            where = doc["journal"]
            offset, lines, digest = int(where["offset"]), int(where["lines"]), where["digest"]
            if not isinstance(doc, dict) or offset < 0:
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if os.fstat(fd).st_size < offset or _tail_digest(fd, offset) != digest:
            return None
        return doc, offset, lines

    def read_head(self) -> tuple[dict[str, Any] | None, int, Any]:
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except OSError:
            return None, 0, None
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            found = self.head_of(fd)
        finally:
            os.close(fd)
        if found is None:
            return None, 0, ident
        return found[0], found[2], ident

    def _segment_path(self, name: str) -> str:
        return f"{self.head_path}.{name}{_SEGMENT_SUFFIX}"

    def read_segments(self, names: list[str]) -> list[bytes] | None:
        out = []
        for name in names:
            if not name.isalnum():
                return None
            try:
                with open(self._segment_path(name), "rb") as f:
                    out.append(f.read())
            except OSError:
                return None
        return out

    # -- writing -------------------------------------------------------------------------------

    def write_segment(self, data: bytes) -> str | None:
        name = uuid.uuid4().hex
        path = self._segment_path(name)
        try:
            with open(path, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            try:
                os.unlink(path)
            except OSError:
                pass
            return None
        return name

    def write_head(self, head: dict[str, Any], position: Any, keep: set[str]) -> bool:
        ident, offset, lines, digest = position
        try:
            st = os.stat(self._path)
        except OSError:
            return False
        if (st.st_dev, st.st_ino) != tuple(ident):
            return False  # the file was replaced (compacted) since the position was taken
        head = {**head, "journal": {"offset": offset, "lines": lines, "digest": digest}}
        tmp = f"{self.head_path}.{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(head, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.head_path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        _fsync_dir(self.head_path)
        self._remove_unused(keep)
        return True

    def _remove_unused(self, keep: set[str]) -> None:
        """Remove segments not in ``keep`` and abandoned temporary heads (lock held)."""
        prefix = glob.escape(self.head_path) + "."
        for path in glob.glob(prefix + "*" + _SEGMENT_SUFFIX):
            name = path[len(self.head_path) + 1 : -len(_SEGMENT_SUFFIX)]
            if name not in keep:
                try:
                    os.unlink(path)
                except OSError:
                    pass
        cutoff = time.time() - _ABANDONED_SNAPSHOT_S
        for path in glob.glob(prefix + "*.tmp"):
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
            except OSError:
                pass  # another writer removed it first
