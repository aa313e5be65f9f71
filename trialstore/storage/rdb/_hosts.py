"""PostgreSQL URLs that name several hosts (private to the RDB backend).

libpq tries the hosts of a connection string in turn and, with ``target_session_attrs``,
skips a server of the wrong kind (a standby, when a writable one is asked for). That is how
clients follow a failover: the same URL names the primary and its standbys, and whichever is
writable now takes the connection. This module reads every way of writing such a URL and
gives SQLAlchemy and psycopg one form they both pass on to libpq unchanged:
``?host=h1,h2&port=p1,p2``.

Accepted forms (``user@`` and the database as usual)::

    postgresql://user@/db?host=h1:5432,h2:5433         one host parameter, host:port pairs
    postgresql://user@/db?host=h1:5432&host=h2:5433    the parameter repeated
    postgresql://user@/db?host=h1,h2&port=5432,5433    libpq's keyword form
    postgresql://user@/db?host=h1,h2                   default ports
    postgresql://user@h1:5432,h2:5433/db               libpq's URI form

An IPv6 address with a port is written in brackets (``[::1]:5432``); a host starting with
``/`` is a Unix socket directory.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

__all__ = [
    "MULTI_HOST_DEFAULTS",
    "WRITABLE_SESSION_ATTRS",
    "canonical_hosts",
    "hosts_of",
    "move_netloc_hosts",
]

_MAX_PORT = 65535
#: ``target_session_attrs`` values that reach a server that takes writes (``any``: whatever
#: answers first, the user's explicit choice).
WRITABLE_SESSION_ATTRS = ("read-write", "primary", "any")
#: Connection parameters a URL of several hosts gets unless it sets them: only a writable
#: server takes the connection, and a host that does not answer is given up after this many
#: seconds (psycopg's default is 130, longer than a storage's whole retry budget).
MULTI_HOST_DEFAULTS = {"target_session_attrs": "read-write", "connect_timeout": "10"}


def move_netloc_hosts(text: str) -> str:
    """Return ``text`` with libpq's URI form of several hosts (``user@h1:p1,h2:p2/db``) moved
    into the query (``user@/db?host=h1:p1,h2:p2``), which SQLAlchemy can parse; any other
    URL unchanged."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    end = len(rest)
    for stop in "/?#":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    netloc, tail = rest[:end], rest[end:]
    userinfo, at, hostlist = netloc.rpartition("@")
    if "," not in hostlist:
        return text
    path, qmark, query = tail.partition("?")
    query_items = [item for item in query.split("&") if item] if qmark else []
    query_items.insert(0, f"host={hostlist}")
    return f"{scheme}://{userinfo}{at}{path or '/'}?{'&'.join(query_items)}"


