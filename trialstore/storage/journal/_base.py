"""The interface between :class:`JournalStorage` and where its records live."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["BaseJournalBackend", "JournalReset", "SnapshotStore"]


class JournalReset(Exception):
    """The log was replaced in a way the reader's position cannot follow.

    The reader must drop its replay state and replay from :meth:`load_snapshot` (or the start).
    """


class BaseJournalBackend(abc.ABC):
    """An append-only log of journal records with a reading position.

    A backend object serves one :class:`~trialstore.storage.journal.JournalStorage` (which
    serializes calls to it); separate objects, in this or other processes, may read and append
    to the same log at the same time. Records are dicts in Optuna's journal format.
    """

    @abc.abstractmethod
    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        """Return every complete record appended after the reading position, with its log
        number, and move the position past them.

        Raises:
            JournalReset: the log was replaced (compacted) in a way the position cannot
                follow; the position is now at the start of the log.
            StorageInternalError: the log is corrupt or is not a journal (the message names
                where).
        """

    @abc.abstractmethod
    def append(self, records: list[dict[str, Any]]) -> bool:
        """Append ``records`` atomically, in order, after every record already in the log.

        Returns True when they directly follow the reading position: the position then moves
        past them and the caller applies them itself without reading them back. Returns False
        when other records came in between; the caller reads them all with
        :meth:`read_new`.

        Raises:
            StorageInternalError: the write failed; nothing was appended.
        """

    @abc.abstractmethod
    def location(self, log_number: int) -> str:
        """Return a human-readable place of a record (file and line, or key) for errors."""

    def load_snapshot(self) -> tuple[dict[str, Any], list[bytes]] | None:
        """Return the newest snapshot that matches this log, as its head document and the
        bytes of its segments (in the head's order), and move the reading position to the
        point it covers; or return None (position unchanged) when there is none. The default
        keeps no snapshots."""
        return None

    def snapshot_store(self) -> SnapshotStore | None:
        """Where this log's snapshot is written (None: this backend keeps none)."""
        return None

    def log_records(self) -> int:
        """How many records of the log lie before the reading position (cheap)."""
        return 0

    def snapshot_position(self) -> tuple[int, Any, Any]:
        """Return ``(records, log, position)`` of the reading position: how many records of
        the log lie before it, which log they are in (compared with what
        :meth:`SnapshotStore.read_head` returns), and what :meth:`SnapshotStore.write_head`
        needs to record it. Called with the storage's lock held."""
        return 0, None, None

    @abc.abstractmethod
    def reset(self) -> None:
        """Move the reading position to the start of the log."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections held by this object."""


class SnapshotStore(abc.ABC):
    """Where a backend keeps trialstore's snapshot of its log: one head (a JSON document that
    names the log position it covers) and immutable segments (bytes, named by the store).

    Writers hold :meth:`exclusive` while they read the head, write segments and replace the
    head, so heads only move forward; readers take no lock and never trust a head that does
    not match the log (its position's digest) or whose segments are not all there.
    """

    @abc.abstractmethod
    def exclusive(self) -> contextlib.AbstractContextManager[bool]:
        """A block during which no other snapshot writer (any process) is in its own; it
        yields False, and the caller writes nothing, when that could not be had in time."""

    @abc.abstractmethod
    def read_head(self) -> tuple[dict[str, Any] | None, int, Any]:
        """Return ``(head, records, log)``: the current head document if it matches the log
        now in place (else None), the records it covers, and which log that is (see
        :meth:`BaseJournalBackend.snapshot_position`)."""

    @abc.abstractmethod
    def read_segments(self, names: list[str]) -> list[bytes] | None:
        """Return the segments' bytes, or None when one of them is gone."""

    @abc.abstractmethod
    def write_segment(self, data: bytes) -> str | None:
        """Store a new segment durably; return its name (None: it could not be written)."""

    @abc.abstractmethod
    def write_head(self, head: dict[str, Any], position: Any, keep: set[str]) -> bool:
        """Replace the head by ``head`` covering ``position`` (from
        :meth:`BaseJournalBackend.snapshot_position`), atomically, unless the log moved under
        it (compacted or replaced); then remove the segments not in ``keep``. Returns whether
        the head was written."""


@contextlib.contextmanager
def no_lock() -> Iterator[bool]:
    """An :meth:`SnapshotStore.exclusive` block that excludes nobody."""
    yield True
