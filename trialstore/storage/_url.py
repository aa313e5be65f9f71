"""Turning a storage URL into a storage (private; public entry: ``get_storage``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from trialstore.storage.base import BaseStorage

__all__ = ["SCHEME_FACTORIES", "get_storage", "mask_password", "open_storage", "storage_factory"]

#: URL scheme (the part before ``://``, lower-case, before any ``+driver``) -> the
#: ``"module:function"`` that builds a storage from the whole URL (and keyword arguments); each
#: names a public name of the backend's package.
#: Imported lazily so that a plain install never imports an optional driver. Add an entry to
#: make :func:`get_storage` (and every ``trialstore`` command) open your own backend's URLs.
SCHEME_FACTORIES: dict[str, str] = {
    "grpc": "trialstore.storage.grpc:storage_from_url",
    "grpcs": "trialstore.storage.grpc:storage_from_url",
    "journal": "trialstore.storage.journal:storage_from_url",
    "journal+redis": "trialstore.storage.journal:storage_from_url",
    "mariadb": "trialstore.storage.rdb:RDBStorage",
    "mysql": "trialstore.storage.rdb:RDBStorage",
    "postgres": "trialstore.storage.rdb:RDBStorage",
    "postgresql": "trialstore.storage.rdb:RDBStorage",
    "sqlite": "trialstore.storage.rdb:RDBStorage",
}


def get_storage(storage: str | BaseStorage | None, **kwargs: Any) -> BaseStorage:
    """Return the storage that ``storage`` names.

    ``None`` gives a new :class:`~trialstore.storage.InMemoryStorage`; a storage object is
    returned unchanged; a string is a URL whose scheme picks the backend (see the README's
    table). Keyword arguments go to the backend's constructor.

    Raises:
        ValueError: the URL has no scheme or an unknown one (the message lists the known ones).
        ImportError: the backend's optional dependency is missing (the message names the extra
            to install).
    """
    if storage is None:
        from trialstore.storage._memory import InMemoryStorage

        return InMemoryStorage(**kwargs)
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise ValueError(
            f"storage must be None, a URL str or a BaseStorage, got {type(storage).__name__}."
        )
    return storage_factory(storage)(storage, **kwargs)


#: Keyword arguments that make a factory of :data:`SCHEME_FACTORIES` open only what exists.
#: A gRPC proxy always serves a storage that exists, so its factory needs none.
_OPEN_EXISTING: dict[str, dict[str, Any]] = {
    "trialstore.storage.journal:storage_from_url": {"create": False},
    "trialstore.storage.rdb:RDBStorage": {"skip_table_creation": True},
}


def open_storage(storage: str, **kwargs: Any) -> BaseStorage:
    """Return the storage that already exists at the URL ``storage``; create nothing.

    Unlike :func:`get_storage`, which creates a storage on first use (as Optuna does), this
    never creates a file, a table or a key: it is meant for tools that only look at or
    maintain a storage (the ``trialstore`` commands that read do). A journal file must exist;
    a Redis prefix must hold a journal; a database must hold trialstore's (Optuna's) tables,
    and a SQLite file must exist. A ``grpc://`` URL opens as :func:`get_storage` opens it.
    Keyword arguments go to the backend's constructor.

    Raises:
        StorageNotFoundError: no storage exists there (the message says how to create one).
        ValueError, ImportError: as :func:`get_storage`.
        StorageInternalError: the storage cannot be reached or read (a server down, a
            corrupt journal, an old schema).
    """
    if not isinstance(storage, str):
        raise ValueError(f"storage must be a URL str, got {type(storage).__name__}.")
    target = _target_for(storage)
    return _load(target)(storage, **_OPEN_EXISTING.get(target, {}), **kwargs)


def storage_factory(url: str) -> Callable[..., BaseStorage]:
    """Return the callable :func:`get_storage` calls for ``url`` (its backend module imported,
    nothing opened or connected).

    Raises:
        ValueError: the URL has no scheme or an unknown one (the message lists the known ones).
        ImportError: the backend's optional dependency is missing.
    """
    return _load(_target_for(url))


def _target_for(url: str) -> str:
    """The ``"module:function"`` of :data:`SCHEME_FACTORIES` for ``url``'s scheme."""
    scheme, sep, _ = url.partition("://")
    known = ", ".join(f"{s}://" for s in sorted(SCHEME_FACTORIES))
    if not sep:
        raise ValueError(f"storage URL {mask_password(url)!r} has no scheme; known: {known}.")
    scheme = scheme.lower()
    target = SCHEME_FACTORIES.get(scheme) or SCHEME_FACTORIES.get(scheme.split("+")[0])
    if target is None:
        raise ValueError(
            f"storage URL scheme {scheme!r} is not supported ({mask_password(url)!r}); "
            f"known: {known}."
        )
    return target


def _load(target: str) -> Callable[..., BaseStorage]:
    module_name, _, function_name = target.partition(":")
    factory: Callable[..., BaseStorage] = getattr(
        importlib.import_module(module_name), function_name
    )
    return factory


def mask_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for errors and logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}"
    return f"{scheme}{sep}{netloc}{slash}{path}"
