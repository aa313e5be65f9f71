"""Restarting what a storage talks to: a database server, or a gRPC proxy the harness runs.

A *restart hook* is a callable that restarts (or imitates restarting) the server and returns
once it accepts connections again, with a dict of details for the report.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trialstore.stress._config import RestartMode

__all__ = ["GrpcProxyProcess", "RestartHook", "restart_hook_for"]

RestartHook = Callable[[], dict[str, Any]]


def _wait_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _run(command: list[str], timeout: float = 120.0) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    return (done.stdout + done.stderr).strip()[-500:]


def _restart_postgres_real(url: str) -> dict[str, Any]:
    versions = sorted(os.listdir("/etc/postgresql"))
    out = _run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"])
    up = _wait_port("127.0.0.1", 5432, 120)
    return {"how": "pg_ctlcluster restart", "output": out, "up": up}


def _restart_mariadb_real(url: str) -> dict[str, Any]:
    pids = _run(["pidof", "mariadbd"]).split()
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    for pid in pids:  # wait for the old server to be gone before starting a new one
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.05)
    out = _run(["start-stop-daemon", "--start", "--oknodo", "--background",
                "--exec", "/usr/sbin/mariadbd"])  # fmt: skip
    up = _wait_port("127.0.0.1", 3306, 120)
    return {"how": "SIGKILL mariadbd + start-stop-daemon", "killed": pids, "output": out,
            "up": up}  # fmt: skip


def _terminate_sessions(url: str) -> dict[str, Any]:
    """Close every other connection to the run's database (what clients see of a restart)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rows = conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )).fetchall()  # fmt: skip
                killed = len(rows)
            else:
                ids = [r[0] for r in conn.execute(sa.text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = DATABASE() AND id <> CONNECTION_ID()"
                ))]  # fmt: skip
                killed = 0
                for conn_id in ids:
                    try:
                        conn.execute(sa.text(f"KILL CONNECTION {int(conn_id)}"))
                        killed += 1
                    except sa.exc.DBAPIError:
                        pass  # already gone
    finally:
        engine.dispose()
    return {"how": "terminate the database's sessions", "sessions_killed": killed}


def restart_hook_for(
    url: str, mode: RestartMode, fake: Callable[[], None] | None = None
) -> RestartHook | None:
    """Return the hook that restarts the server behind ``url`` in ``mode``, or None when the
    URL names no server this harness can restart (file backends, Redis, remote hosts).

    ``mode``: ``"real"`` restarts the server process (PostgreSQL via ``pg_ctlcluster``,
    MariaDB by SIGKILL of ``mariadbd`` and ``start-stop-daemon``: every database on it is
    affected); ``"sessions"`` terminates the connections to the run's database only;
    ``"fake"`` calls ``fake`` (or nothing) and reports that.
    """
    scheme = url.partition("://")[0].lower().split("+")[0]
    if mode == "fake":

        def fake_hook() -> dict[str, Any]:
            if fake is not None:
                fake()
            return {"how": "fake"}

        return fake_hook
    if scheme == "postgresql":
        if mode == "real":
            return lambda: _restart_postgres_real(url)
        return lambda: _terminate_sessions(url)
    if scheme in ("mysql", "mariadb"):
        if mode == "real":
            return lambda: _restart_mariadb_real(url)
        return lambda: _terminate_sessions(url)
    return None


class GrpcProxyProcess:
    """A gRPC proxy over ``inner_url`` run by the harness as its own process on 127.0.0.1.

    :meth:`restart` SIGKILLs it and starts a new one on the same port.
    """

    def __init__(self, inner_url: str, kwargs: dict[str, Any], log: Path) -> None:
        self.inner_url = inner_url
        self.kwargs = kwargs
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"grpc://127.0.0.1:{self.port}"
        self._log = open(log, "ab")
        self._proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start the proxy and wait until it accepts connections.

        Raises:
            RuntimeError: it did not come up within 30 s.
        """
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "trialstore.stress._proxy", self.inner_url, str(self.port),
             json.dumps(self.kwargs)],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if not _wait_port("127.0.0.1", self.port, 30):
            raise RuntimeError(f"gRPC proxy over {self.inner_url} did not start")

    def restart(self) -> dict[str, Any]:
        """SIGKILL the proxy, start a new one; return details for the report."""
        assert self._proc is not None
        self._proc.kill()
        self._proc.wait()
        t = time.monotonic()
        self.start()
        return {"how": "SIGKILL gRPC proxy + start", "start_s": round(time.monotonic() - t, 3)}

    def stop(self) -> None:
        """Stop the proxy."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
