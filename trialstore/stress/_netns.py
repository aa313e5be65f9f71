"""Simulated hosts: Linux network namespaces joined to this one by veth pairs.

Host ``i`` is namespace ``tss<tag>h<i>`` with its own link ``198.18.0.(4b)/30``, where ``b`` is
a block of the /24 that no other link on this machine uses: this side of the veth is
``.4b+1``, the namespace side ``.4b+2``. Blocks are chosen under a machine-wide file lock from
the addresses this namespace already holds, so several runs (or tests) at once never share a
subnet; sharing one would send one run's replies into the other's namespaces. Servers here
listen on 127.0.0.1 only, so for each server port a :class:`Forwarder` listens on
``198.18.0.(4b+1):port`` and relays to ``127.0.0.1:port``; a worker in host ``i`` uses the
storage URL with its host part replaced by that address (:meth:`Hosts.gateway`). A partition
sets this side of the veth down (packets are dropped, TCP connections stall until it comes
back up). No address outside 198.18.0.0/24 and 127.0.0.1 is used. Needs root and ``ip``.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import portalocker

__all__ = ["Forwarder", "Hosts", "host_url"]

_RANGE = ipaddress.IPv4Network("198.18.0.0/24")
_BLOCKS = _RANGE.num_addresses // 4  # /30 links
# Held while blocks are chosen and their addresses added, by every Hosts on this machine (a
# fixed path, not TMPDIR's: runs with different TMPDIRs still share the one /24).
_ALLOCATION_LOCK = Path("/tmp/trialstore-netns.lock")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Forwarder:
    """Relay TCP connections from ``listen`` to ``127.0.0.1:target_port`` (threads)."""

    def __init__(self, listen_host: str, listen_port: int, target_port: int) -> None:
        if not listen_host.startswith("198.18.0."):
            raise ValueError("the forwarder listens on 198.18.0.0/24 addresses only")
        self.target = ("127.0.0.1", target_port)
        self._server = socket.create_server((listen_host, listen_port), backlog=256)
        self._closing = False
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def close(self) -> None:
        """Stop accepting and close every relayed connection. The listening socket is
        released before this returns (closing it alone leaves it listening while the accept
        thread is blocked in it)."""
        self._closing = True
        try:
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (Linux)
        except OSError:
            pass
        self._server.close()
        self._thread.join(timeout=5)
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _blocks_in_use() -> set[int]:
    """The /30 blocks of 198.18.0.0/24 that an address of this namespace falls in, or that a
    TCP socket here still listens in (a forwarder of a process that removed its links but
    has not closed its sockets: binding there would fail)."""
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], check=True, capture_output=True,
                         text=True, timeout=30).stdout  # fmt: skip
    addresses = [ipaddress.IPv4Address(a) for a in re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)", out)]
    addresses += _listening_addresses()
    return {(int(ip) - int(_RANGE.network_address)) // 4 for ip in addresses if ip in _RANGE}


def _listening_addresses() -> list[ipaddress.IPv4Address]:
    """The local addresses of this namespace's listening IPv4 TCP sockets."""
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
            address_hex = fields[1].partition(":")[0]
            packed = int(address_hex, 16).to_bytes(4, sys.byteorder)
            found.append(ipaddress.IPv4Address(packed))
    return found


def host_url(url: str, address: str) -> str:
    """Return ``url`` with its network location's host replaced by ``address``."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return url
    netloc = parts.netloc
    userinfo, at, _ = netloc.rpartition("@")
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"{userinfo}{at}{address}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class Hosts:
    """``count`` namespaces with forwarders for ``ports``; use as a context manager.

    Everything created is removed by :meth:`close`, also after a partial setup.
    """

    def __init__(self, count: int, ports: list[int]) -> None:
        self.count = count
        self.ports = ports
        self.tag = secrets.token_hex(2)
        self.namespaces: list[str] = []
        self._blocks: list[int] = []
        self._links: list[str] = []
        self._forwarders: list[Forwarder] = []
        self.cut: set[int] = set()

    def __enter__(self) -> Hosts:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gateway(self, host: int) -> str:
        """This side's address on host ``host``'s link (what its workers connect to)."""
        return str(_RANGE.network_address + 4 * self._blocks[host] + 1)

    def prefix(self, host: int) -> list[str]:
        """Command prefix that runs a command inside host ``host``."""
        return ["ip", "netns", "exec", self.namespaces[host]]

    def _setup(self) -> None:
        # Once this side's address is on its link, the block shows as used to the next
        # allocator, so the lock covers choosing and adding, not the rest of the setup.
        with portalocker.Lock(str(_ALLOCATION_LOCK), timeout=60):
            free = sorted(set(range(_BLOCKS)) - _blocks_in_use())
            if len(free) < self.count:
                raise RuntimeError(
                    f"{self.count} hosts need {self.count} free /30 links in {_RANGE}; "
                    f"{len(free)} are free (other runs hold the rest: see `ip -4 addr`)"
                )
            for i, block in enumerate(free[: self.count]):
                ns = f"tss{self.tag}h{i}"
                here, there = f"tsa{self.tag}{i}", f"tsb{self.tag}{i}"
                _ip("netns", "add", ns)
                self.namespaces.append(ns)
                _ip("link", "add", here, "type", "veth", "peer", "name", there)
                self._links.append(here)
                self._blocks.append(block)
                _ip("addr", "add", f"{self.gateway(i)}/30", "dev", here)
        for i, ns in enumerate(self.namespaces):
            here, there = self._links[i], f"tsb{self.tag}{i}"
            _ip("link", "set", there, "netns", ns)
            _ip("link", "set", here, "up")
            peer = _RANGE.network_address + 4 * self._blocks[i] + 2
            _ip("-n", ns, "addr", "add", f"{peer}/30", "dev", there)
            _ip("-n", ns, "link", "set", there, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            for port in self.ports:
                self._forwarders.append(Forwarder(self.gateway(i), port, port))
        time.sleep(0.2)  # let the links come up

    def partition(self, host: int) -> None:
        """Cut host ``host`` off (its link goes down; packets are dropped)."""
        _ip("link", "set", self._links[host], "down")
        self.cut.add(host)

    def heal(self, host: int) -> None:
        """Restore host ``host``'s link."""
        _ip("link", "set", self._links[host], "up")
        self.cut.discard(host)

    def close(self) -> None:
        """Remove forwarders, links and namespaces (errors ignored: best effort, all tried)."""
        for forwarder in self._forwarders:
            forwarder.close()
        self._forwarders.clear()
        for link in self._links:
            subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=30)
        self._links.clear()
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        self.namespaces.clear()
