"""The trial state enumeration (values equal Optuna's)."""

from __future__ import annotations

import enum

__all__ = ["TrialState"]


class TrialState(enum.IntEnum):
    """State of a trial.

    ``WAITING`` (enqueued, not yet claimed) and ``RUNNING`` are unfinished; ``COMPLETE``,
    ``PRUNED`` and ``FAIL`` are finished and final: a finished trial never changes again.
    """

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"TrialState.{self.name}"

    def is_finished(self) -> bool:
        """Return True for COMPLETE, PRUNED and FAIL."""
        return self not in (TrialState.RUNNING, TrialState.WAITING)
