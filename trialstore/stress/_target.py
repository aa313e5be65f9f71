"""How a worker reaches the storage under test: a URL, or a harness-served in-memory store."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from trialstore.storage import get_storage
from trialstore.storage.base import BaseStorage

__all__ = ["StorageTarget"]


@dataclass
class StorageTarget:
    """A storage URL plus constructor keyword arguments, or a ``"module:function"`` factory
    called as ``factory(url, **kwargs)`` (used for storages the harness serves itself)."""

    url: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    factory: str | None = None

    def open(self) -> BaseStorage:
        """Return a new storage object for this target."""
        if self.factory is None:
            return get_storage(self.url, **self.kwargs)
        module_name, _, name = self.factory.partition(":")
        storage: BaseStorage = getattr(importlib.import_module(module_name), name)(
            self.url, **self.kwargs
        )
        return storage

    def to_json(self) -> dict[str, Any]:
        """Plain data (for the worker's configuration file)."""
        return {"url": self.url, "kwargs": self.kwargs, "factory": self.factory}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StorageTarget:
        """Inverse of :meth:`to_json`."""
        return cls(url=data["url"], kwargs=dict(data["kwargs"]), factory=data["factory"])
