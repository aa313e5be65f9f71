"""The worker processes of a run: start, SIGKILL and replace, stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["WorkerPool", "WorkerSlot"]


@dataclass
class WorkerSlot:
    """One place in the pool; each replacement after a kill is a new worker name."""

    index: int
    host: int
    generation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    name: str = ""
    stopped: bool = False  # SIGSTOPped by a fault right now


@dataclass
class WorkerPool:
    """Starts ``python -m trialstore.stress._worker`` processes, optionally inside a network
    namespace (``prefix`` per host), and replaces killed ones.

    ``deaths`` maps each SIGKILLed worker's name to the ``monotonic_ns`` of the kill.
    """

    run_dir: Path
    configs: list[dict[str, Any]]  # one per host
    prefixes: list[list[str]]  # command prefix per host (netns exec), [] for this namespace
    workers: int
    seed: int
    slots: list[WorkerSlot] = field(default_factory=list)
    deaths: dict[str, int] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._config_paths = []
        for host, config in enumerate(self.configs):
            path = self.run_dir / f"worker-config-h{host}.json"
            path.write_text(json.dumps(config))
            self._config_paths.append(path)
        self._log = open(self.run_dir / "workers.log", "ab")
        hosts = len(self.configs)
        self.slots = [WorkerSlot(index=i, host=i % hosts) for i in range(self.workers)]

    def start_all(self) -> None:
        """Start one worker per slot."""
        for slot in self.slots:
            self._start(slot)

    def _start(self, slot: WorkerSlot) -> None:
        slot.name = f"h{slot.host}w{slot.index}g{slot.generation}"
        seed = self.seed * 1_000_003 + slot.index * 1009 + slot.generation
        command = [
            *self.prefixes[slot.host],
            sys.executable,
            "-m",
            "trialstore.stress._worker",
            str(self._config_paths[slot.host]),
            slot.name,
            str(seed),
        ]
        slot.proc = subprocess.Popen(
            command, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL
        )
        slot.stopped = False

    def live(self) -> list[WorkerSlot]:
        """Slots whose process is running."""
        return [s for s in self.slots if s.proc is not None and s.proc.poll() is None]

    def working(self) -> list[WorkerSlot]:
        """Live slots whose worker has opened the storage (it touched its ready file)."""
        ready = self.run_dir / "ready"
        return [
            s
            for s in self.live()
            if s.proc is not None and (ready / f"{s.name}.{s.proc.pid}").exists()
        ]

    def kill(self, slot: WorkerSlot, *, respawn: bool = True) -> int:
        """SIGKILL the slot's worker, record its death, start a replacement; return the kill
        time (``monotonic_ns``)."""
        assert slot.proc is not None
        t = time.monotonic_ns()
        try:
            os.kill(slot.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        slot.proc.wait()
        self.deaths[slot.name] = t
        self.exits[slot.name] = -9
        if respawn:
            slot.generation += 1
            self._start(slot)
        return t

    def kill_all(self) -> None:
        """SIGKILL every live worker (cleanup after an error; no replacement)."""
        for slot in self.live():
            assert slot.proc is not None
            slot.proc.kill()
            slot.proc.wait()

    def reap(self) -> None:
        """Note workers that exited on their own (their exit code goes to :attr:`exits`)."""
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is not None:
                self.exits.setdefault(slot.name, slot.proc.returncode)

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM every worker (after SIGCONT), wait ``timeout`` seconds, SIGKILL the rest.

        Returns the names of the workers that had to be killed (their deaths are recorded).
        """
        for slot in self.live():
            assert slot.proc is not None
            os.kill(slot.proc.pid, signal.SIGCONT)
            os.kill(slot.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        hung: list[str] = []
        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                slot.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                hung.append(slot.name)
                self.kill(slot, respawn=False)
        self.reap()
        self._log.close()
        return hung
