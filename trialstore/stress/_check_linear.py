"""The linearizability checkers: each trial's state as a register, each study's trial count
as a counter (private; the search itself is :mod:`trialstore.stress._linearizability`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from trialstore.stress._check_base import (
    FINISHED,
    TRIAL_WRITES,
    UNFINISHED,
    CheckContext,
    Invariant,
    OpIndex,
    created_ok,
    gone,
    read_rows,
    reapers_by_study,
)
from trialstore.stress._history import FAIL, OK, UNKNOWN, Op
from trialstore.stress._linearizability import CounterOp, LinOp, check_counter, check_linearizable

__all__ = ["check_counter_linearizable", "check_trial_linearizable"]


def _trial_step(op: Op) -> tuple[Callable[[Any], list[Any]], bool] | None:
    """The register step of a history operation on one trial's state, and whether it is
    pure (leaves the state as it is, or rejects it); None: the operation says nothing."""
    kind, outcome, result = op.op, op.outcome, op.result
    if kind in ("create_trial", "enqueue"):
        init = "RUNNING" if kind == "create_trial" else "WAITING"
        return (lambda s: [init] if s == "ABSENT" else []), False
    if kind == "delete":
        return _delete_step(outcome)
    if outcome == FAIL:
        return _failed_step(kind, (op.error or "").split(":")[0])
    if kind == "claim":
        return _claim_step(outcome, result)
    if kind == "finish":
        return _finish_step(outcome, result, op.args["state"])
    if kind == "fail_stale":
        if outcome == OK:
            return (lambda s: ["FAIL"] if s == "RUNNING" else []), False
        return None
    if kind in TRIAL_WRITES and outcome == OK:
        return (lambda s: [s] if s in UNFINISHED else []), True
    return None


def _failed_step(kind: str, error: str) -> tuple[Callable[[Any], list[Any]], bool] | None:
    """The step of an operation that failed with the exception type ``error``: a deleted,
    missing or finished trial is a read of that state; another failure changed nothing."""
    if error == "TrialDeletedError":
        return _read_step("DELETED"), True
    if error == "KeyError":
        return _read_step("ABSENT"), True
    if error == "UpdateFinishedTrialError" and kind in ("claim", "finish", *TRIAL_WRITES):
        return (lambda s: [s] if s in FINISHED else []), True
    return None


def _delete_step(outcome: str) -> tuple[Callable[[Any], list[Any]], bool] | None:
    """The step of a deletion of a batch naming the trial: an existing trial becomes
    DELETED (a failed batch deleted nothing, and which of its trials made it fail is not
    recorded: it says nothing)."""
    if outcome == OK:
        return (lambda s: ["DELETED"] if s not in ("ABSENT", "DELETED") else []), False
    if outcome == UNKNOWN:
        return (lambda s: ["DELETED", s] if s not in ("ABSENT", "DELETED") else [s]), False
    return None


def _claim_step(outcome: str, won: Any) -> tuple[Callable[[Any], list[Any]], bool] | None:
    """The step of a claim (WAITING -> RUNNING) that neither failed as finished nor as
    missing: a won claim moves WAITING on, a lost one saw it RUNNING."""
    if outcome == OK:
        if won:
            return (lambda s: ["RUNNING"] if s == "WAITING" else []), False
        return _read_step("RUNNING"), True
    if outcome == UNKNOWN:
        return (lambda s: ["RUNNING"] if s == "WAITING" else [s]), False
    return None


def _finish_step(
    outcome: str, finished: Any, target: str
) -> tuple[Callable[[Any], list[Any]], bool] | None:
    """The step of a finish to ``target`` that neither failed as finished nor as missing
    (one acknowledged with False fits no state)."""
    if outcome == OK:
        if finished:
            return (lambda s: [target] if s in UNFINISHED else []), False
        return (lambda s: []), True
    if outcome == UNKNOWN:
        return (lambda s: [target] if s in UNFINISHED else [s]), False
    return None


def _read_step(state: str) -> Callable[[Any], list[Any]]:
    return lambda s: [s] if s == state else []


def check_trial_linearizable(index: OpIndex, ctx: CheckContext) -> Invariant:
    """Each trial's state, as a register, has a linearizable history (reads included)."""
    inv = Invariant("linearizable_trial_state")
    reads: dict[int, list[tuple[Op, str]]] = defaultdict(list)
    for op in index.ops:
        for tid, _number, state, _digest in read_rows(op):
            reads[tid].append((op, state))
    _, stale_unknown = reapers_by_study(index)
    created = created_ok(index)
    steps_total = 0
    deleted_final = {"state": "DELETED"}
    finals = list(index.trials.items()) + [
        (tid, deleted_final) for tid in sorted(created) if gone(index, tid)
    ]
    for tid, final in finals:
        lin = _trial_writes(tid, index, ctx)
        initial = "ABSENT"
        if tid not in created:
            initial = "WAITING" if "enqueued_by" in final["user_attrs"] else "RUNNING"
        for op, state in reads.get(tid, []):
            lin.append(
                LinOp(
                    op.t0,
                    op.t1,
                    _read_step(state),
                    label=f"{op.op} {op.worker}#{op.seq} saw {state}",
                    pure=True,
                )
            )
        study_id = index.trial_study.get(tid)
        if study_id is None:  # deleted
            study_id = created[tid].args["s"]
        for op in stale_unknown.get(study_id, []):
            lin.append(
                LinOp(
                    op.t0,
                    ctx.end_ns,
                    lambda s: ["FAIL", s] if s == "RUNNING" else [s],
                    optional=True,
                    symmetry="stale?",
                    label="fail_stale?",
                )
            )
        lin.append(
            LinOp(
                ctx.end_ns + 1,
                ctx.end_ns + 2,
                _read_step(final["state"]),
                label=f"final state {final['state']}",
                pure=True,
            )
        )
        inv.checked += 1
        result = check_linearizable(lin, initial, max_steps=ctx.max_lin_steps)
        steps_total += result.steps
        if result.ok is None:
            inv.inconclusive += 1
        elif not result.ok:
            inv.violate(f"trial {tid}: no linearization (stuck at {result.stuck_at})")
    inv.figures["search_steps"] = steps_total
    return inv


