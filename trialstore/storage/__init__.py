"""Storages: where studies and trials live.

This is the one module users import storages from. :class:`BaseStorage` is the protocol
(``docs/protocol.md``); :func:`get_storage` turns ``None``, a URL or a storage into a storage.
"""

from __future__ import annotations

from trialstore.storage._memory import InMemoryStorage
from trialstore.storage._url import get_storage
from trialstore.storage.base import BaseStorage

__all__ = [
    "BaseStorage",
    "InMemoryStorage",
    "get_storage",
]
