"""Opening the storage a command names, and closing it when the command ends (private)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trialstore.storage import BaseStorage, get_storage, open_storage

__all__ = ["existing_storage", "storage_for_writing"]


@contextmanager
def existing_storage(url: str) -> Iterator[BaseStorage]:
    """The storage at ``url``, which must exist already (nothing is created); closed on exit.

    Raises:
        StorageNotFoundError: no storage there (the message says how to create one).
    """
    storage = open_storage(url)
    try:
        yield storage
    finally:
        storage.close()


@contextmanager
def storage_for_writing(url: str) -> Iterator[BaseStorage]:
    """The storage at ``url``, created if there is none yet; closed on exit."""
    storage = get_storage(url)
    try:
        yield storage
    finally:
        storage.close()
