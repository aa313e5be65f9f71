"""One stress worker process: ``python -m trialstore.stress._worker CONFIG NAME SEED``.

``CONFIG`` is a JSON file with ``target`` (:class:`StorageTarget` data), ``workload``
(:class:`WorkloadConfig` fields), ``history_dir``, ``ready_dir``, ``start_file`` and
``duration_s``. The worker opens the storage, touches ``<ready_dir>/<NAME>.<pid>``, waits for
``start_file`` (it holds the run's start, a ``monotonic_ns`` instant), runs until start +
duration or SIGTERM, finishes its own trials and exits 0. Its history goes to
``<history_dir>/<NAME>.jsonl``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from trialstore.exceptions import StorageInternalError
from trialstore.storage.base import BaseStorage
from trialstore.stress._history import HistoryWriter
from trialstore.stress._target import StorageTarget
from trialstore.stress._workload import WorkloadConfig, run_workload

__all__ = ["main"]

#: Seconds a starting worker keeps trying to open an unreachable storage.
_OPEN_RETRY_S = 60.0


def main(argv: list[str]) -> int:
    """Run one worker; return its exit code."""
    config_path, name, seed = argv[0], argv[1], int(argv[2])
    config = json.loads(Path(config_path).read_text())
    stopping = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    history = HistoryWriter(Path(config["history_dir"]) / f"{name}.jsonl", name)
    target = StorageTarget.from_json(config["target"])
    storage = _open(target, lambda: stopping)
    Path(config["ready_dir"], f"{name}.{os.getpid()}").touch()
    start_file = Path(config["start_file"])
    while not start_file.exists() and not stopping:
        time.sleep(0.01)
    try:
        start = int(start_file.read_text())
    except (OSError, ValueError):
        start = time.monotonic_ns()
    deadline = start + int(float(config["duration_s"]) * 1e9)
    try:
        run_workload(
            storage,
            history,
            WorkloadConfig(**config["workload"]),
            seed,
            lambda: stopping or time.monotonic_ns() >= deadline,
        )
    finally:
        history.close()
        try:
            storage.close()
        except Exception:
            pass
    return 0


def _open(target: StorageTarget, stopping: Callable[[], bool]) -> BaseStorage:
    """Open the storage, trying again for up to ``_OPEN_RETRY_S`` seconds while it cannot be
    reached: a replacement worker starts at once after a kill, and may open the storage just
    while a fault (a server restart, lost sessions, a cut link) holds."""
    deadline = time.monotonic() + _OPEN_RETRY_S
    while True:
        try:
            return target.open()
        except StorageInternalError:
            if stopping() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
