"""Stress and fault-injection harness: many worker processes, kills, restarts, partitions,
database failovers.

:func:`run_stress` runs a workload of real OS processes (or threads) against any storage URL,
records every operation in per-worker histories, injects faults, checks the invariants of
``docs/reliability.md`` (including linearizability of each trial's state and each study's
trial counter) and writes a report. The command line is ``trialstore stress``;
:mod:`trialstore.stress.broken` holds storages with known flaws that the checkers must catch.
"""

from __future__ import annotations

from trialstore.stress._checkers import CheckContext, Invariant, run_checkers
from trialstore.stress._config import (
    FAULT_KINDS,
    MODES,
    RESTART_MODES,
    TIERS,
    FaultKind,
    RestartMode,
    StressConfig,
    Tier,
    WorkerMode,
)
from trialstore.stress._history import HistoryWriter, Op, load_history
from trialstore.stress._linearizability import (
    CounterOp,
    LinOp,
    LinResult,
    check_counter,
    check_linearizable,
)
from trialstore.stress._runner import StressResult, recheck, run_stress

__all__ = [
    "FAULT_KINDS",
    "MODES",
    "RESTART_MODES",
    "TIERS",
    "CheckContext",
    "CounterOp",
    "FaultKind",
    "HistoryWriter",
    "Invariant",
    "LinOp",
    "LinResult",
    "Op",
    "RestartMode",
    "StressConfig",
    "StressResult",
    "Tier",
    "WorkerMode",
    "check_counter",
    "check_linearizable",
    "load_history",
    "recheck",
    "run_checkers",
    "run_stress",
]
