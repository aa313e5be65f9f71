"""Operation histories: one JSON-lines file per worker, readable after a SIGKILL.

Each operation writes two lines: an *invoke* line before the call and a *completion* line
after it. Both are flushed to the OS as they are written, so a worker killed at any instant
leaves every line it finished writing; an invoke line without its completion line is an
operation whose outcome is unknown (it may or may not have taken effect).

Timestamps are ``time.monotonic_ns()``: on Linux one clock for every process of the machine
(also inside network namespaces), so the histories of all workers share a time axis.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["FAIL", "OK", "UNKNOWN", "HistoryWriter", "Op", "iter_history", "load_history"]

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"

#: Sentinel completion time of an operation that never completed.
NEVER = 2**63 - 1


@dataclass
class Op:
    """One operation of one worker: what was asked, when, and how it ended.

    ``outcome`` is ``"ok"`` (returned), ``"fail"`` (raised an error that the protocol says
    means "nothing was written": KeyError, ValueError, UpdateFinishedTrialError,
    DuplicatedStudyError) or ``"unknown"`` (raised anything else, or the worker died first).
    ``t1`` is :data:`NEVER` for an operation that did not complete.
    """

    worker: str
    seq: int
    op: str
    args: dict[str, Any]
    t0: int
    outcome: str = UNKNOWN
    result: Any = None
    error: str | None = None
    t1: int = NEVER
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> bool:
        """Whether a completion line was written."""
        return self.t1 != NEVER

    @property
    def effect_deadline(self) -> int:
        """Latest time the operation's effect can take place: ``t1`` if it succeeded or
        failed cleanly, :data:`NEVER` if its outcome is unknown (a request the client gave up
        on may still be applied by the server later)."""
        return NEVER if self.outcome == UNKNOWN else self.t1


class HistoryWriter:
    """Append one worker's operations to ``path``; every line is flushed when written.

    Not thread-safe: one writer per worker (thread or process).
    """

    def __init__(self, path: str | os.PathLike[str], worker: str) -> None:
        self.worker = worker
        self._file: IO[str] = open(path, "a", encoding="utf-8")
        self._seq = 0

    def invoke(self, op: str, args: dict[str, Any]) -> int:
        """Write the invoke line of a new operation and return its sequence number."""
        self._seq += 1
        self._write(
            {"i": self._seq, "w": self.worker, "op": op, "a": args, "t0": time.monotonic_ns()}
        )
        return self._seq

    def complete(
        self, seq: int, outcome: str, result: Any = None, error: str | None = None
    ) -> None:
        """Write the completion line of operation ``seq``."""
        record: dict[str, Any] = {
            "i": seq,
            "w": self.worker,
            "o": outcome,
            "t1": time.monotonic_ns(),
        }
        if result is not None:
            record["r"] = result
        if error is not None:
            record["e"] = error
        self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":"), allow_nan=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                return  # torn last line of a killed worker: the operation stays unknown
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                return


def iter_history(directory: str | os.PathLike[str]) -> Iterator[Op]:
    """Yield every operation of the ``*.jsonl`` history files in ``directory``, one file after
    another, each once its completion line is read (or its file ends without one); holds one
    operation per worker at a time. Outcomes are as in :func:`load_history`."""
    for path in sorted(Path(directory).glob("*.jsonl")):
        pending: dict[tuple[str, int], Op] = {}
        for record in _read_lines(path):
            key = (record["w"], record["i"])
            if "op" in record:
                pending[key] = Op(
                    worker=record["w"],
                    seq=record["i"],
                    op=record["op"],
                    args=record["a"],
                    t0=record["t0"],
                )
            elif key in pending:
                op = pending.pop(key)
                op.outcome = record["o"]
                op.result = record.get("r")
                op.error = record.get("e")
                op.t1 = record["t1"]
                yield op
        yield from pending.values()


def load_history(directory: str | os.PathLike[str]) -> list[Op]:
    """Read every ``*.jsonl`` history file in ``directory``; return the operations by invoke time.

    Operations without a completion line come back with outcome ``"unknown"`` and
    ``t1 == NEVER``; an operation that raised an unclassified error is ``"unknown"`` with its
    real ``t1`` (its effect, if any, may still land later: see :attr:`Op.effect_deadline`).
    """
    ops = list(iter_history(directory))
    ops.sort(key=lambda o: (o.t0, o.worker, o.seq))
    return ops
