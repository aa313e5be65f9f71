"""What the stress checkers share: their context and result types, and the index of one part
of a run's history they all read (private)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trialstore.stress._history import OK, UNKNOWN, Op

__all__ = ["FINISHED", "TRIAL_WRITES", "UNFINISHED", "CheckContext", "Invariant", "OpIndex",
           "created_ok", "gone", "observed_ids", "read_rows", "reapers_by_study"]  # fmt: skip

FINISHED = {"COMPLETE", "PRUNED", "FAIL"}
UNFINISHED = {"WAITING", "RUNNING"}
#: Operations that write into an unfinished trial.
TRIAL_WRITES = {"set_param", "report", "set_attr", "heartbeat"}
_MAX_EXAMPLES = 20


@dataclass
class CheckContext:
    """What the checkers need besides the history and the final contents.

    ``end_ns``: when the final contents were read (after every worker stopped).
    ``deaths``: worker name -> monotonic ns at which it was SIGKILLed.
    ``grace_period`` / ``heartbeat_interval``: the storage's settings (None: heartbeats off).
    ``reap_every``: seconds between a worker's ``fail_stale_trials`` calls.
    ``stale_slack``: seconds past the grace period after which a dead worker's trial must be
    reported stale (the storage's clock resolution: e.g. whole seconds in a DATETIME column).
    """

    end_ns: int
    deaths: dict[str, int] = field(default_factory=dict)
    grace_period: float | None = None
    heartbeat_interval: float | None = None
    reap_every: float = 0.5
    stale_slack: float = 1.5
    max_lin_steps: int = 200_000


@dataclass
class Invariant:
    """The result of one checker."""

    name: str
    checked: int = 0
    violations: list[str] = field(default_factory=list)
    violation_count: int = 0
    inconclusive: int = 0
    figures: dict[str, Any] = field(default_factory=dict)
    #: Seconds from a worker's kill to the failing of its stale trial, one per reaped trial.
    reap_delays: list[float] = field(default_factory=list, repr=False)

    def violate(self, message: str) -> None:
        """Count a violation; keep its description among the first few."""
        self.violation_count += 1
        if len(self.violations) < _MAX_EXAMPLES:
            self.violations.append(message)

    def merge(self, part: Invariant) -> None:
        """Add the result of the same checker over another part of the run (a study)."""
        self.checked += part.checked
        self.violation_count += part.violation_count
        self.violations.extend(part.violations[: _MAX_EXAMPLES - len(self.violations)])
        self.inconclusive += part.inconclusive
        self.reap_delays.extend(part.reap_delays)
        for key, value in part.figures.items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.figures[key] = self.figures.get(key, 0) + value
            else:
                self.figures.setdefault(key, value)

    def to_json(self) -> dict[str, Any]:
        """Plain data for the report."""
        data = {
            "checked": self.checked,
            "violated": self.violation_count,
            "inconclusive": self.inconclusive,
            "examples": self.violations,
            **self.figures,
        }
        if self.reap_delays:
            delays = sorted(self.reap_delays)
            data["reap_delay_s"] = {
                "count": len(delays),
                "p50": round(delays[len(delays) // 2], 3),
                "max": round(delays[-1], 3),
            }
        return data


class OpIndex:
    """One part of the run (a study's operations and final contents), indexed the ways the
    per-study checkers need."""

    def __init__(self, ops: Sequence[Op], studies: Sequence[dict[str, Any]]) -> None:
        self.ops = ops
        self.trials: dict[int, dict[str, Any]] = {}
        self.trial_study: dict[int, int] = {}
        self.studies: dict[int, dict[str, Any]] = {}
        for study in studies:
            self.studies[study["id"]] = study
            for trial in study["trials"]:
                self.trials[trial["id"]] = trial
                self.trial_study[trial["id"]] = study["id"]
        self.by_trial: dict[int, list[Op]] = defaultdict(list)
        self.creates: list[Op] = []
        #: Trials a delete that succeeded or may have succeeded named, and those gone from
        #: the final contents (not surviving): their absence is no loss.
        self.maybe_deleted: set[int] = set()
        for op in ops:
            self._add(op)

    def _add(self, op: Op) -> None:
        """Index ``op`` under every trial it names or created."""
        if "t" in op.args:
            self.by_trial[op.args["t"]].append(op)
        if op.op == "delete":
            for tid in op.args["ts"]:
                self.by_trial[tid].append(op)
                if op.outcome in (OK, UNKNOWN):
                    self.maybe_deleted.add(tid)
        if op.op in ("create_trial", "enqueue"):
            self.creates.append(op)
            if op.outcome == OK:
                self.by_trial[op.result].append(op)
        if op.op == "fail_stale" and op.outcome == OK:
            for tid in op.result or ():
                self.by_trial[tid].append(op)


def read_rows(op: Op) -> list[list[Any]]:
    """The ``[id, number, state, digest]`` rows an acknowledged read observed (a read of all
    trials leaves out finished trials its worker had already recorded unchanged)."""
    if op.outcome != OK:
        return []
    if op.op == "read_all":
        rows: list[list[Any]] = op.result[1]
        return rows
    if op.op == "get_trial":
        return [op.result]
    return []


def observed_ids(op: Op) -> list[int]:
    """Every trial id an acknowledged read returned (a read of all trials also lists the
    finished trials it left out of its rows, as ranges of ids)."""
    ids = [row[0] for row in read_rows(op)]
    if op.op == "read_all" and op.outcome == OK and len(op.result) > 2:
        for first, last in op.result[2]:
            ids.extend(range(first, last + 1))
    return ids


def gone(index: OpIndex, tid: int) -> bool:
    """Whether the trial is missing from the final contents because it was (maybe)
    deleted."""
    return tid not in index.trials and tid in index.maybe_deleted


def created_ok(index: OpIndex) -> dict[int, Op]:
    return {op.result: op for op in index.creates if op.outcome == OK}


def reapers_by_study(index: OpIndex) -> tuple[dict[int, list[Op]], dict[int, list[Op]]]:
    """Return the acknowledged ``fail_stale_trials`` calls by study, and those whose outcome
    is unknown (their worker was killed or the storage lost the reply: they may have failed
    any stale trial of their study, their result is not known)."""
    reapers: dict[int, list[Op]] = defaultdict(list)
    unknown_reapers: dict[int, list[Op]] = defaultdict(list)
    for op in index.ops:
        if op.op == "fail_stale" and op.outcome == OK:
            reapers[op.args["s"]].append(op)
        elif op.op == "fail_stale" and op.outcome == UNKNOWN:
            unknown_reapers[op.args["s"]].append(op)
    return reapers, unknown_reapers
