"""A replicated PostgreSQL pair of the harness's own: a primary and a synchronous streaming
standby, built and failed over with PostgreSQL's own tools.

:class:`ReplicatedPair` makes two servers (nodes ``a`` and ``b``) in a new temporary
directory, with ``initdb``, ``pg_basebackup`` and ``pg_ctl``, run as the ``postgres`` user
when this process is root (through ``runuser``), else as this user. They listen on 127.0.0.1
only, on two free ports below the kernel's ephemeral range, and never on 5432; nothing outside
the pair's directory is touched. Each node keeps its port for the pair's life, so one URL of
both hosts (:meth:`ReplicatedPair.url`) reaches whichever node is the primary.

Replication is synchronous (``synchronous_standby_names = '*'``, ``synchronous_commit =
on``): a commit is acknowledged once the standby has its WAL, so an acknowledged write survives
the loss of the primary. :meth:`ReplicatedPair.fail_over` kills the primary as a machine
crash would (every process of it stopped, then SIGKILLed, so none of them answers after
another has died) and promotes the standby; the new primary then runs alone, committing
without waiting, until :meth:`ReplicatedPair.rebuild` makes the old primary its standby
(``pg_rewind``, or a fresh ``pg_basebackup`` when that fails) and turns synchronous replication
back on. :meth:`ReplicatedPair.close` (also at exit of the context, and at interpreter exit
after an error) kills both servers and removes the directory.

Needs the server binaries (``/usr/lib/postgresql/*/bin`` or ``pg_config --bindir``; see
:func:`missing_prerequisites`) and psycopg.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialstore.stress._procs import gone, processes

__all__ = ["PgNode", "ReplicatedPair", "find_bin_dir", "missing_prerequisites"]

_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "postgres")
#: The OS user that runs the servers when this process is root (initdb refuses root).
_OWNER_WHEN_ROOT = "postgres"
#: Appended to the first node's postgresql.conf (the standby gets a copy).
_CONF = """
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
max_connections = 300
shared_buffers = '32MB'
wal_level = replica
max_wal_senders = 8
wal_keep_size = '1GB'
hot_standby = on
wal_log_hints = on
full_page_writes = on
synchronous_commit = on
wal_receiver_status_interval = '1s'
# A killed primary loses no page the OS holds, and the machine itself never crashes here:
# skipping fsync only saves time.
fsync = off
logging_collector = off
log_min_messages = warning
"""
_HBA = """
local all all trust
local replication all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""
#: Seconds a start, a promotion, a catch-up may take on a loaded machine.
_WAIT_S = 120.0


