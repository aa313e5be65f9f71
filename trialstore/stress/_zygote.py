"""A fork server for stress workers: ``python -c "$ZYGOTE_MAIN" CONFIG``.

A fresh worker process spends about a second of CPU importing trialstore and its storage
driver; with dozens of workers on a small machine, a replacement after a kill then takes many
seconds to get ready. The zygote pays the imports once: it imports the worker and everything
the storage of ``CONFIG`` (a worker configuration file, see :mod:`trialstore.stress._worker`)
needs, without opening any connection or starting any thread, and then forks one child per
worker. A child runs :func:`trialstore.stress._worker.main` and leaves with ``os._exit``.

:class:`WorkerPool <trialstore.stress._pool.WorkerPool>` runs one zygote per host, with the
host's command prefix, so that the zygote and its children live in the host's network
namespace. Protocol: lines of JSON on the zygote's stdin and stdout.

* pool → zygote: ``{"start": [CONFIG, NAME, SEED]}`` forks a worker;
  ``{"reap": PID}`` reaps a child whose exit was reported (the PID stays reserved until then,
  as with a :class:`subprocess.Popen` that has not been polled, so signals sent by the pool
  never reach an unrelated process);
* zygote → pool: ``{"ready": PID}`` once the imports are done; ``{"started": PID}`` after
  each fork, or ``{"error": TEXT}``; ``{"exit": PID, "code": CODE}`` when a child ends
  (``CODE`` as :attr:`subprocess.Popen.returncode`: the exit status, or ``-signum`` for a
  child killed by a signal).

The zygote ends when its stdin closes (the pool stopped, or the harness died): it SIGKILLs and
reaps the children it still has. Each child asks the kernel for SIGKILL when the zygote dies
(``PR_SET_PDEATHSIG``), so no worker outlives its zygote. stdout and stderr of a child are
the zygote's stderr (the run's ``workers.log``); its stdin is ``/dev/null``.

What a child shares with its zygote, unlike a fresh process: the imported modules (no module
of trialstore keeps per-process state from import time; ``random`` is reseeded by Python at
each fork; storage objects, connections and channels exist only after the fork), the hash
seed of ``str`` (one per host instead of one per worker), and its command line (``ps`` shows
the zygote's). At its end a child runs the ``atexit`` handlers and flushes stdio, but does not
join non-daemon threads (the worker starts none). The zygote starts no thread of its own;
numpy's OpenBLAS pool, started by importing numpy, stops itself at each fork (it restarts on
demand), and the zygote warns in ``workers.log`` if any other thread is there when it forks.

This module is the pool's side (the zygote's own code is
:mod:`trialstore.stress._zygote_server`): :class:`Zygote` starts the process, sends requests
and turns the replies into :class:`ZygoteChild` handles, which offer what the harness uses of
a :class:`subprocess.Popen` (``pid``, ``returncode``, ``poll``, ``wait``, ``kill``, ...).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from typing import IO, Any

from trialstore.stress._procs import gone

__all__ = ["ZYGOTE_MAIN", "Zygote", "ZygoteChild", "ZygoteError"]

#: The zygote's command line program (``python -c ZYGOTE_MAIN CONFIG``).
ZYGOTE_MAIN = (
    "import sys; from trialstore.stress._zygote_server import main; sys.exit(main(sys.argv[1:]))"
)


class ZygoteError(RuntimeError):
    """The zygote did not start, died, or could not fork a worker."""


class ZygoteChild:
    """A worker forked by a zygote, seen from the pool: a small :class:`subprocess.Popen`.

    ``returncode`` is set when the zygote reports the exit (``-signum`` for a signal death).
    Signals go straight to the process (same PID namespace); the PID stays reserved until the
    first :meth:`poll` or :meth:`wait` that sees the exit code, as with a real child.
    """

    def __init__(self, zygote: Zygote, pid: int, args: list[str]) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self._zygote = zygote
        self._done = threading.Event()
        self._released = False

    def _set_exit(self, code: int) -> None:  # called by the zygote's reader thread
        self.returncode = code
        self._done.set()

    def _release(self) -> int:
        assert self.returncode is not None
        if not self._released:
            self._released = True
            self._zygote.reap(self.pid)
        return self.returncode

    def poll(self) -> int | None:
        """The exit code if the worker has ended, else None."""
        return self._release() if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit code.

        Raises:
            subprocess.TimeoutExpired: still running after ``timeout`` seconds.
        """
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return self._release()

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` unless the exit is already known."""
        if not self._done.is_set():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)

    def __repr__(self) -> str:
        return f"<ZygoteChild pid={self.pid} returncode={self.returncode}>"


class Zygote:
    """One zygote process (started by ``command``, e.g. ``[*netns_prefix, python, -c,
    ZYGOTE_MAIN, CONFIG]``) and the thread that reads its replies. Call
    :meth:`wait_ready` before :meth:`start`."""

    def __init__(self, command: list[str], stderr: IO[bytes]) -> None:
        self.command = command
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
        )
        self.pid = self._proc.pid
        self._write_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._replies: queue.Queue[ZygoteChild | str] = queue.Queue()
        self._children: dict[int, ZygoteChild] = {}
        self._ready = threading.Event()
        self._dead = threading.Event()
        self._reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self._reader.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the zygote has done its imports.

        Raises:
            ZygoteError: it exited, or was not ready within ``timeout`` seconds (it is then
                stopped).
        """
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._dead.is_set() or time.monotonic() > deadline:
                self.close(timeout=2.0)
                raise ZygoteError(f"zygote {self.command} did not get ready")

    @property
    def alive(self) -> bool:
        """Whether the zygote still serves requests."""
        return not self._dead.is_set()

    def _send(self, message: dict[str, Any]) -> None:
        assert self._proc.stdin is not None
        with self._write_lock:
            self._proc.stdin.write(json.dumps(message).encode() + b"\n")

    def start(self, args: list[str], timeout: float = 60.0) -> ZygoteChild:
        """Fork a worker running ``_worker.main(args)``.

        Raises:
            ZygoteError: the zygote is gone, refused, or did not answer within ``timeout``.
        """
        with self._start_lock:
            if self._dead.is_set():
                raise ZygoteError("the zygote is gone")
            try:
                self._send({"start": args})
                reply = self._replies.get(timeout=timeout)
            except (OSError, ValueError, queue.Empty) as e:  # ValueError: stdin closed
                raise ZygoteError(f"no answer from the zygote: {e!r}") from None
            if isinstance(reply, str):
                raise ZygoteError(reply)
            return reply

    def reap(self, pid: int) -> None:
        """Let the zygote reap ``pid`` (whose exit it reported)."""
        try:
            self._send({"reap": pid})
        except (OSError, ValueError):
            pass  # the zygote is gone (or closed), and its children with it

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "exit" in message:  # always after the child's "started"
                child = self._children.pop(int(message["exit"]), None)
                if child is not None:
                    child._set_exit(int(message["code"]))
            elif "started" in message:
                child = ZygoteChild(self, int(message["started"]), message.get("args", []))
                self._children[child.pid] = child
                self._replies.put(child)
            elif "error" in message:
                self._replies.put(str(message["error"]))
            elif "ready" in message:
                self._ready.set()
        self._dead.set()
        self._replies.put("the zygote exited")
        self._orphaned()

    def _orphaned(self) -> None:
        """The zygote is gone: its remaining children die of PR_SET_PDEATHSIG (or of a
        SIGKILL here, after 5 s); report them as killed (-9)."""
        deadline = time.monotonic() + 5.0
        for pid, child in list(self._children.items()):
            while not gone(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if not gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            child._released = True  # nothing left to reap on the zygote's side
            child._set_exit(-signal.SIGKILL)
        self._children.clear()

    def close(self, timeout: float = 10.0) -> None:
        """Close the zygote's stdin (it SIGKILLs its remaining children and exits), wait up
        to ``timeout`` seconds, then SIGKILL it."""
        if self._proc.stdin is not None:
            with self._write_lock:
                try:
                    self._proc.stdin.close()
                except OSError:
                    pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=10.0)
