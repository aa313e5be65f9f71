"""Invariant checkers over a run's history and the storage's final contents.

Each checker returns an :class:`Invariant`: how many items it checked and a description of each
violation. Outcome ``"unknown"`` operations may or may not have taken effect, so they never
count as acknowledged, but what they wrote may legitimately be present.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trialstore.stress._check_base import (
    FINISHED,
    TRIAL_WRITES,
    CheckContext,
    Invariant,
    OpIndex,
    gone,
    observed_ids,
    read_rows,
    reapers_by_study,
)
from trialstore.stress._check_linear import check_counter_linearizable, check_trial_linearizable
from trialstore.stress._history import OK, UNKNOWN, Op

__all__ = ["CheckContext", "Invariant", "RunCheck", "run_checkers"]


def check_ids_and_numbers(index: OpIndex) -> Invariant:
    """Numbers are unique per study, 0..n-1 but for those of deleted trials; a trial's number
    never changes between reads. (That no trial id is handed out twice is checked over the
    whole run by :class:`RunCheck`.)"""
    inv = Invariant("ids_unique_numbers_dense")
    deleted = len({tid for tid in index.maybe_deleted if tid not in index.trials})
    for study in index.studies.values():
        numbers = sorted(t["number"] for t in study["trials"])
        inv.checked += 1
        top = numbers[-1] + 1 if numbers else 0
        missing = sorted(set(range(top)) - set(numbers))
        if len(set(numbers)) != len(numbers) or len(missing) > deleted:
            dupes = sorted({n for n in numbers if numbers.count(n) > 1})
            inv.violate(
                f"study {study['name']}: numbers not dense/unique (duplicated {dupes[:10]}, "
                f"missing {missing[:10]})"
            )
    for op in index.ops:
        if op.outcome != OK:
            continue
        rows = read_rows(op)
        for tid, number, _state, _digest in rows:
            final = index.trials.get(tid)
            if final is None:
                if tid not in index.maybe_deleted:
                    inv.violate(f"trial {tid} read by {op.worker}#{op.seq} is gone at the end")
            elif final["number"] != number:
                inv.violate(
                    f"trial {tid} read with number {number} by {op.worker}#{op.seq}, "
                    f"finally {final['number']}"
                )
    return inv


def check_study_names(ops: Iterable[Op], studies: Iterable[dict[str, Any]]) -> Invariant:
    """Of concurrent creators of one study name exactly one wins; lookups agree with it.

    ``ops``: the run's ``create_study`` and ``get_study_id`` operations (others are ignored).
    """
    inv = Invariant("one_creator_per_study")
    created: dict[str, list[Op]] = defaultdict(list)
    looked_up: dict[str, set[int]] = defaultdict(set)
    for op in ops:
        if op.op == "create_study" and op.outcome == OK:
            created[op.args["name"]].append(op)
        elif op.op == "get_study_id" and op.outcome == OK:
            looked_up[op.args["name"]].add(op.result)
    names = set(created) | set(looked_up)
    final_ids = {s["name"]: s["id"] for s in studies}
    for name in sorted(names):
        inv.checked += 1
        winners = created.get(name, [])
        if len(winners) > 1:
            inv.violate(f"study {name!r} created by {len(winners)} callers")
        ids = {op.result for op in winners} | looked_up.get(name, set())
        if name in final_ids:
            ids.add(final_ids[name])
        if len(ids) > 1:
            inv.violate(f"study {name!r} has several ids: {sorted(ids)}")
    return inv


#: What was written to each trial: trial id -> (field, key) -> the values written.
_Written = dict[int, dict[tuple[str, str], set[Any]]]
#: The trial field each single-value write sets.
_WRITE_FIELDS = {"set_param": "params", "report": "iv", "set_attr": "user_attrs"}


def check_acknowledged_writes(index: OpIndex) -> Invariant:
    """Every acknowledged write to a surviving trial (one not deleted) is in the final
    contents; nothing is there that nobody wrote."""
    inv = Invariant("acknowledged_writes_present")
    written: _Written = defaultdict(lambda: defaultdict(set))
    for op in index.ops:
        if op.op == "finish" and "p" in op.args:
            _note_finish_params(op, index, inv, written)
        if op.op in _WRITE_FIELDS and op.outcome in (OK, UNKNOWN):
            _note_write(op, index, inv, written)
        elif op.outcome == OK:
            _check_acknowledged_effect(op, index, inv)
    _check_nothing_unwritten(index, inv, written)
    return inv


def _note_finish_params(op: Op, index: OpIndex, inv: Invariant, written: _Written) -> None:
    """Parameters written with the finish: the batch goes first and is not atomic with the
    state (protocol §5.2), so even a failed finish may have stored it."""
    tid = op.args["t"]
    for key, value in op.args["p"].items():
        written[tid][("params", key)].add(value)
        if op.outcome == OK and not gone(index, tid):
            inv.checked += 1
            trial = index.trials.get(tid)
            stored = None if trial is None else trial["params"].get(key)
            if stored != value:
                inv.violate(
                    f"finish trial {tid} param {key}={value!r} acknowledged to "
                    f"{op.worker}#{op.seq} but stored {stored!r}"
                )


def _note_write(op: Op, index: OpIndex, inv: Invariant, written: _Written) -> None:
    """A single-value write that may have taken effect; if acknowledged, it must be stored."""
    tid, key, value = op.args["t"], str(op.args["k"]), op.args["v"]
    field_name = _WRITE_FIELDS[op.op]
    written[tid][(field_name, key)].add(value)
    if op.outcome == OK and not gone(index, tid):
        inv.checked += 1
        trial = index.trials.get(tid)
        stored = None if trial is None else trial[field_name].get(key)
        if stored != value:
            inv.violate(
                f"{op.op} trial {tid} {key}={value!r} acknowledged to "
                f"{op.worker}#{op.seq} but stored {stored!r}"
            )


def _check_acknowledged_effect(op: Op, index: OpIndex, inv: Invariant) -> None:
    """An acknowledged enqueue, create, finish or won claim must show in the final contents
    (unless the trial was deleted)."""
    tid = op.result if op.op in ("enqueue", "create_trial") else op.args.get("t")
    if type(tid) is int and gone(index, tid):
        return
    if op.op == "enqueue":
        inv.checked += 1
        trial = index.trials.get(op.result)
        if trial is None or trial["params"].get("q") != op.args["q"]:
            inv.violate(f"enqueued trial {op.result} ({op.worker}#{op.seq}) lost or altered")
    elif op.op == "create_trial":
        inv.checked += 1
        if index.trial_study.get(op.result) != op.args["s"]:
            inv.violate(f"created trial {op.result} ({op.worker}#{op.seq}) not in its study")
    elif op.op == "finish":
        inv.checked += 1
        trial = index.trials.get(op.args["t"])
        want_values = op.args["values"]
        if (
            trial is None
            or trial["state"] != op.args["state"]
            or (want_values is not None and trial["values"] != want_values)
        ):
            got = None if trial is None else (trial["state"], trial["values"])
            inv.violate(
                f"finish trial {op.args['t']} -> {op.args['state']} {want_values} "
                f"acknowledged to {op.worker}#{op.seq} but stored {got}"
            )
    elif op.op == "claim" and op.result:
        inv.checked += 1
        trial = index.trials.get(op.args["t"])
        if trial is None or trial["state"] == "WAITING":
            inv.violate(f"claim of trial {op.args['t']} won by {op.worker}#{op.seq} lost")


def _check_nothing_unwritten(index: OpIndex, inv: Invariant, written: _Written) -> None:
    """Every param, intermediate value and user attribute stored was written by someone
    (the enqueue's own ``q`` param and ``enqueued_by`` attribute aside)."""
    enqueued_q = {op.args["q"] for op in index.creates if op.op == "enqueue"}
    for tid, trial in index.trials.items():
        for fld in ("params", "iv", "user_attrs"):
            for key, value in trial[fld].items():
                if fld == "params" and key == "q" and value in enqueued_q:
                    continue
                if fld == "user_attrs" and key == "enqueued_by":
                    continue
                if value not in written[tid].get((fld, key), set()):
                    inv.violate(f"trial {tid} holds {fld}[{key}]={value!r} that nobody wrote")


def check_finished_unchanged(index: OpIndex) -> Invariant:
    """Every observation of a finished trial (reads during the run and the final contents)
    shows the same contents."""
    inv = Invariant("finished_trials_unchanged")
    first_seen: dict[int, tuple[str, str]] = {}
    for op in index.ops:
        if op.outcome != OK:
            continue
        rows = read_rows(op)
        for tid, _number, state, digest in rows:
            if state not in FINISHED:
                continue
            inv.checked += 1
            where = f"{op.worker}#{op.seq}"
            if tid not in first_seen:
                first_seen[tid] = (digest, where)
            elif first_seen[tid][0] != digest:
                inv.violate(
                    f"finished trial {tid} read as {first_seen[tid][0]} by {first_seen[tid][1]}"
                    f" and as {digest} by {where}"
                )
    for tid, (digest, where) in first_seen.items():
        final = index.trials.get(tid)
        if final is None and gone(index, tid):
            continue
        inv.checked += 1
        if final is None or final["digest"] != digest:
            inv.violate(f"finished trial {tid} read as {digest} by {where}, finally changed")
    return inv


def check_single_winner(index: OpIndex) -> Invariant:
    """At most one caller wins each claim, and each trial is finished by at most one call."""
    inv = Invariant("single_winner")
    claims, finishes = _winners(index, inv)
    for what, winners_of in (("claimed", claims), ("finished", finishes)):
        for tid, winners in sorted(winners_of.items()):
            if len(winners) > 1:
                inv.violate(f"trial {tid} {what} by {len(winners)}: {winners[:4]}")
    return inv


def _winners(index: OpIndex, inv: Invariant) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """Return who won each claim and who finished each trial (counting the calls checked)."""
    claims: dict[int, list[str]] = defaultdict(list)
    finishes: dict[int, list[str]] = defaultdict(list)
    for op in index.ops:
        if op.outcome != OK:
            continue
        where = f"{op.worker}#{op.seq}"
        if op.op == "claim":
            inv.checked += 1
            if op.result:
                claims[op.args["t"]].append(where)
        elif op.op == "finish":
            inv.checked += 1
            if op.result:
                finishes[op.args["t"]].append(where)
        elif op.op == "fail_stale":
            for tid in op.result or ():
                inv.checked += 1
                finishes[tid].append(where + "(stale)")
    return claims, finishes


def _may_list_before_a_beat(reaper: Op, beats: list[Op], ctx: CheckContext) -> bool:
    """Whether a ``fail_stale_trials`` call of unknown outcome, invoked before the trial's
    last beat, may have failed it anyway: it lists the stale trials, then fails them, so it
    may list the trial while it is stale and fail it after a new beat has landed (found by
    the MariaDB full tier: a server restart held every worker for 3.5 s, and a reaper killed
    in mid-call failed a trial whose owner beat in between).

    The trial may have been stale at an instant ``R`` after the reaper's invoke if the beats
    that surely landed by ``R`` (ended before it) may all have landed more than the grace
    period before it: each beat lands somewhere between its invoke and its end (one resent
    to a restarted proxy lands late). Checked just before each beat's end, where that set
    grows. No slack here: with ``stale_slack`` every unknown reaper overlapping a beat would
    count and the check would lose its point (a store whose clock keeps whole seconds may
    see a gap up to a second longer; none of trialstore's backends does)."""
    grace_ns = (ctx.grace_period or 0.0) * 1e9
    latest_invoke: int | None = None  # of the beats that ended before the instant checked
    for end, invoke in sorted((b.t1, b.t0) for b in beats):
        if latest_invoke is not None and end > reaper.t0 and end - latest_invoke > grace_ns:
            return True
        latest_invoke = invoke if latest_invoke is None else max(latest_invoke, invoke)
    return False


def check_stale_reaped(index: OpIndex, ctx: CheckContext) -> Invariant:
    """A RUNNING trial whose worker was killed after beating is stale once the grace period
    has passed since the kill: every ``fail_stale_trials`` call on its study invoked later than
    ``kill + grace_period + slack`` must fail it, unless it was already finished (by a call
    that may have taken effect first). ``slack`` covers the storage's clock resolution.

    Judged per reaping call, so a run whose workers are all dead for a while is not blamed on
    the storage. Also reports the delay from each kill to the failing of each stale trial.

    A trial with a heartbeat of unknown outcome (in flight at the kill, or cut off by an
    error) is not judged: that beat may still land at any time (a partition holds it in the
    network until the link heals, then TCP delivers it), and the trial is rightly alive for
    a grace period after it. Such trials are counted in the figure ``beat_in_flight``.

    Figures saying why trials were not judged (so that a run with kills and 0 checks explains
    itself): ``killed_owner_trials`` (trials a killed worker had beaten for, the candidates),
    of them ``beat_in_flight``, ``finished_before_kill`` and ``no_reaper_after_grace`` (no
    acknowledged ``fail_stale_trials`` call on the trial's study began more than
    ``stale_after_s`` = grace period + slack after the kill: typically the run ended first);
    each other candidate is checked once.
    """
    inv = Invariant("stale_trials_failed")
    if ctx.grace_period is None or ctx.heartbeat_interval is None:
        inv.figures["skipped"] = "heartbeats off"
        return inv
    slack_ns = int((ctx.grace_period + ctx.stale_slack) * 1e9)
    inv.figures["stale_after_s"] = float(ctx.grace_period + ctx.stale_slack)
    candidates = finished_before = no_reaper = 0
    reapers, unknown_reapers = reapers_by_study(index)
    delays: list[float] = []
    in_flight = 0
    for tid, ops in index.by_trial.items():
        beats = [op for op in ops if op.op == "heartbeat" and op.outcome == OK]
        if not beats:
            continue
        owner = beats[-1].worker
        death = ctx.deaths.get(owner)
        if death is None:
            continue
        candidates += 1
        if any(op.op == "heartbeat" and op.outcome == UNKNOWN for op in ops):
            in_flight += 1
            continue
        enders = [
            op
            for op in ops
            if op.outcome in (OK, UNKNOWN)
            and op.op in ("finish", "fail_stale")
            and (op.op == "fail_stale" or op.result or op.outcome == UNKNOWN)
        ]
        if any(op.outcome == OK and op.t1 < death for op in enders):
            finished_before += 1  # finished before its worker died
            continue
        study_id = index.trial_study.get(tid, -1)
        last_beat = beats[-1].t0
        enders += [
            op
            for op in unknown_reapers.get(study_id, [])
            if op.t0 > last_beat or _may_list_before_a_beat(op, beats, ctx)
        ]
        stale = _StaleTrial(tid, owner, death, death + slack_ns, enders)
        if not _judge_reapers(stale, reapers.get(study_id, []), inv, delays):
            no_reaper += 1
    inv.reap_delays = delays
    inv.figures["killed_owner_trials"] = candidates
    inv.figures["beat_in_flight"] = in_flight
    inv.figures["finished_before_kill"] = finished_before
    inv.figures["no_reaper_after_grace"] = no_reaper
    return inv


@dataclass
class _StaleTrial:
    """A trial whose owner was killed after beating: stale from ``stale_from`` (ns) on.
    ``enders``: the calls that may have finished it (finishes and reapers)."""

    tid: int
    owner: str
    death: int
    stale_from: int
    enders: list[Op]


def _judge_reapers(
    stale: _StaleTrial, reapers: list[Op], inv: Invariant, delays: list[float]
) -> bool:
    """Judge the trial by the first acknowledged reaper of its study invoked once it was
    stale: it must have failed it, unless another call may have finished it first. Append
    the delay from the kill when it did. Return whether such a reaper exists."""
    for reaper in reapers:
        if reaper.t0 <= stale.stale_from:
            continue
        inv.checked += 1
        if stale.tid in (reaper.result or ()):
            delays.append((reaper.t1 - stale.death) / 1e9)
        elif not any(op is not reaper and op.t0 < reaper.t1 for op in stale.enders):
            inv.violate(
                f"trial {stale.tid} of {stale.owner} (killed) not failed by fail_stale "
                f"{reaper.worker}#{reaper.seq} {(reaper.t0 - stale.death) / 1e9:.1f}s after "
                "the kill"
            )
        # else: someone else may have finished it first
        return True
    return False


def check_deleted_stay_deleted(index: OpIndex) -> Invariant:
    """A trial whose deletion was acknowledged is not in the final contents, no read that
    began after the acknowledgement returned it, and no write to it that began after was
    acknowledged."""
    inv = Invariant("deleted_trials_stay_deleted")
    deleted_at = _acknowledged_deletions(index, inv)
    if not deleted_at:
        return inv
    for op in index.ops:
        for tid in _named_deleted(op, deleted_at):
            inv.checked += 1
            if op.t0 > deleted_at[tid][0]:
                inv.violate(
                    f"trial {tid}, deleted by {deleted_at[tid][1]}, came back to {op.op} "
                    f"{op.worker}#{op.seq} that began after"
                )
    return inv


def _acknowledged_deletions(index: OpIndex, inv: Invariant) -> dict[int, tuple[int, str]]:
    """Each trial whose deletion was acknowledged: the end of the first acknowledged deletion
    and who made it. Counts, in ``inv``, the ones still in the final contents."""
    deleted_at: dict[int, tuple[int, str]] = {}
    for op in index.ops:
        if op.op != "delete" or op.outcome != OK:
            continue
        for tid in op.args["ts"]:
            inv.checked += 1
            where = f"{op.worker}#{op.seq}"
            if tid in index.trials:
                inv.violate(f"trial {tid} deleted by {where} is in the final contents")
            if tid not in deleted_at or op.t1 < deleted_at[tid][0]:
                deleted_at[tid] = (op.t1, where)
    return deleted_at


def _named_deleted(op: Op, deleted_at: dict[int, tuple[int, str]]) -> list[int]:
    """The deleted trials an acknowledged read returned or an acknowledged write wrote to."""
    if op.outcome != OK:
        return []
    if op.op in ("read_all", "get_trial"):
        return [tid for tid in observed_ids(op) if tid in deleted_at]
    if op.op in ("claim", "finish", *TRIAL_WRITES) and op.args.get("t") in deleted_at:
        return [op.args["t"]]
    return []


_PER_STUDY_CHECKS: tuple[Callable[[OpIndex, CheckContext], Invariant], ...] = (
    lambda index, ctx: check_ids_and_numbers(index),
    lambda index, ctx: check_acknowledged_writes(index),
    lambda index, ctx: check_finished_unchanged(index),
    lambda index, ctx: check_single_winner(index),
    check_stale_reaped,
    check_trial_linearizable,
    check_counter_linearizable,
    lambda index, ctx: check_deleted_stay_deleted(index),
)
_ORDER = (
    "ids_unique_numbers_dense",
    "one_creator_per_study",
    "acknowledged_writes_present",
    "finished_trials_unchanged",
    "single_winner",
    "stale_trials_failed",
    "linearizable_trial_state",
    "linearizable_trial_counter",
    "deleted_trials_stay_deleted",
)
_STUDY_OPS = ("create_study", "get_study_id")


class RunCheck:
    """Every checker over one run, one study at a time.

    Nearly every invariant concerns one study (its trials, numbers, claims and reapers), so a
    run's operations are split by study and each study is checked on its own: memory holds
    one study's operations, not the run's (a full-tier run records millions). What spans
    studies (no trial id handed out twice, one creator per study name) is gathered while the
    operations are routed.

    Use: :meth:`split` the operations into parts (or call :meth:`route` once per operation
    yourself); then call :meth:`check_part` once per part with the part's operations
    (:meth:`parts` lists them, the final studies included), and :meth:`results` at the end.
    """

    #: The part of operations on trials that are neither in the final contents nor created
    #: by an acknowledged call (a lost trial: the checkers report what was acknowledged).
    ORPHANS = -1
    #: What :meth:`route` returns for an operation to route again, with :meth:`reroute`,
    #: once every other operation has been routed.
    LATER = -2

    def __init__(self, final: dict[str, Any], ctx: CheckContext) -> None:
        self._ctx = ctx
        self._studies: dict[int, dict[str, Any]] = {s["id"]: s for s in final["studies"]}
        self._trial_study: dict[int, int] = {}
        self._results = {name: Invariant(name) for name in _ORDER}
        ids = self._results["ids_unique_numbers_dense"]
        for study in final["studies"]:
            for trial in study["trials"]:
                if trial["id"] in self._trial_study:
                    ids.violate(f"trial id {trial['id']} appears twice in the final contents")
                self._trial_study[trial["id"]] = study["id"]
        #: trial id -> (when, study, who created it): the first acknowledged create of the id
        #: (by invoke time, whatever the order the operations are routed in).
        self._created: dict[int, tuple[tuple[int, str, int], int, str]] = {}
        #: trial id -> the study of a deletion (acknowledged or of unknown outcome) naming
        #: it: the part of a trial no acknowledged create made (its create was cut off by a
        #: kill) that a deletion then removed.
        self._deleted_from: dict[int, int] = {}
        self._study_ops: list[Op] = []

    def route(self, op: Op) -> int | None:
        """Note what ``op`` tells about the whole run; return the study whose part it
        belongs to, None if no part needs it (this object kept what it needs), or
        :attr:`LATER` when its part is known only once every operation is routed (an
        operation on a trial missing from the final contents: deleted, or lost)."""
        if op.op in _STUDY_OPS:
            self._study_ops.append(op)
            return None
        if op.op in ("create_trial", "enqueue") and op.outcome == OK:
            ids = self._results["ids_unique_numbers_dense"]
            ids.checked += 1
            where = f"{op.worker}#{op.seq}"
            when = (op.t0, op.worker, op.seq)
            first = self._created.get(op.result)
            if first is not None:
                ids.violate(
                    f"trial id {op.result} returned by two creates: {first[2]} and {where}"
                )
            if first is None or when < first[0]:
                self._created[op.result] = (when, op.args["s"], where)
        if op.op == "delete" and op.outcome in (OK, UNKNOWN):
            for tid in op.args["ts"]:
                self._deleted_from.setdefault(tid, int(op.args["s"]))
        return self._part(op)

    def _part(self, op: Op) -> int:
        """The part of ``op``; :attr:`LATER` for an operation on a trial that is not in the
        final contents (deleted, or lost), routed by its create, or else by a deletion naming
        it, once every operation is known (so that the part never depends on the order of
        routing)."""
        if "s" in op.args:
            return int(op.args["s"])
        tid = op.args.get("t")
        study = self._trial_study.get(tid) if tid is not None else self.ORPHANS
        return self.LATER if study is None else study

    def reroute(self, op: Op) -> int:
        """The part of an operation :meth:`route` returned :attr:`LATER` for."""
        part = self._part(op)
        if part == self.LATER:
            tid: int = op.args["t"]
            created = self._created.get(tid)
            if created is not None:
                part = created[1]
            else:
                part = self._deleted_from.get(tid, self.ORPHANS)
        return part

    def split(self, ops: Iterable[Op], add: Callable[[int, Op], None]) -> None:
        """:meth:`route` every operation, in the order given, and ``add(part, op)`` those a
        part needs; the few whose part is known only at the end (operations on trials
        missing from the final contents) are added last."""
        later = []
        for op in ops:
            part = self.route(op)
            if part == self.LATER:
                later.append(op)
            elif part is not None:
                add(part, op)
        for op in later:
            add(self.reroute(op), op)

    def parts(self, routed: Iterable[int]) -> list[int]:
        """Every part to check: the final studies and the parts operations were routed to."""
        return sorted(set(self._studies) | set(routed))

    def check_part(self, part: int, ops: Sequence[Op]) -> None:
        """Run the per-study checkers on one part (its operations in any order)."""
        ordered = sorted(ops, key=lambda o: (o.t0, o.worker, o.seq))
        study = self._studies.get(part)
        index = OpIndex(ordered, [] if study is None else [study])
        for check in _PER_STUDY_CHECKS:
            result = check(index, self._ctx)
            self._results[result.name].merge(result)

    def results(self) -> list[Invariant]:
        """Every invariant over the whole run, in a fixed order."""
        names = check_study_names(self._study_ops, self._studies.values())
        self._results[names.name].merge(names)
        return [self._results[name] for name in _ORDER]


def run_checkers(ops: Sequence[Op], final: dict[str, Any], ctx: CheckContext) -> list[Invariant]:
    """Run every checker over operations held in memory; return their results in a fixed
    order. (A run's directory is checked without loading it whole by
    :func:`trialstore.stress.recheck`.)"""
    run = RunCheck(final, ctx)
    parts: dict[int, list[Op]] = defaultdict(list)
    run.split(ops, lambda part, op: parts[part].append(op))
    for part in run.parts(parts):
        run.check_part(part, parts.get(part, []))
    return run.results()