def _trial_writes(tid: int, index: OpIndex, ctx: CheckContext) -> list[LinOp]:
    """The operations of the history that act on the trial ``tid``'s state (a reaper only if
    it may have failed this trial), as register operations."""
    lin: list[LinOp] = []
    for op in index.by_trial.get(tid, []):
        if op.op == "fail_stale" and op.outcome == OK and tid not in (op.result or ()):
            continue
        stepped = _trial_step(op)
        if stepped is None:
            continue
        step, pure = stepped
        t1 = min(op.effect_deadline, ctx.end_ns)
        lin.append(
            LinOp(
                op.t0,
                t1,
                step,
                optional=op.outcome == UNKNOWN,
                symmetry=(op.op, op.args.get("state")),
                label=f"{op.op} {op.worker}#{op.seq}",
                pure=pure,
            )
        )
    return lin


def check_counter_linearizable(index: OpIndex, ctx: CheckContext) -> Invariant:
    """Each study's trial count, as a fetch-and-increment counter whose value a create returns
    (as the trial's number) and a read of all trials observes, has a linearizable history
    (decided exactly by :func:`check_counter`, never inconclusive).

    In a study where trials were deleted, a read no longer observes the counter (it counts
    the trials left), so reads are left out; the counter ends at the highest number known
    plus one, and an acknowledged create of a deleted trial whose number no read saw counts
    as one of unknown outcome."""
    inv = Invariant("linearizable_trial_counter")
    deleting = {op.args["s"] for op in index.ops if op.op == "delete"}
    per_study = _counter_ops(index, ctx, deleting)
    for sid, study in index.studies.items():
        n = len(study["trials"])
        if sid in deleting:
            known = [op.value for op in per_study.get(sid, []) if op.value is not None]
            n = max([t["number"] + 1 for t in study["trials"]] + [v + 1 for v in known] + [0])
        inv.checked += 1
        result = check_counter(per_study.get(sid, []), n)
        if not result.ok:
            inv.violate(f"study {study['name']}: no linearization (stuck at {result.stuck_at})")
    return inv


def _counter_ops(
    index: OpIndex, ctx: CheckContext, deleting: set[int]
) -> dict[int, list[CounterOp]]:
    """Each study's counter operations: creates (with the number they got, or of unknown
    outcome) and, in studies without deletions, reads of all trials."""
    per_study: dict[int, list[CounterOp]] = defaultdict(list)
    numbers = {tid: trial["number"] for tid, trial in index.trials.items()}
    for op in index.ops:
        for tid, number, _state, _digest in read_rows(op):
            numbers.setdefault(tid, number)
    for op in index.ops:
        if op.op in ("create_trial", "enqueue"):
            counter_op = _create_counter_op(op, index, ctx, numbers)
            if counter_op is not None:
                per_study[op.args["s"]].append(counter_op)
        elif op.op == "read_all" and op.outcome == OK and op.args["s"] not in deleting:
            seen = op.result[0]
            label = f"{op.op} {op.worker}#{op.seq} saw {seen}"
            per_study[op.args["s"]].append(CounterOp(op.t0, op.t1, seen, read=True, label=label))
    return per_study


def _create_counter_op(
    op: Op, index: OpIndex, ctx: CheckContext, numbers: dict[int, int]
) -> CounterOp | None:
    """The counter operation of a create (None: it says nothing of the counter)."""
    where = f"{op.op} {op.worker}#{op.seq}"
    if op.outcome == UNKNOWN:
        return CounterOp(op.t0, min(op.effect_deadline, ctx.end_ns), None, label=where)
    if op.outcome != OK:
        return None
    number = numbers.get(op.result)
    if gone(index, op.result) and number is None:
        return CounterOp(op.t0, ctx.end_ns, None, label=where)
    if number is None or (
        not gone(index, op.result) and index.trial_study.get(op.result) != op.args["s"]
    ):
        return None  # reported by acknowledged_writes_present
    return CounterOp(op.t0, op.t1, number, label=f"{where} -> #{number}")
