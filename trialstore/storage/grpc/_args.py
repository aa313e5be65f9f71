"""Checks of the proxy's addresses, limits and durations (private).

Shared by the server, the client, ``grpc://`` URLs and ``trialstore grpc-proxy``: each
function returns the value when it is valid and raises ValueError naming the field (``name``,
e.g. ``"port"`` or ``"--port"``) and its allowed values otherwise, so that nothing is bound,
connected or started with a value gRPC would silently reinterpret (it takes port 70000 as
4464 and -5 as 65531).
"""

from __future__ import annotations

import math

__all__ = ["MAX_PORT", "check_count", "check_host", "check_port", "check_seconds", "target"]

#: The largest TCP port.
MAX_PORT = 65535


def check_port(port: object, *, name: str = "port", any_port: bool = False) -> int:
    """Return ``port`` if it is an int from 1 to :data:`MAX_PORT` (from 0 when ``any_port``:
    0 then means "any free port").

    Raises:
        ValueError: anything else (bools and numeric strings included).
    """
    low = 0 if any_port else 1
    if isinstance(port, bool) or not isinstance(port, int) or not low <= port <= MAX_PORT:
        allowed = f"an integer from {low} to {MAX_PORT}" + (
            " (0: any free port)" if any_port else ""
        )
        raise ValueError(f"{name} must be {allowed}, got {port!r}.")
    return port


def check_host(host: object, *, name: str = "host") -> str:
    """Return ``host`` if it is a non-empty str (a name, an IPv4 or an IPv6 address, with or
    without brackets).

    Raises:
        ValueError: an empty or non-str host.
    """
    if not isinstance(host, str) or not host.strip("[] "):
        raise ValueError(
            f"{name} must be a host name or an IP address (e.g. localhost, 0.0.0.0, ::1), "
            f"got {host!r}."
        )
    return host


def check_count(value: object, *, name: str, minimum: int = 1) -> int:
    """Return ``value`` if it is an int of at least ``minimum``.

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return value


def check_seconds(value: object, *, name: str, zero: bool) -> float:
    """Return ``value`` as a float if it is a finite number of seconds, > 0 (>= 0 when
    ``zero``).

    Raises:
        ValueError: a negative, zero (unless ``zero``), NaN or infinite value, or not a number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        number = math.nan
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not zero):
        allowed = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {allowed}, got {value!r}.")
    return number


def target(host: str, port: int) -> str:
    """The ``host:port`` string gRPC takes, with an IPv6 address in brackets (``[::1]:5``)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"
