"""Journal storage: a log of operations in a file or in Redis, compatible with Optuna 5.0.

``JournalStorage(JournalFileBackend("./journal.log"))`` is the embedded choice for many
processes on one machine (or a shared file system) without a server;
``JournalRedisBackend(url, prefix)`` shares one journal through Redis. Both read and write
Optuna's journal records, so Optuna and trialstore open each other's journals.
"""

from __future__ import annotations

from trialstore.storage.journal._base import BaseJournalBackend
from trialstore.storage.journal._compact import CompactionResult, compact_journal
from trialstore.storage.journal._file import (
    JournalFileBackend,
    JournalFileLock,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
)
from trialstore.storage.journal._redis import JournalRedisBackend
from trialstore.storage.journal._storage import JournalStorage
from trialstore.storage.journal._url import backend_from_url, storage_from_url

__all__ = [
    "BaseJournalBackend",
    "CompactionResult",
    "JournalFileBackend",
    "JournalFileLock",
    "JournalFileOpenLock",
    "JournalFileSymlinkLock",
    "JournalRedisBackend",
    "JournalStorage",
    "backend_from_url",
    "compact_journal",
    "storage_from_url",
]
