"""Pure helpers of the fault injectors: lock-holder detection and URL rewriting for hosts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from trialstore.stress._faults import holds_lock
from trialstore.stress._netns import Forwarder, Hosts, host_url

LOCKS = """\
1: FLOCK  ADVISORY  WRITE 4242 00:2a:1234 0 EOF
1: -> FLOCK  ADVISORY  WRITE 5151 00:2a:1234 0 EOF
2: POSIX  ADVISORY  READ 777 00:2a:99 0 EOF
"""


def test_holds_lock_reads_holders_not_waiters() -> None:
    assert holds_lock(4242, LOCKS)
    assert holds_lock(777, LOCKS)
    assert not holds_lock(5151, LOCKS)  # waiting for the lock, not holding it
    assert not holds_lock(1, LOCKS)


def test_holds_lock_sees_a_real_flock(tmp_path: Path) -> None:
    # A fresh child holds nothing else (this test process may, e.g. other tests' SQLite locks).
    script = (
        "import fcntl, sys\n"
        "f = open(sys.argv[1], 'w')\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "fcntl.flock(f, fcntl.LOCK_EX)\n"
        "print('locked', flush=True); sys.stdin.readline()\n"
        "fcntl.flock(f, fcntl.LOCK_UN)\n"
        "print('unlocked', flush=True); sys.stdin.readline()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "lock")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        for expected in (False, True, False):
            child.stdout.readline()
            assert holds_lock(child.pid) is expected
            child.stdin.write("\n")
            child.stdin.flush()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql+psycopg://u:p@127.0.0.1:5432/db",
            "postgresql+psycopg://u:p@198.18.0.5:5432/db",
        ),
        (
            "journal+redis://127.0.0.1:6379/0?prefix=x",
            "journal+redis://198.18.0.5:6379/0?prefix=x",
        ),
        ("grpc://localhost:13000", "grpc://198.18.0.5:13000"),
        ("journal:///tmp/x.log", "journal:///tmp/x.log"),
    ],
)
def test_host_url(url: str, expected: str) -> None:
    assert host_url(url, "198.18.0.5") == expected


def test_forwarder_refuses_addresses_outside_the_test_range() -> None:
    with pytest.raises(ValueError, match=r"198\.18\.0\.0/24"):
        Forwarder("0.0.0.0", 5432, 5432)


def test_kills_go_on_while_a_long_fault_holds() -> None:
    """A long fault waits through the schedule, which fires the kills due meanwhile: a
    lock-holder stop or a partition does not take its time off the kill rate."""
    import random
    import time

    from trialstore.stress._faults import FaultEvent, FaultSchedule

    fired: list[str] = []

    def kill() -> FaultEvent:
        fired.append("kill")
        now = time.monotonic_ns()
        return FaultEvent("kill", "w", now, now)

    def long_fault() -> FaultEvent:
        start = time.monotonic_ns()
        fired.append("long-start")
        schedule.idle(1.0)
        fired.append("long-end")
        return FaultEvent("partition", "x", start, time.monotonic_ns())

    schedule = FaultSchedule(
        {"kill": kill, "partition": long_fault},
        {"kill": 0.1, "partition": 100.0},
        random.Random(0),
    )
    now = time.monotonic()
    schedule.start(now, now + 30)
    schedule._due = {"partition": now, "kill": now + 0.05}
    schedule.tick(time.monotonic(), now + 30)
    during = fired[fired.index("long-start") + 1 : fired.index("long-end")]
    assert during.count("kill") >= 4  # ~10 due in the second; a loaded machine fires fewer
    assert [e.kind for e in schedule.events].count("kill") == during.count("kill")


@pytest.mark.netns
def test_hosts_set_up_at_once_get_links_of_their_own() -> None:
    """Two runs (or tests) at once: each host's subnet is its own, and traffic from a
    namespace comes back to that namespace (a shared subnet sent one run's replies into the
    other's namespace)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and ip")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        server.listen(8)
        with Hosts(2, [port]) as first, Hosts(1, [port]) as second:
            gateways = [first.gateway(0), first.gateway(1), second.gateway(0)]
            assert len(set(gateways)) == 3
            assert all(g.startswith("198.18.0.") for g in gateways)
            for hosts, i in ((first, 0), (first, 1), (second, 0)):
                probe = (
                    "import socket, sys\n"
                    "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)\n"
                    "s.sendall(b'x'); s.close()\n"
                )
                cmd = [*hosts.prefix(i), sys.executable, "-c", probe, hosts.gateway(i), str(port)]
                subprocess.run(cmd, check=True, timeout=30, capture_output=True)
                conn, _ = server.accept()
                with conn:
                    assert conn.recv(1) == b"x"


@pytest.mark.netns
def test_a_closed_forwarder_frees_its_address_and_port() -> None:
    """Closing the listening socket alone left it listening while its accept thread was
    blocked in it, so a later forwarder on the same address and port failed with 'Address
    already in use' (CI, while another process's closed forwarders still listened)."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and ip")
    with Hosts(1, []) as hosts:
        address = hosts.gateway(0)
        for _ in range(2):
            forwarder = Forwarder(address, 45678, 1)
            forwarder.close()
        listening = subprocess.run(
            ["ss", "-Hltn", f"src {address}"], capture_output=True, text=True, check=True
        ).stdout
        assert listening.strip() == ""


@pytest.mark.netns
def test_links_skip_blocks_where_a_socket_still_listens() -> None:
    """A block whose address is gone from every link but still has a listening socket (a
    process that removed its links and has not closed its sockets) is not handed out."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and ip")
    with Hosts(1, []) as first:
        address = first.gateway(0)
        lingering = socket.create_server((address, 45679))
    try:
        with Hosts(1, []) as second:
            assert second.gateway(0) != address
    finally:
        lingering.close()
