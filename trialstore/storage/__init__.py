"""Storages: where studies and trials live.

This is the one module users import storages from. :class:`BaseStorage` is the protocol
(``docs/protocol.md``); :func:`get_storage` turns ``None``, a URL or a storage into a
storage (creating it on first use); :func:`open_storage` opens only a storage that exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialstore.storage._callbacks import (
    RetryFailedTrialCallback,
    RetryHeartbeatStaleTrialCallback,
)
from trialstore.storage._copy import clone_study
from trialstore.storage._memory import InMemoryStorage
from trialstore.storage._url import (
    SCHEME_FACTORIES,
    get_storage,
    mask_password,
    open_storage,
    storage_factory,
)
from trialstore.storage.base import BaseStorage

if TYPE_CHECKING:
    from trialstore.storage.grpc import (
        GrpcProxyServer,
        GrpcStorageProxy,
        run_grpc_proxy_server,
    )
    from trialstore.storage.journal import (
        JournalFileBackend,
        JournalRedisBackend,
        JournalStorage,
    )
    from trialstore.storage.rdb import RDBStorage

__all__ = [
    "SCHEME_FACTORIES",
    "BaseStorage",
    "GrpcProxyServer",
    "GrpcStorageProxy",
    "InMemoryStorage",
    "JournalFileBackend",
    "JournalRedisBackend",
    "JournalStorage",
    "RDBStorage",
    "RetryFailedTrialCallback",
    "RetryHeartbeatStaleTrialCallback",
    "clone_study",
    "get_storage",
    "mask_password",
    "open_storage",
    "run_grpc_proxy_server",
    "storage_factory",
]

#: Names served from optional sub-packages, imported on first use so that ``trialstore.storage``
#: imports without their extras installed.
_LAZY = {
    "GrpcProxyServer": "trialstore.storage.grpc",
    "GrpcStorageProxy": "trialstore.storage.grpc",
    "run_grpc_proxy_server": "trialstore.storage.grpc",
    "JournalFileBackend": "trialstore.storage.journal",
    "JournalRedisBackend": "trialstore.storage.journal",
    "JournalStorage": "trialstore.storage.journal",
    "RDBStorage": "trialstore.storage.rdb",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
