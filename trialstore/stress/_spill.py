"""Checking a run's recorded histories one study at a time (private).

A full-tier run records millions of operations (gigabytes of history); held in memory at once
they outgrow the machine. The histories are streamed once: each operation is routed to its
study (:class:`RunCheck`) and appended to that study's spill file, and then each study is read
back and checked on its own, so memory holds one study's operations at a time.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from trialstore.stress._checkers import CheckContext, Invariant, RunCheck
from trialstore.stress._history import Op, iter_history

__all__ = ["check_history_dir"]

#: Operations buffered (over every study) before the buffers are appended to spill files.
_FLUSH_OPS = 100_000

_Row = tuple[str, int, str, dict[str, Any], int, str, Any, "str | None", int]


def _row(op: Op) -> _Row:
    return (op.worker, op.seq, op.op, op.args, op.t0, op.outcome, op.result, op.error, op.t1)


class _Spill:
    """Per-part files of operations, appended in pickled batches (the files live and die
    within one check, written and read by this process only; pickle is 3x faster than JSON
    here)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._buffers: dict[int, list[_Row]] = defaultdict(list)
        self._buffered = 0
        self.parts: set[int] = set()

    def add(self, part: int, op: Op) -> None:
        self._buffers[part].append(_row(op))
        self.parts.add(part)
        self._buffered += 1
        if self._buffered >= _FLUSH_OPS:
            self.flush_all()

    def _path(self, part: int) -> Path:
        return self.directory / f"part{part}.pickle"

    def _flush(self, part: int) -> None:
        buffer = self._buffers.pop(part, [])
        if buffer:
            with open(self._path(part), "ab") as f:
                pickle.dump(buffer, f, protocol=pickle.HIGHEST_PROTOCOL)

    def flush_all(self) -> None:
        for part in list(self._buffers):
            self._flush(part)
        self._buffered = 0

    def read(self, part: int) -> list[Op]:
        path = self._path(part)
        ops: list[Op] = []
        if not path.exists():
            return ops
        with open(path, "rb") as f:
            while True:
                try:
                    batch: list[_Row] = pickle.load(f)
                except EOFError:
                    return ops
                ops.extend(Op(*row) for row in batch)


def check_history_dir(
    history_dir: str | os.PathLike[str],
    final: dict[str, Any],
    ctx: CheckContext,
    *,
    on_op: Callable[[Op], None] | None = None,
    scratch: str | os.PathLike[str] | None = None,
) -> list[Invariant]:
    """Run every checker over the histories in ``history_dir`` against ``final``, holding
    one study's operations in memory at a time; return the results in a fixed order (the
    same as :func:`run_checkers` over the loaded history gives).

    ``on_op`` sees every operation once (in no particular order), for figures gathered on
    the way. The spill files go to a temporary directory under ``scratch`` (default: the
    system's), removed at the end; they take about as much disk as the histories.
    """
    run = RunCheck(final, ctx)
    spill_dir = Path(tempfile.mkdtemp(prefix="trialstore-check-", dir=scratch))
    try:
        spill = _Spill(spill_dir)
        ops = iter_history(history_dir)
        run.split(ops if on_op is None else _seen(ops, on_op), spill.add)
        spill.flush_all()
        for part in run.parts(spill.parts):
            run.check_part(part, spill.read(part))
        return run.results()
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


def _seen(ops: Iterable[Op], on_op: Callable[[Op], None]) -> Iterator[Op]:
    for op in ops:
        on_op(op)
        yield op