def _split_entry(entry: str, shown: str) -> tuple[str, str]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port text, "" when not given)."""
    if entry.startswith("/"):
        return entry, ""
    if entry.startswith("["):
        host, bracket, after = entry[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise ValueError(
                f"storage URL {shown!r}: host {entry!r} is not [IPv6 address] or "
                "[IPv6 address]:port."
            )
        return host, after[1:]
    if entry.count(":") > 1:  # a bare IPv6 address: no port can be told apart
        return entry, ""
    host, _, port = entry.partition(":")
    return host, port


def _check_port(port: str, shown: str) -> str:
    if port and not (port.isdigit() and 1 <= int(port) <= _MAX_PORT):
        raise ValueError(
            f"storage URL {shown!r}: port {port!r} is not an integer from 1 to {_MAX_PORT}."
        )
    return port


def _as_list(value: str | Sequence[str]) -> list[str]:
    """A query value (one string, or the values of a repeated parameter) split on commas."""
    values = [value] if isinstance(value, str) else list(value)
    return [part.strip() for item in values for part in item.split(",")]


def canonical_hosts(url: sa.URL, shown: str) -> sa.URL:
    """Return the PostgreSQL ``url`` with the hosts of its query (if any) in the form
    ``host=h1,h2&port=p1,p2``, and, when it names several hosts, the parameters of
    :data:`MULTI_HOST_DEFAULTS` it does not set.

    Raises:
        ValueError: a port is not an integer from 1 to 65535, a host is empty, the hosts
            and ports do not pair up, the URL names hosts both before the path and in the
            query, or ``target_session_attrs`` asks for a server that takes no writes (the
            message shows ``shown``, the URL with its password masked).
    """
    _check_session_attrs(url, shown)
    if "host" not in url.query:
        return url
    entries = [_split_entry(entry, shown) for entry in _as_list(url.query["host"])]
    if any(not host for host, _ in entries):
        raise ValueError(
            f"storage URL {shown!r}: an empty host in host={','.join(h for h, _ in entries)!r}; "
            "expected host=h1[:port],h2[:port]."
        )
    if len(entries) > 1 and url.host:
        raise ValueError(
            f"storage URL {shown!r} names hosts both before the path ({url.host!r}) and in "
            "?host=; name them all in one place, e.g. postgresql://user@/db?host=h1:5432,"
            "h2:5432."
        )
    hosts = [host for host, _ in entries]
    ports = _ports(url, [port for _, port in entries], len(hosts), shown)
    query = dict(url.query)
    query["host"] = ",".join(hosts)
    query.pop("port", None)
    if any(ports):
        query["port"] = ",".join(ports)
    if len(hosts) > 1:
        for key, value in MULTI_HOST_DEFAULTS.items():
            query.setdefault(key, value)
    return url.set(query=query)


def _check_session_attrs(url: sa.URL, shown: str) -> None:
    """Raise ValueError when the URL's ``target_session_attrs`` reaches read-only servers."""
    attrs = url.query.get("target_session_attrs")
    if attrs is None:
        return
    value = attrs if isinstance(attrs, str) else ",".join(attrs)
    if value not in WRITABLE_SESSION_ATTRS:
        raise ValueError(
            f"storage URL {shown!r}: target_session_attrs={value!r} reaches servers that "
            f"take no writes; the storage writes, so use one of "
            f"{', '.join(WRITABLE_SESSION_ATTRS)} (read-write is the default for "
            "several hosts)."
        )


def _ports(url: sa.URL, in_hosts: list[str], n_hosts: int, shown: str) -> list[str]:
    """The port of each host (``""``: the default), from ``host=h:p`` or from ``port=``.

    Raises:
        ValueError: a bad port, ports given both ways, or hosts and ports that do not pair.
    """
    ports = [_check_port(port, shown) for port in in_hosts]
    if "port" not in url.query:
        return ports
    if any(ports):
        raise ValueError(
            f"storage URL {shown!r}: ports given both in host= (host:port) and in port=; "
            "use one of the two."
        )
    ports = [_check_port(port, shown) for port in _as_list(url.query["port"])]
    if len(ports) == 1:
        ports *= n_hosts  # libpq: one port for every host
    if len(ports) != n_hosts:
        raise ValueError(
            f"storage URL {shown!r}: {n_hosts} hosts but {len(ports)} ports; give one "
            "port per host, or one for all."
        )
    return ports


def hosts_of(url: sa.URL) -> list[str]:
    """The servers a PostgreSQL URL in canonical form names, as ``host[:port]`` texts (for
    messages); ``["localhost"]`` when it names none."""
    if "host" not in url.query:
        where = url.host or "localhost"
        return [where + (f":{url.port}" if url.port else "")]
    hosts = _as_list(url.query["host"])
    ports = _as_list(url.query["port"]) if "port" in url.query else [""] * len(hosts)
    if len(ports) == 1:
        ports *= len(hosts)
    shown = []
    for host, port in zip(hosts, ports, strict=False):
        name = f"[{host}]" if ":" in host and port else host
        shown.append(name + (f":{port}" if port else ""))
    return shown