def find_bin_dir() -> Path | None:
    """The directory of PostgreSQL's server binaries (the newest under
    ``/usr/lib/postgresql/*/bin``, else ``pg_config --bindir``), or None."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()  # fmt: skip
            candidates.append(Path(out))
    for directory in candidates:
        if all((directory / tool).is_file() for tool in _TOOLS):
            return directory
    return None


def missing_prerequisites() -> str | None:
    """Why a :class:`ReplicatedPair` cannot be built here (None: it can): no server binaries,
    no psycopg, or root without a ``postgres`` user to run the servers as."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL's server binaries (" + ", ".join(_TOOLS) + ") are not installed "
            "(looked in /usr/lib/postgresql/*/bin and pg_config --bindir)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'trialstore[postgresql]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_OWNER_WHEN_ROOT)
        except KeyError:
            return f"running as root, and there is no {_OWNER_WHEN_ROOT!r} user to run the servers"
    return None


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1, below the ephemeral range (so that no
    outgoing connection takes one while its node is down)."""
    low, high = 10000, 32767
    with contextlib.suppress(OSError, ValueError):
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = max(low + 1000, first - 1)
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < count:
        port = rng.randint(low, high)
        if port == 5432 or port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class PgNode:
    """One server of the pair: its name, port, data directory and log file."""

    name: str
    port: int
    data: Path
    log: Path

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (from ``postmaster.pid``), or None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return None if gone(pid) else pid


class ReplicatedPair:
    """A primary and a synchronous standby on 127.0.0.1 (see the module's description).

    ``user``: the servers' superuser, the one the URLs name (trust authentication: no
    password). ``databases``: created on the primary once the pair is up. Not thread-safe:
    one thread drives the pair while others use its servers.
    """

    def __init__(
        self,
        *,
        user: str = "postgres",
        databases: tuple[str, ...] = (),
        parent_dir: str | None = None,
    ) -> None:
        problem = missing_prerequisites()
        if problem is not None:
            raise RuntimeError(f"cannot build a replicated PostgreSQL pair: {problem}")
        bin_dir = find_bin_dir()
        assert bin_dir is not None
        self.bin_dir = bin_dir
        self.user = user
        self.databases = databases
        self._parent_dir = parent_dir
        self._owner = pwd.getpwnam(_OWNER_WHEN_ROOT) if os.geteuid() == 0 else None
        self._creator = os.getpid()
        self.base: Path | None = None
        self.nodes: list[PgNode] = []
        self.primary: PgNode | None = None
        #: The node that follows the primary synchronously, None while there is none.
        self.standby: PgNode | None = None
        #: The killed old primary, until :meth:`rebuild` makes it the standby.
        self.down: PgNode | None = None
        self.failovers = 0
        self._closed = False

    # -- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> ReplicatedPair:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Build and start both nodes, wait until the standby follows synchronously, create
        the databases.

        Raises:
            RuntimeError: a tool failed or a server did not come up (the message holds the
                end of its output or log).
        """
        atexit.register(self._at_exit)
        self.base = Path(tempfile.mkdtemp(prefix="trialstore-pgpair-", dir=self._parent_dir))
        self.base.chmod(0o755)
        (self.base / "sock").mkdir()
        self._own(self.base)
        self._own(self.base / "sock")
        ports = _free_ports(2)
        self.nodes = [
            PgNode(name, port, self.base / name, self.base / f"{name}.log")
            for name, port in zip(("a", "b"), ports, strict=True)
        ]
        first, second = self.nodes
        self._tool("initdb", "-D", str(first.data), "-U", self.user, "-A", "trust", "-E",
                   "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        with open(first.data / "postgresql.conf", "a") as conf:
            conf.write(_CONF.format(socket_dir=self.base / "sock"))
        (first.data / "pg_hba.conf").write_text(_HBA)
        self._start(first)
        self.primary = first
        self._base_backup(second)
        self._start(second)
        self._make_synchronous(second)
        with self._connect(first) as conn:
            for name in self.databases:
                conn.execute(f'CREATE DATABASE "{name}"')

    def close(self) -> None:
        """Kill both servers and remove the pair's directory (errors ignored: every step is
        tried). Idempotent."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._at_exit)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                self._kill(node)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)

    def _at_exit(self) -> None:
        if os.getpid() == self._creator:  # not in a forked child
            self.close()

    # -- what clients use ---------------------------------------------------------------------

    @property
    def ports(self) -> list[int]:
        """The nodes' ports, in the order of the URLs' hosts."""
        return [node.port for node in self.nodes]

    def url(
        self, database: str, address: str = "127.0.0.1", driver: str = "postgresql+psycopg"
    ) -> str:
        """The URL of ``database`` on both nodes, reached at ``address`` (127.0.0.1, or a
        forwarder's address on the same ports): ``DRIVER://USER@/DB?host=A:P1,A:P2&
        target_session_attrs=read-write``."""
        hosts = ",".join(f"{address}:{port}" for port in self.ports)
        return f"{driver}://{self.user}@/{database}?host={hosts}&target_session_attrs=read-write"

    @property
    def healthy(self) -> bool:
        """Whether a primary runs with a standby that follows it synchronously (only then can
        the primary be lost without losing an acknowledged commit)."""
        return self.primary is not None and self.standby is not None and not self._closed

    # -- faults ---------------------------------------------------------------------------------

    def fail_over(self) -> dict[str, Any]:
        """Kill the primary, promote the standby; return what happened, with the
        ``monotonic_ns`` instants ``t_kill`` (the old primary is gone) and ``t_promoted`` (the
        new one takes writes).

        Raises:
            RuntimeError: the pair is not :attr:`healthy`, or the promotion failed.
        """
        if not self.healthy:
            raise RuntimeError("no synchronous standby to fail over to")
        old, new = self.primary, self.standby
        assert old is not None and new is not None
        killed = self._kill(old)
        t_kill = time.monotonic_ns()
        self.primary, self.standby, self.down = None, None, old
        self._tool("pg_ctl", "-D", str(new.data), "-w", "-t", str(int(_WAIT_S)), "promote")
        self._wait_writable(new)
        t_promoted = time.monotonic_ns()
        self.primary = new
        self.failovers += 1
        return {
            "old_primary": f"{old.name}:{old.port}",
            "new_primary": f"{new.name}:{new.port}",
            "processes_killed": killed,
            "t_kill": t_kill,
            "t_promoted": t_promoted,
            "promote_s": round((t_promoted - t_kill) / 1e9, 3),
        }

    def rebuild(self) -> dict[str, Any]:
        """Make the killed old primary the new primary's synchronous standby: ``pg_rewind``
        (after a checkpoint on the new primary, so that its control file names its new
        timeline), or, if that fails, a fresh ``pg_basebackup``; then start it, wait until it
        streams and turn synchronous replication on. Returns what happened.

        Raises:
            RuntimeError: no node is down, or the node could not be made a standby.
        """
        node, primary = self.down, self.primary
        if node is None or primary is None:
            raise RuntimeError("no killed primary to rebuild")
        t0 = time.monotonic()
        with self._connect(primary) as conn:
            conn.execute("CHECKPOINT")
        how = "pg_rewind"
        try:
            self._tool("pg_rewind", "--target-pgdata", str(node.data), "--source-server",
                       self._conninfo(primary), "--no-sync")  # fmt: skip
        except RuntimeError as e:
            how = f"pg_basebackup (pg_rewind failed: {str(e)[-200:]})"
            shutil.rmtree(node.data, ignore_errors=True)
            self._base_backup(node)
        self._follow(node, primary)
        self._start(node)
        self._make_synchronous(node)
        self.down = None
        return {"rebuilt": f"{node.name}:{node.port}", "how": how,
                "rebuild_s": round(time.monotonic() - t0, 3)}  # fmt: skip

    # -- helpers ----------------------------------------------------------------------------

    def _own(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def _tool(self, name: str, *args: str, timeout: float = _WAIT_S) -> str:
        command = [str(self.bin_dir / name), *args]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        assert self.base is not None
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              cwd=self.base, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
        output = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise RuntimeError(f"{name} failed ({done.returncode}): {output[-800:]}")
        return output

    def _conninfo(self, node: PgNode, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={node.port} user={self.user} dbname={database}"

    def _connect(self, node: PgNode) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo(node), autocommit=True, connect_timeout=10)

    def _start(self, node: PgNode) -> None:
        try:
            self._tool("pg_ctl", "-D", str(node.data), "-l", str(node.log), "-w", "-t",
                       str(int(_WAIT_S)), "-o", f"-p {node.port}", "start")  # fmt: skip
        except RuntimeError as e:
            log = node.log.read_text(errors="replace")[-800:] if node.log.exists() else ""
            raise RuntimeError(f"node {node.name} did not start: {e}\n{log}") from None

    def _base_backup(self, node: PgNode) -> None:
        assert self.primary is not None
        self._tool("pg_basebackup", "-D", str(node.data), "-h", "127.0.0.1", "-p",
                   str(self.primary.port), "-U", self.user, "-X", "stream", "-c", "fast",
                   "--no-sync")  # fmt: skip
        self._follow(node, self.primary)

    def _follow(self, node: PgNode, primary: PgNode) -> None:
        """Make ``node``'s data directory a standby of ``primary`` (its own settings only:
        whatever a copy brought along in postgresql.auto.conf is replaced)."""
        conninfo = f"{self._conninfo(primary)} application_name={node.name}"
        auto = node.data / "postgresql.auto.conf"
        auto.write_text(f"primary_conninfo = '{conninfo}'\n")
        (node.data / "standby.signal").write_text("")
        for path in (auto, node.data / "standby.signal"):
            self._own(path)

    def _make_synchronous(self, standby: PgNode) -> None:
        """Wait until ``standby`` streams from the primary, require its acknowledgement for
        every commit, and wait until it is the synchronous standby and has every commit."""
        primary = self.primary
        assert primary is not None
        self._wait_for(primary, "the standby to stream",
                       "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                       "AND application_name = %s", (standby.name,))  # fmt: skip
        with self._connect(primary) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")
            lsn = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        self._wait_for(primary, "the standby to be synchronous",
                       "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync' "
                       "AND application_name = %s AND flush_lsn >= %s::pg_lsn",
                       (standby.name, str(lsn)))  # fmt: skip
        self.standby = standby

    def _wait_for(self, node: PgNode, what: str, query: str, params: tuple[Any, ...]) -> None:
        deadline = time.monotonic() + _WAIT_S
        while True:
            with self._connect(node) as conn:
                if conn.execute(query, params).fetchone()[0]:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what} (node {node.name})")
            time.sleep(0.05)

    def _wait_writable(self, node: PgNode) -> None:
        deadline = time.monotonic() + _WAIT_S
        while True:
            with contextlib.suppress(Exception), self._connect(node) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node.name} did not leave recovery")
            time.sleep(0.02)

    def _kill(self, node: PgNode) -> int:
        """Stop the node's postmaster and every process of it, then SIGKILL them all: no
        process of the node sees another one die and goes on to answer (a backend that saw
        the postmaster die would end its wait for the standby and make its commit visible).
        Returns how many processes were killed; waits until they are gone."""
        pid = node.postmaster_pid()
        if pid is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
        pids = [pid, *processes(parent=pid)]
        for child in pids[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGSTOP)
        for target in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not all(gone(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.005)
        # Its lock files name a pid that may linger as a zombie, which a new postmaster would
        # take for a live one.
        assert self.base is not None
        socket_file = self.base / "sock" / f".s.PGSQL.{node.port}"
        for stale in (node.data / "postmaster.pid", socket_file, Path(f"{socket_file}.lock")):
            stale.unlink(missing_ok=True)
        return len(pids)
