"""An in-memory storage (correct or broken) served to worker processes by the harness.

:func:`serve` starts a :mod:`multiprocessing` manager process on 127.0.0.1 that holds one
storage; each worker process reaches it through :func:`connect`, whose storage forwards every
call to it. The manager runs each connection's calls in its own thread, so the storage sees
real concurrency from real processes. URL: ``stress-memory://127.0.0.1:PORT/KIND?key=HEX``
where ``KIND`` is ``memory`` or a key of :data:`trialstore.stress.broken.BROKEN_STORAGES`.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Container, Sequence
from multiprocessing.managers import BaseManager, BaseProxy
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import StorageInternalError
from trialstore.storage import InMemoryStorage
from trialstore.storage.base import BaseStorage

__all__ = ["ManagedStorage", "ServedStorage", "connect", "serve"]

_METHODS = (
    "create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
    "get_study_id_from_name", "get_study_name_from_id", "get_study_directions",
    "get_study_user_attrs", "get_study_system_attrs", "get_all_studies", "create_new_trial",
    "set_trial_param", "get_trial_id_from_study_id_trial_number", "set_trial_state_values",
    "set_trial_intermediate_value", "set_trial_user_attr", "set_trial_system_attr",
    "get_trial", "get_all_trials", "get_heartbeat_interval", "get_grace_period",
    "record_heartbeat", "get_stale_trial_ids", "fail_stale_trials", "delete_trials",
)  # fmt: skip

_SERVED: dict[tuple[str, float | None, float | None], BaseStorage] = {}


def _storage(kind: str, interval: float | None, grace: float | None) -> BaseStorage:
    """Runs in the manager process: one storage per (kind, settings)."""
    key = (kind, interval, grace)
    if key not in _SERVED:
        if kind == "memory":
            _SERVED[key] = InMemoryStorage(heartbeat_interval=interval, grace_period=grace)
        else:
            from trialstore.stress.broken import make_broken_storage

            _SERVED[key] = make_broken_storage(
                kind, heartbeat_interval=interval, grace_period=grace
            )
    return _SERVED[key]


class _Manager(BaseManager):
    pass


_Manager.register("storage", callable=_storage, exposed=_METHODS)


class ServedStorage:
    """A running manager process (``python -m trialstore.stress._managed``); :attr:`url`
    reaches its storage. Call :meth:`stop`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        key = secrets.token_hex(16)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "trialstore.stress._managed"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(key + "\n")
        self._proc.stdin.flush()
        port = int(self._proc.stdout.readline())
        self.url = f"stress-memory://127.0.0.1:{port}/{kind}?key={key}"

    def stop(self) -> None:
        """Stop the manager process (its storage is gone)."""
        self._proc.kill()
        self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                f.close()


def serve(kind: str = "memory") -> ServedStorage:
    """Start serving a new storage of ``kind`` (``memory`` or a broken flaw name)."""
    return ServedStorage(kind)


def _serve_forever() -> None:
    """Entry point of the manager process: read the key on stdin, print the port."""
    key = bytes.fromhex(sys.stdin.readline().strip())
    manager = _Manager(address=("127.0.0.1", 0), authkey=key)
    server = manager.get_server()
    address = server.address
    assert isinstance(address, tuple)
    print(address[1], flush=True)
    server.serve_forever()


class ManagedStorage(BaseStorage):
    """A storage that forwards every call to a served storage (see :func:`connect`).

    Thread-safe (the proxy keeps one connection per thread).
    """

    def __init__(self, proxy: BaseProxy) -> None:
        self._proxy = proxy

    def _call(self, name: str, *args: Any) -> Any:
        return self._proxy._callmethod(name, args)

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._call("create_new_study", list(directions), study_name))

    def delete_study(self, study_id: int) -> None:
        self._call("delete_study", study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        self._call("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._call("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._call("get_study_name_from_id", study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._call("get_study_directions", study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_user_attrs", study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_system_attrs", study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        return list(self._call("get_all_studies"))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return int(self._call("create_new_trial", study_id, template_trial))

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        self._call("delete_trials", study_id, trial_ids)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._call("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        values = None if values is None else list(values)
        return bool(self._call("set_trial_state_values", trial_id, state, values))

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._call("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        self._call("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial: FrozenTrial = self._call("get_trial", trial_id)
        return trial

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        states = None if states is None else tuple(s for s in TrialState if s in states)
        return list(self._call("get_all_trials", study_id, False, states))

    def get_heartbeat_interval(self) -> float | None:
        value: float | None = self._call("get_heartbeat_interval")
        return value

    def get_grace_period(self) -> float | None:
        value: float | None = self._call("get_grace_period")
        return value

    def record_heartbeat(self, trial_id: int) -> None:
        self._call("record_heartbeat", trial_id)

    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        return list(self._call("get_stale_trial_ids", study_id))

    def fail_stale_trials(self, study_id: int) -> list[int]:
        return list(self._call("fail_stale_trials", study_id))


def connect(
    url: str, *, heartbeat_interval: float | None = None, grace_period: float | None = None
) -> BaseStorage:
    """Return a storage forwarding to the served storage at ``url``.

    The heartbeat settings pick which of the server's storages to use (the first connection
    with given settings creates it).

    Raises:
        StorageInternalError: the server cannot be reached (a worker opening it while its
            host is cut off tries again, as it does for any storage).
    """
    parts = urlsplit(url)
    key = parse_qs(parts.query)["key"][0]
    kind = parts.path.strip("/")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"stress-memory URL needs host:port, got {url!r}")
    manager = _Manager(address=(parts.hostname, parts.port), authkey=bytes.fromhex(key))
    try:
        manager.connect()
        proxy = manager.storage(kind, heartbeat_interval, grace_period)  # type: ignore[attr-defined]
    except (OSError, EOFError) as e:
        raise StorageInternalError(
            f"cannot reach the served storage at {parts.hostname}:{parts.port}: {e!r}"
        ) from e
    return ManagedStorage(proxy)


if __name__ == "__main__":
    _serve_forever()
