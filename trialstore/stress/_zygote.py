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

:class:`Zygote` is the pool's side: it starts the process, sends requests and turns the
replies into :class:`ZygoteChild` handles, which offer what the harness uses of a
:class:`subprocess.Popen` (``pid``, ``returncode``, ``poll``, ``wait``, ``kill``, ...).
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

__all__ = ["ZYGOTE_MAIN", "Zygote", "ZygoteChild", "ZygoteError", "main", "preload"]

#: The zygote's command line program (``python -c ZYGOTE_MAIN CONFIG``). Not ``python -m``:
#: ``trialstore.stress`` imports this module, and runpy would run a second copy of it.
ZYGOTE_MAIN = (
    "import sys; from trialstore.stress._zygote import main; sys.exit(main(sys.argv[1:]))"
)

_PR_SET_PDEATHSIG = 1
_RDB_SCHEMES = ("sqlite", "postgres", "postgresql", "mysql", "mariadb")


class ZygoteError(RuntimeError):
    """The zygote did not start, died, or could not fork a worker."""


# --------------------------------------------------------------------------- pool side


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
            while not _gone(pid) and time.monotonic() < deadline:
                time.sleep(0.01)
            if not _gone(pid):
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


def _gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs (absent, or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] in (["Z"], ["X"])


# --------------------------------------------------------------------------- zygote side


def preload(config: dict[str, Any]) -> list[str]:
    """Import what a worker of ``config`` needs: the worker, the storage backend and its
    driver. Opens no connection and starts no thread. Returns warnings (failed imports; the
    worker then imports them itself and reports any error as it would without a zygote)."""
    from trialstore.stress import _worker  # noqa: F401  (the worker and what it imports)
    from trialstore.stress._target import StorageTarget

    warnings: list[str] = []
    target = StorageTarget.from_json(config["target"])
    url = target.url
    scheme = url.partition("://")[0].lower()

    def attempt(what: str, step: Any) -> None:
        try:
            step()
        except Exception as e:
            warnings.append(f"preloading {what}: {type(e).__name__}: {e}")

    if target.factory is not None:
        module = target.factory.partition(":")[0]
        attempt(module, lambda: importlib.import_module(module))
        return warnings

    def backend() -> None:
        from trialstore.storage._url import _factory_for

        _factory_for(url)

    attempt("the storage backend", backend)
    if scheme == "journal":
        attempt("the journal file", lambda: importlib.import_module(
            "trialstore.storage.journal._file"))  # fmt: skip
    elif scheme == "journal+redis":
        for module in ("trialstore.storage.journal._redis", "redis"):
            attempt(module, lambda m=module: importlib.import_module(m))
    elif scheme.split("+")[0] in _RDB_SCHEMES:

        def driver() -> None:
            from trialstore.storage.rdb._engine import normalize_url

            dialect = normalize_url(url).get_dialect()
            dialect.import_dbapi()

        attempt("the database driver", driver)
        # imported by the migration scripts that opening a database reads
        attempt("the migration helpers", lambda: importlib.import_module(
            "trialstore.storage.rdb._migrate_helpers"))  # fmt: skip
    return warnings


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def _set_pdeathsig() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the zygote SIGKILLs its children when its stdin closes


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _child(args: list[str], zygote_pid: int, close_fds: list[int]) -> None:
    """Runs in the forked child: become a worker, run it, leave with ``os._exit``."""
    code = 1
    interrupted = False
    try:
        _set_pdeathsig()
        if os.getppid() != zygote_pid:
            os._exit(1)  # the zygote died before prctl took effect: nobody waits for us
        signal.set_wakeup_fd(-1)
        for fd in close_fds:
            os.close(fd)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)  # stdout joins stderr: the run's workers.log
        from trialstore.stress import _worker

        sys.argv = [_worker.__file__ or "trialstore.stress._worker", *args]
        try:
            code = _worker.main(args)
        except SystemExit as e:
            code = _exit_code(e)
        except KeyboardInterrupt:
            traceback.print_exc()
            interrupted = True
        except BaseException:
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    except BaseException:
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        if interrupted:  # like the interpreter: die of SIGINT, so the exit code is -2
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code & 0xFF)


def _write(message: dict[str, Any]) -> None:
    data = json.dumps(message).encode() + b"\n"
    while data:
        data = data[os.write(1, data) :]


def serve() -> int:
    """The zygote's loop: fork on request, report exits, stop when stdin closes."""
    me = os.getpid()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    children: set[int] = set()
    reported: set[int] = set()
    buffer = b""
    stdin_open = True
    warned = False
    try:
        _write({"ready": me})
        while stdin_open:
            readable, _, _ = select.select([0, wake_r], [], [])
            if wake_r in readable:
                try:
                    while os.read(wake_r, 4096):
                        pass
                except BlockingIOError:
                    pass
            for pid in sorted(children - reported):
                info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if info is None or info.si_pid == 0:
                    continue
                killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
                _write({"exit": pid, "code": -info.si_status if killed else info.si_status})
                reported.add(pid)
            if 0 not in readable:
                continue
            data = os.read(0, 65536)
            if not data:
                stdin_open = False
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    request = json.loads(line)
                except ValueError:
                    print(f"zygote: bad request {line!r}", file=sys.stderr)
                    continue
                if "reap" in request:
                    pid = int(request["reap"])
                    if pid in reported:
                        os.waitpid(pid, 0)
                        children.discard(pid)
                        reported.discard(pid)
                elif "start" in request:
                    args = [str(a) for a in request["start"]]
                    try:
                        pid = os.fork()
                    except OSError as e:
                        _write({"error": f"fork failed: {e}"})
                        continue
                    if pid == 0:
                        _child(args, me, [wake_r, wake_w])
                    children.add(pid)
                    _write({"started": pid, "args": args})
                    # Counted after the fork: numpy's OpenBLAS threads exist before the first
                    # one but stop themselves at fork (pthread_atfork) and restart on demand.
                    if not warned and _threads() > 1:
                        warned = True
                        print(
                            f"zygote: {_threads()} threads while forking: a child may hang "
                            "on a lock that another thread held",
                            file=sys.stderr,
                        )
    except BrokenPipeError:
        pass  # the pool is gone
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in children:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                continue
            if pid not in reported:
                try:
                    _write({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass
    return 0


def main(argv: list[str]) -> int:
    """``python -c "$ZYGOTE_MAIN" CONFIG``: preload for ``CONFIG``, then serve."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # it ends when the pool closes its stdin
    config = json.loads(Path(argv[0]).read_text())
    for warning in preload(config):
        print(f"zygote: {warning}", file=sys.stderr)
    sys.stderr.flush()
    gc.collect()
    gc.freeze()  # the children's collector skips everything imported here
    return serve()
