"""The harness-served in-memory storage (``trialstore.stress._managed``)."""

from __future__ import annotations

import socket

import pytest

from trialstore.exceptions import StorageInternalError
from trialstore.stress import _managed, _worker
from trialstore.stress._target import StorageTarget


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_server_is_a_storage_error_the_worker_tries_again_on() -> None:
    """A worker started while its host is cut off must not die opening the storage (the full
    tier's in-memory run lost 16 workers that way to an OSError): the error is the one
    every storage raises when it cannot reach its server, which the worker retries."""
    url = f"stress-memory://127.0.0.1:{_closed_port()}/memory?key=00"
    with pytest.raises(StorageInternalError, match="cannot reach the served storage"):
        _managed.connect(url)

    attempts = []

    def stopping() -> bool:
        attempts.append(1)
        return len(attempts) >= 2

    target = StorageTarget(url=url, factory="trialstore.stress._managed:connect")
    with pytest.raises(StorageInternalError):
        _worker._open(target, stopping)
    assert len(attempts) == 2
