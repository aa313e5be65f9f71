"""CPU time spent by processes of this machine, read from ``/proc`` (Linux only).

The gRPC benches use it to say where a trial's CPU goes: the client processes (which measure
themselves with ``time.process_time``), the proxy process and the PostgreSQL server. The
server's figure covers every process named ``postgres`` (its backends and its background
writers), so it is only meaningful with the server on this machine and nothing else using it.
"""

from __future__ import annotations

import os

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (0.0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def postgres_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of each running process named ``postgres``, by pid."""
    found: dict[int, float] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: every figure reads 0
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
        except OSError:
            continue
        found[int(entry)] = process_cpu_seconds(int(entry))
    return found


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU seconds the ``postgres`` processes spent since ``before`` (a
    :func:`postgres_cpu_seconds` result): processes started since count whole, those that
    ended since are not counted (the proxies' pools keep their connections open)."""
    now = postgres_cpu_seconds()
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def cpu_report(spent: dict[str, float], units: int, unit: str, seconds: float) -> str:
    """One line: milliseconds of CPU per ``unit`` for each process kind in ``spent``, their
    total, and the cores that total takes at the measured rate (``units`` in ``seconds``)."""
    parts = [f"{kind} {cpu / units * 1e3:.2f}" for kind, cpu in spent.items()]
    total = sum(spent.values())
    return (
        f"CPU ms per {unit}: {', '.join(parts)}; total {total / units * 1e3:.2f} "
        f"({total / seconds:.2f} cores busy at {units / seconds:.0f} {unit}s/s)"
    )
