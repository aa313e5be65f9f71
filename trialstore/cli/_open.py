"""Opening the storage a command names, and closing it when the command ends (private).

A URL the library refuses (``ValueError``: an unknown scheme, a port out of range, a missing
database name...) is a bad argument: :class:`UsageError`, exit code 2, naming the option.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from trialstore.cli._errors import UsageError
from trialstore.storage import BaseStorage, get_storage, open_storage

__all__ = ["existing_storage", "open_url", "storage_for_writing"]

_T = TypeVar("_T")


def open_url(url: str, opener: Callable[[str], _T], option: str) -> _T:
    """``opener(url)``, with a refused URL (a ValueError) reported as a bad value of
    ``option``.

    Raises:
        UsageError: the URL is not one ``opener`` accepts (``option`` and the reason named).
    """
    try:
        return opener(url)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from None


@contextmanager
def existing_storage(url: str, option: str = "--storage") -> Iterator[BaseStorage]:
    """The storage at ``url``, which must exist already (nothing is created); closed on exit.

    Raises:
        UsageError: a URL the library refuses.
        StorageNotFoundError: no storage there (the message says how to create one).
    """
    storage = open_url(url, open_storage, option)
    try:
        yield storage
    finally:
        storage.close()


@contextmanager
def storage_for_writing(url: str, option: str = "--storage") -> Iterator[BaseStorage]:
    """The storage at ``url``, created if there is none yet; closed on exit.

    Raises:
        UsageError: a URL the library refuses.
    """
    storage = open_url(url, get_storage, option)
    try:
        yield storage
    finally:
        storage.close()
