"""The interface between :class:`JournalStorage` and where its records live."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["BaseJournalBackend", "JournalReset"]


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

    @abc.abstractmethod
    def load_snapshot(self) -> dict[str, Any] | None:
        """Return the replay-state document of the newest valid snapshot and move the reading
        position to the point it covers, or return None (position unchanged) when there is
        no snapshot that matches this log."""

    @abc.abstractmethod
    def save_snapshot(self, state: dict[str, Any]) -> None:
        """Store ``state`` as the snapshot of the log up to the current reading position.

        Best effort: a failure (e.g. a read-only directory) is ignored.
        """

    @abc.abstractmethod
    def reset(self) -> None:
        """Move the reading position to the start of the log."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files or connections held by this object."""
