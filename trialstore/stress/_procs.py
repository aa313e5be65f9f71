"""Processes as Linux's ``/proc`` shows them (private): what the stress harness and its tests
use to find a server's children, a process group's members, or whether a process has exited.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["gone", "processes", "state"]


def _stat_fields(stat: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name (state first)."""
    return stat.rpartition(")")[2].split()


def state(pid: int) -> str | None:
    """The one-letter state of process ``pid`` (R, S, T, Z, X, ...), or None if it does not
    exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = _stat_fields(stat)
    return fields[0] if fields else None


def gone(pid: int) -> bool:
    """Whether ``pid`` no longer runs: absent, a zombie or dead."""
    return state(pid) in (None, "Z", "X")


def processes(
    *, parent: int | None = None, group: int | None = None, cmdline: str | None = None
) -> list[int]:
    """Pids of the running processes (zombies and dead ones left out) whose parent is
    ``parent``, whose process group is ``group`` and whose command line holds ``cmdline``
    (each criterion given), in no particular order. Processes that exit while being read are
    left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields((entry / "stat").read_text())
            command = (entry / "cmdline").read_bytes() if cmdline is not None else b""
        except OSError:
            continue
        if len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        if parent is not None and fields[1] != str(parent):
            continue
        if group is not None and fields[2] != str(group):
            continue
        if cmdline is not None and cmdline.encode() not in command:
            continue
        found.append(int(entry.name))
    return found
