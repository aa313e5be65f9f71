"""Keeping a journal's snapshot current from the processes that use it (private)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from trialstore.storage.journal._base import BaseJournalBackend
from trialstore.storage.journal._snapshot import Capture, Head, capture, write_snapshot

__all__ = ["SnapshotKeeper"]


class SnapshotKeeper:
    """Writes a new snapshot in a background thread whenever this process's reading position
    is ``threshold`` or more records past the newest snapshot it knows of.

    The thread takes the storage's lock only to capture what changed since the newest head
    (see :func:`~trialstore.storage.journal._snapshot.capture`); encoding and writing run
    outside it, and the snapshot writers of all processes take turns on the store's lock.
    After every process that wrote to a log has closed (or exited: the thread is not a
    daemon, so the interpreter waits for a snapshot in progress), the newest head is less
    than ``threshold`` records behind the end of the log, plus the records of the last
    append, so a fresh opener replays at most that many records.

    Errors of the thread (an unreachable Redis, a full disk) are swallowed: a snapshot is an
    optimization, and the next due one tries again.
    """

    def __init__(
        self,
        backend: BaseJournalBackend,
        lock: threading.RLock,
        state: Callable[[], Any],
        threshold: int,
    ) -> None:
        self._backend = backend
        self._lock = lock
        self._state = state
        self._threshold = threshold
        self._known = 0  # records covered by the newest head this process knows of
        self._thread: threading.Thread | None = None
        self._again = False
        self._pid = os.getpid()
        self.snapshots_written = 0

    def use_lock(self, lock: threading.RLock) -> None:
        """Take ``lock`` as the storage's lock from now on (a forked child's new one)."""
        self._lock = lock

    def known(self, records: int) -> None:
        """Note that a head covering ``records`` records exists (lock held)."""
        self._known = records

    def note(self) -> None:
        """Start a snapshot if the reading position is far enough past the newest known head
        (the storage's lock is held)."""
        records = self._backend.log_records() if self._threshold else 0
        if records < self._known:  # the log was compacted: positions restarted lower
            self._known = records
        if not self._threshold or records - self._known < self._threshold:
            return
        if self._pid != os.getpid():  # a forked child: the parent's thread is not ours
            self._pid = os.getpid()
            self._thread = None
        if self._thread is not None and self._thread.is_alive():
            self._again = True
            return
        self._again = False
        self._thread = threading.Thread(
            target=self._run, name="trialstore-journal-snapshot", daemon=False
        )
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.write_now(self._threshold)
            except Exception:  # best effort, see the class docstring
                pass
            with self._lock:
                if not self._again:
                    return
                self._again = False

    def write_now(self, min_lag: int) -> bool:
        """Write a snapshot now (in this thread) if the newest head is ``min_lag`` or more
        records behind this process's reading position; return whether one was written."""
        store = self._backend.snapshot_store()
        if store is None:
            return False

        written = False

        def take(base: Head | None, log: Any) -> Capture | None:
            nonlocal written
            with self._lock:
                state = self._state()
                if state.in_batch:
                    return None
                records, own_log, position = self._backend.snapshot_position()
                if own_log != log:
                    return None  # our state is in another log (compacted since we read)
                if base is not None and records - base.records < min_lag:
                    return None
                cap = capture(state, base, records, position)
            written = True
            return cap

        covered = write_snapshot(store, take)
        if covered is not None:
            with self._lock:
                self._known = max(self._known, covered)
            if written:
                self.snapshots_written += 1
        return written and covered is not None

    def close(self) -> None:
        """Wait for a snapshot in progress (call without the storage's lock)."""
        thread = self._thread
        if (
            thread is not None
            and self._pid == os.getpid()
            and thread is not threading.current_thread()
        ):
            thread.join()
