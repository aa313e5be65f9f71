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
from typing import Any, Protocol

from trialstore.stress._zygote import ZYGOTE_MAIN, Zygote, ZygoteError

__all__ = ["ZYGOTE_ENV", "WorkerPool", "WorkerProcess", "WorkerSlot"]

#: Set to ``0`` to start every worker as a fresh ``python`` process instead of forking it
#: from a zygote (the default of :attr:`WorkerPool.zygote`).
ZYGOTE_ENV = "TRIALSTORE_STRESS_ZYGOTE"


class WorkerProcess(Protocol):
    """What the harness uses of a worker process: a :class:`subprocess.Popen`, or a
    :class:`~trialstore.stress._zygote.ZygoteChild` (same meaning of every member)."""

    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def _zygote_default() -> bool:
    return os.environ.get(ZYGOTE_ENV, "1") != "0"


@dataclass
class WorkerSlot:
    """One place in the pool; each replacement after a kill is a new worker name."""

    index: int
    host: int
    generation: int = 0
    proc: WorkerProcess | None = None
    name: str = ""
    stopped: bool = False  # SIGSTOPped by a fault right now


@dataclass
class WorkerPool:
    """Starts ``python -m trialstore.stress._worker`` processes, optionally inside a network
    namespace (``prefix`` per host), and replaces killed ones.

    With ``zygote`` (the default unless ``TRIALSTORE_STRESS_ZYGOTE=0``), each host gets one
    long-lived :mod:`zygote <trialstore.stress._zygote>` process, started with the host's
    prefix, that has imported the worker and the storage driver once and forks each worker:
    a replacement is ready in the time it takes to open the storage, instead of a Python
    start-up (about a second of CPU, many seconds on a loaded machine). A host whose zygote
    does not start, or dies, gets fresh processes instead (with a warning in workers.log).
    Worker processes look the same either way (:class:`WorkerProcess`; exit codes as
    :attr:`subprocess.Popen.returncode`).

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
    zygote: bool = field(default_factory=_zygote_default)

    def __post_init__(self) -> None:
        self._config_paths = []
        for host, config in enumerate(self.configs):
            path = self.run_dir / f"worker-config-h{host}.json"
            path.write_text(json.dumps(config))
            self._config_paths.append(path)
        self._log = open(self.run_dir / "workers.log", "ab")
        hosts = len(self.configs)
        self.slots = [WorkerSlot(index=i, host=i % hosts) for i in range(self.workers)]
        # host -> its zygote; None once it failed (that host then starts fresh processes)
        self._zygotes: dict[int, Zygote | None] = {}

    def start_all(self) -> None:
        """Start one worker per slot (and first, with ``zygote``, one zygote per host)."""
        if self.zygote:  # all at once: their imports overlap
            spawned = {host: self._spawn_zygote(host) for host in range(len(self.configs))}
            for host, zygote in spawned.items():
                self._zygotes[host] = self._wait_zygote(host, zygote)
        for slot in self.slots:
            self._start(slot)

    def _warn(self, message: str) -> None:
        self._log.write(f"stress pool: {message}\n".encode())
        self._log.flush()

    def _spawn_zygote(self, host: int) -> Zygote | None:
        command = [*self.prefixes[host], sys.executable, "-c", ZYGOTE_MAIN,
                   str(self._config_paths[host])]  # fmt: skip
        try:
            return Zygote(command, self._log)
        except OSError as e:
            self._warn(f"host {host}: no zygote ({e}); starting fresh processes")
            return None

    def _wait_zygote(self, host: int, zygote: Zygote | None) -> Zygote | None:
        if zygote is None:
            return None
        try:
            zygote.wait_ready()
        except ZygoteError as e:
            self._warn(f"host {host}: no zygote ({e}); starting fresh processes")
            return None
        return zygote

    def _zygote_for(self, host: int) -> Zygote | None:
        if not self.zygote:
            return None
        if host not in self._zygotes:
            self._zygotes[host] = self._wait_zygote(host, self._spawn_zygote(host))
        zygote = self._zygotes[host]
        if zygote is not None and not zygote.alive:
            self._warn(f"host {host}: the zygote died; starting fresh processes")
            zygote.close(timeout=1.0)
            self._zygotes[host] = zygote = None
        return zygote

    def _start(self, slot: WorkerSlot) -> None:
        slot.name = f"h{slot.host}w{slot.index}g{slot.generation}"
        seed = self.seed * 1_000_003 + slot.index * 1009 + slot.generation
        args = [str(self._config_paths[slot.host]), slot.name, str(seed)]
        slot.stopped = False
        zygote = self._zygote_for(slot.host)
        if zygote is not None:
            try:
                slot.proc = zygote.start(args)
                return
            except ZygoteError as e:
                self._warn(f"{slot.name}: the zygote failed ({e}); starting a fresh process")
        command = [*self.prefixes[slot.host], sys.executable, "-m", "trialstore.stress._worker",
                   *args]  # fmt: skip
        slot.proc = subprocess.Popen(
            command, stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL
        )

    def zygote_pids(self) -> dict[int, int]:
        """Host -> pid of its running zygote (hosts without one are left out)."""
        return {h: z.pid for h, z in self._zygotes.items() if z is not None and z.alive}

    def _close_zygotes(self) -> None:
        """Stop every zygote (each SIGKILLs whatever children it still has)."""
        for zygote in self._zygotes.values():
            if zygote is not None:
                zygote.close()
        self._zygotes = {host: None for host in self._zygotes}

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
        """SIGKILL every live worker and stop the zygotes (cleanup after an error; no
        replacement)."""
        for slot in self.live():
            assert slot.proc is not None
            slot.proc.kill()
            slot.proc.wait()
        self._close_zygotes()

    def reap(self) -> None:
        """Note workers that exited on their own (their exit code goes to :attr:`exits`; one
        that failed, or died of a signal the pool did not send, gets a line in workers.log,
        as it is not replaced)."""
        for slot in self.slots:
            code = None if slot.proc is None else slot.proc.poll()
            if code is None or slot.name in self.exits:
                continue
            self.exits[slot.name] = code
            if code != 0:
                how = f"signal {signal.Signals(-code).name}" if code < 0 else f"code {code}"
                self._warn(f"worker {slot.name} exited on its own ({how}); not replaced")

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM every worker (after SIGCONT), wait ``timeout`` seconds, SIGKILL the rest;
        stop the zygotes.

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
        self._close_zygotes()
        self._log.close()
        return hung
