"""The zygote's side of :mod:`trialstore.stress._zygote`: preload, then fork workers on
request (``python -c "$ZYGOTE_MAIN" CONFIG`` runs :func:`main`). The protocol and what a child
shares with its zygote are described there."""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import json
import os
import select
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main", "preload"]

_PR_SET_PDEATHSIG = 1
_RDB_SCHEMES = ("sqlite", "postgres", "postgresql", "mysql", "mariadb")


def preload(config: dict[str, Any]) -> list[str]:
    """Import what a worker of ``config`` needs: the worker, the storage backend's public
    package (all of ``trialstore.storage.journal``; ``trialstore.storage.rdb`` with the
    helpers its migration scripts import) and its driver. Opens no connection and starts no
    thread. Returns warnings (failed imports; the worker then imports them itself and
    reports any error as it would without a zygote)."""
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
        from trialstore.storage import storage_factory

        storage_factory(url)  # imports the package that SCHEME_FACTORIES names

    attempt("the storage backend", backend)
    if scheme == "journal+redis":
        attempt("redis", lambda: importlib.import_module("redis"))
    elif scheme.split("+")[0] in _RDB_SCHEMES:

        def driver() -> None:
            from trialstore.storage.rdb import normalize_url

            dialect = normalize_url(url).get_dialect()
            dialect.import_dbapi()

        attempt("the database driver", driver)
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
        _detach_from_zygote(zygote_pid, close_fds)
        code, interrupted = _run_worker(args)
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


def _detach_from_zygote(zygote_pid: int, close_fds: list[int]) -> None:
    """In the forked child: die with the zygote, drop its fds and signal handlers, read
    nothing, and write stdout to stderr (the run's workers.log)."""
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
    os.dup2(2, 1)


def _run_worker(args: list[str]) -> tuple[int, bool]:
    """Run the worker's main with ``args``; return its exit code and whether it was
    interrupted (KeyboardInterrupt). Tracebacks go to stderr."""
    from trialstore.stress import _worker

    sys.argv = [_worker.__file__ or "trialstore.stress._worker", *args]
    try:
        return _worker.main(args), False
    except SystemExit as e:
        return _exit_code(e), False
    except KeyboardInterrupt:
        traceback.print_exc()
        return 1, True
    except BaseException:
        traceback.print_exc()
        return 1, False


def _write(message: dict[str, Any]) -> None:
    data = json.dumps(message).encode() + b"\n"
    while data:
        data = data[os.write(1, data) :]


def serve() -> int:
    """The zygote's loop: fork on request, report exits, stop when stdin closes."""
    zygote = _Zygote()
    buffer = b""
    stdin_open = True
    try:
        _write({"ready": zygote.pid})
        while stdin_open:
            readable, _, _ = select.select([0, zygote.wake_r], [], [])
            if zygote.wake_r in readable:
                zygote.drain_wakeups()
            zygote.report_exits()
            if 0 not in readable:
                continue
            data = os.read(0, 65536)
            if not data:
                stdin_open = False
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                zygote.handle(line)
    except BrokenPipeError:
        pass  # the pool is gone
    finally:
        zygote.kill_children()
    return 0


class _Zygote:
    """The zygote's state: its children, those whose exit it reported, and the pipe the
    SIGCHLD handler wakes its loop with. Installs that handler."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        self.children: set[int] = set()
        self.reported: set[int] = set()
        self.warned = False

    def drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def report_exits(self) -> None:
        """Write an exit message for each child that exited since (it stays a zombie until
        the pool asks to reap it, so that its pid is not reused meanwhile)."""
        for pid in sorted(self.children - self.reported):
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is None or info.si_pid == 0:
                continue
            killed = info.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
            _write({"exit": pid, "code": -info.si_status if killed else info.si_status})
            self.reported.add(pid)

    def handle(self, line: bytes) -> None:
        """Carry out one request line: ``{"reap": pid}`` or ``{"start": args}``."""
        try:
            request = json.loads(line)
        except ValueError:
            print(f"zygote: bad request {line!r}", file=sys.stderr)
            return
        if "reap" in request:
            self._reap(int(request["reap"]))
        elif "start" in request:
            self._start([str(a) for a in request["start"]])

    def _reap(self, pid: int) -> None:
        if pid in self.reported:
            os.waitpid(pid, 0)
            self.children.discard(pid)
            self.reported.discard(pid)

    def _start(self, args: list[str]) -> None:
        try:
            pid = os.fork()
        except OSError as e:
            _write({"error": f"fork failed: {e}"})
            return
        if pid == 0:
            _child(args, self.pid, [self.wake_r, self.wake_w])
        self.children.add(pid)
        _write({"started": pid, "args": args})
        # Counted after the fork: numpy's OpenBLAS threads exist before the first one but
        # stop themselves at fork (pthread_atfork) and restart on demand.
        if not self.warned and _threads() > 1:
            self.warned = True
            print(
                f"zygote: {_threads()} threads while forking: a child may hang on a lock that "
                "another thread held",
                file=sys.stderr,
            )

    def kill_children(self) -> None:
        """SIGKILL every child, wait for each, and report the exits not reported yet (if the
        pool still listens)."""
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in self.children:
            try:
                _, status = os.waitpid(pid, 0)
            except ChildProcessError:
                continue
            if pid not in self.reported:
                try:
                    _write({"exit": pid, "code": os.waitstatus_to_exitcode(status)})
                except OSError:
                    pass


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
