"""The figures of a run: JSON report, PNG chart and a short text summary."""

from __future__ import annotations

import json
import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from trialstore.stress._checkers import Invariant
from trialstore.stress._faults import FaultEvent
from trialstore.stress._history import FAIL, NEVER, OK, UNKNOWN, Op

__all__ = [
    "FAIL_CAUSES",
    "KILLED",
    "NOT_COMPLETED",
    "WRITE_OPS",
    "OpStats",
    "build_report",
    "write_json",
    "write_png",
    "write_summary",
]


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def _recovery(event: FaultEvent, ok_by_worker: dict[str, list[int]], all_ok: list[int]) -> Any:
    """Seconds from the fault's end to the first acknowledged operation of an affected worker
    (None: none happened before the run ended)."""
    import bisect

    times = all_ok
    if event.affected:
        times = sorted(t for w in event.affected for t in ok_by_worker.get(w, ()))
    i = bisect.bisect_right(times, event.t_end)
    if i == len(times):
        return None
    return round((times[i] - event.t_end) / 1e9, 4)


#: The workload's operations that write (an acknowledged one wrote to the primary, unless it
#: returned False: a claim another worker won, a finish of a finished trial).
WRITE_OPS = frozenset(
    ("create_study", "create_trial", "enqueue", "claim", "set_param", "report", "set_attr",
     "heartbeat", "finish")
)  # fmt: skip


def _failover_recovery(
    event: FaultEvent, writes: dict[str, list[tuple[int, int]]], deaths: Collection[str]
) -> dict[str, Any]:
    """A failover's recovery: for each worker at the kill, the seconds from the kill to its
    first acknowledged write on the new primary: one it invoked after the kill, or one that
    completed after the promotion (an earlier reply can only have come from the old primary,
    which was gone by then). Workers killed by a fault before they wrote again are counted
    apart (their replacements carry on under other names)."""
    import bisect

    per_worker: dict[str, float] = {}
    for worker in event.affected:
        ops = writes.get(worker, [])
        i = bisect.bisect_right(ops, (event.t_start, NEVER))
        for t1, t0 in ops[i:]:
            if t0 > event.t_start or t1 >= event.t_end:
                per_worker[worker] = round((t1 - event.t_start) / 1e9, 4)
                break
    waiting = [w for w in event.affected if w not in per_worker]
    killed = [w for w in waiting if w in deaths]
    values = sorted(per_worker.values())
    return {
        "recovery_s": values[0] if values else None,
        "all_resumed_s": values[-1] if values and not waiting else None,
        "workers_at_kill": len(event.affected),
        "workers_resumed": len(per_worker),
        "workers_killed_before_resuming": len(killed),
        "workers_not_resumed": sorted(set(waiting) - set(killed)),
        "worker_recovery_s": per_worker,
    }


#: The cause of an ``unknown`` operation without a completion line whose worker was killed.
KILLED = "killed mid-call"
#: The cause of an ``unknown`` operation without a completion line whose worker was not
#: killed by a fault (stopped at the end of the run in mid-call, or hung).
NOT_COMPLETED = "not completed"

#: What each clean failure (outcome ``fail``: the storage refused and wrote nothing) means in
#: the workload; these are the protocol's expected rejections, not errors of the storage.
FAIL_CAUSES = {
    "WaitingListed": "create listed WAITING trials instead",
    "UpdateFinishedTrialError": "trial already finished",
    "DuplicatedStudyError": "study already created by another worker",
    "KeyError": "no such trial or study",
    "ValueError": "value refused",
}


class OpStats:
    """The figures a report needs from the operations, gathered one operation at a time
    (a full-tier run's operations do not fit in memory at once).

    ``deaths``: the SIGKILLed workers (their unfinished operations count as killed
    mid-operation).
    """

    def __init__(self, deaths: Collection[str] = ()) -> None:
        self._deaths = set(deaths)
        #: The SIGKILLed workers' names.
        self.deaths: frozenset[str] = frozenset(self._deaths)
        self.workers_killed = len(self._deaths)
        self.by_op: dict[str, Counter[str]] = defaultdict(Counter)
        #: Outcome ``fail`` / ``unknown`` -> cause (the error's type, or KILLED or
        #: NOT_COMPLETED) -> operation -> count.
        self.causes: dict[str, dict[str, Counter[str]]] = {
            FAIL: defaultdict(Counter),
            UNKNOWN: defaultdict(Counter),
        }
        self.totals: Counter[str] = Counter()
        self.latencies: dict[str, array[float]] = defaultdict(lambda: array("d"))
        self.ok_by_worker: dict[str, array[int]] = defaultdict(lambda: array("q"))
        self.all_ok: array[int] = array("q")
        #: Worker -> the completion and invoke times of its acknowledged writes (flat pairs).
        self.writes_by_worker: dict[str, array[int]] = defaultdict(lambda: array("q"))
        self.killed_mid_operation = 0

    def add(self, op: Op) -> None:
        """Count one operation."""
        self.by_op[op.op][op.outcome] += 1
        self.totals[op.outcome] += 1
        if op.outcome == OK and op.t1 != NEVER:
            self.latencies[op.op].append((op.t1 - op.t0) / 1e6)
            self.ok_by_worker[op.worker].append(op.t1)
            self.all_ok.append(op.t1)
            if op.op in WRITE_OPS and op.result is not False:
                self.writes_by_worker[op.worker].extend((op.t1, op.t0))
        if op.t1 == NEVER and op.worker in self._deaths:
            self.killed_mid_operation += 1
        if op.outcome in self.causes:
            if op.t1 == NEVER:
                cause = KILLED if op.worker in self._deaths else NOT_COMPLETED
            else:
                cause = (op.error or "").partition(":")[0]
            self.causes[op.outcome][cause or "?"][op.op] += 1

    @classmethod
    def of(cls, ops: Iterable[Op], deaths: Collection[str] = ()) -> OpStats:
        """The figures of ``ops``."""
        stats = cls(deaths)
        for op in ops:
            stats.add(op)
        return stats


def build_report(
    *,
    config: dict[str, Any],
    stats: OpStats,
    invariants: Sequence[Invariant],
    events: Sequence[FaultEvent],
    t_start: int,
    t_end: int,
    final: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Return every figure of the run as plain JSON data.

    ``throughput.per_second`` counts the acknowledged operations of each whole second of the
    run (the last, partial second is left out); ``operations.fail_causes`` and
    ``operations.unknown_causes`` count those operations by cause (the error's type, or
    :data:`KILLED` or :data:`NOT_COMPLETED` for an operation that never completed) and
    operation.
    """
    all_ok = sorted(stats.all_ok)
    seconds = max(1e-9, (t_end - t_start) / 1e9)
    buckets = [0] * int(seconds)  # whole seconds: a last partial one would read as a drop
    for t in all_ok:
        i = int((t - t_start) / 1e9)
        if 0 <= i < len(buckets):
            buckets[i] += 1
    latency = {}
    for name, unsorted in sorted(stats.latencies.items()):
        values = sorted(unsorted)
        latency[name] = {f"p{int(q * 100)}_ms": round(_percentile(values, q), 3)
                         for q in (0.5, 0.95, 0.99)}  # fmt: skip
        latency[name]["count"] = len(values)
    fault_rows, worker_recoveries = _fault_rows(stats, events, t_start, all_ok)
    faults_by_kind = Counter(e.kind for e in events)
    recovery_summary = _recovery_summary(fault_rows, worker_recoveries)
    n_trials = sum(len(s["trials"]) for s in final["studies"])
    return {
        "config": config,
        "duration_s": round(seconds, 3),
        "operations": {
            "total": sum(stats.totals.values()),
            "by_outcome": dict(stats.totals),
            "by_op": {name: dict(c) for name, c in sorted(stats.by_op.items())},
            "fail_causes": _causes(stats.causes[FAIL]),
            "unknown_causes": _causes(stats.causes[UNKNOWN]),
        },
        "throughput": {
            "ok_ops_per_s": round(len(all_ok) / seconds, 2),
            "per_second": buckets,
        },
        "latency_ms": latency,
        "invariants": {inv.name: inv.to_json() for inv in invariants},
        "violations": sum(inv.violation_count for inv in invariants),
        "inconclusive": sum(inv.inconclusive for inv in invariants),
        "faults": {
            "by_kind": dict(faults_by_kind),
            "recovery": recovery_summary,
            "events": fault_rows,
        },
        "storage": {"studies": len(final["studies"]), "trials": n_trials},
        "kills_mid_operation": stats.killed_mid_operation,
        "workers_killed": stats.workers_killed,
        **extra,
    }


def _fault_rows(
    stats: OpStats, events: Sequence[FaultEvent], t_start: int, all_ok: list[int]
) -> tuple[list[dict[str, Any]], list[float]]:
    """One row per fault event (times relative to the run's start, its recovery), and every
    worker's recovery from each failover."""
    ok_by_worker = {worker: sorted(times) for worker, times in stats.ok_by_worker.items()}
    writes: dict[str, list[tuple[int, int]]] = {}
    if any(event.kind == "failover" for event in events):
        for worker, flat in stats.writes_by_worker.items():
            writes[worker] = sorted(zip(flat[::2], flat[1::2], strict=True))
    rows = []
    worker_recoveries: list[float] = []
    for event in events:
        row = event.to_json()
        row["t_start_s"] = round((event.t_start - t_start) / 1e9, 3)
        row["duration_s"] = round((event.t_end - event.t_start) / 1e9, 3)
        if event.kind == "failover":
            row.update(_failover_recovery(event, writes, stats.deaths))
            worker_recoveries += row["worker_recovery_s"].values()
        else:
            row["recovery_s"] = _recovery(event, ok_by_worker, all_ok)
        if event.kind == "lock-holder-stop":
            row["others_ok_during_stop"] = sum(
                1
                for w in event.affected
                for t in ok_by_worker.get(w, ())
                if event.t_start <= t <= event.t_end
            )
        del row["affected"], row["t_start"], row["t_end"]
        rows.append(row)
    return rows, worker_recoveries


def _recovery_summary(
    fault_rows: list[dict[str, Any]], worker_recoveries: list[float]
) -> dict[str, dict[str, Any]]:
    """Recovery percentiles by fault kind (and, for failovers, per worker)."""
    per_kind: dict[str, list[float]] = defaultdict(list)
    for row in fault_rows:
        if row["recovery_s"] is not None:
            per_kind[row["kind"]].append(row["recovery_s"])
    summary: dict[str, dict[str, Any]] = {}
    for kind, values in per_kind.items():
        values.sort()
        summary[kind] = {
            "p50_s": _percentile(values, 0.5),
            "p95_s": _percentile(values, 0.95),
            "p99_s": _percentile(values, 0.99),
            "max_s": values[-1],
        }
    if worker_recoveries:
        worker_recoveries.sort()
        failover_rows = [row for row in fault_rows if row["kind"] == "failover"]
        summary.setdefault("failover", {})["per_worker"] = {
            "p50_s": _percentile(worker_recoveries, 0.5),
            "p99_s": _percentile(worker_recoveries, 0.99),
            "max_s": worker_recoveries[-1],
            "resumed": sum(r["workers_resumed"] for r in failover_rows),
            "at_kill": sum(r["workers_at_kill"] for r in failover_rows),
            "killed_before_resuming": sum(
                r["workers_killed_before_resuming"] for r in failover_rows
            ),
        }
    return summary


def _causes(counts: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Cause -> operation -> count, the most frequent cause first."""
    ordered = sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return {cause: dict(ops.most_common()) for cause, ops in ordered}


def _cause_line(title: str, causes: dict[str, dict[str, int]], labels: dict[str, str]) -> str:
    """``title: label N (op n, op n), ...``; the operations are named when there are several."""
    parts = []
    for cause, ops in causes.items():
        text = f"{labels.get(cause, cause)} {sum(ops.values())}"
        if len(ops) > 1:
            text += " (" + ", ".join(f"{op} {n}" for op, n in ops.items()) + ")"
        parts.append(text)
    return f"  {title}: " + ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _why_unchecked(name: str, inv: dict[str, Any], report: dict[str, Any]) -> str | None:
    """Why an invariant was checked 0 times, when the report can tell; else None."""
    if name != "stale_trials_failed":
        return None
    if inv.get("skipped"):
        return str(inv["skipped"])
    killed = report.get("workers_killed", 0)
    if not killed:
        return "no worker was killed"
    held = inv.get("killed_owner_trials", 0) - inv.get("finished_before_kill", 0)
    if held <= 0:
        return (
            f"the {_plural(killed, 'killed worker')} held no unfinished trial they had sent a "
            "heartbeat for"
        )
    reasons = []
    if inv.get("beat_in_flight"):
        reasons.append(f"{inv['beat_in_flight']} had a heartbeat in flight (not judged)")
    if inv.get("no_reaper_after_grace"):
        reasons.append(
            f"{inv['no_reaper_after_grace']} saw no fail_stale call on their study start more "
            f"than {inv.get('stale_after_s', 0):g} s (grace period + slack) after the kill "
            "before the run ended"
        )
    return (
        f"of the {_plural(held, 'unfinished trial')} the {_plural(killed, 'killed worker')} had "
        "sent heartbeats for, " + "; ".join(reasons)
    )


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.3f} s"


def _failover_lines(rec: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """The summary's lines about failovers: recovery over all of them, then each one."""
    lines = []
    if "p50_s" in rec:
        lines.append(
            f"  recovery after failover (kill to the first acknowledged write on the new "
            f"primary): p50 {rec['p50_s']:.3f} s, p99 {rec['p99_s']:.3f} s, "
            f"max {rec['max_s']:.3f} s"
        )
    workers = rec.get("per_worker")
    if workers:
        killed = workers["killed_before_resuming"]
        lines.append(
            f"    per worker: p50 {workers['p50_s']:.3f} s, p99 {workers['p99_s']:.3f} s, "
            f"max {workers['max_s']:.3f} s; resumed {workers['resumed']} of "
            f"{workers['at_kill']}" + (f" ({killed} killed before resuming)" if killed else "")
        )
    failovers = [e for e in events if e["kind"] == "failover"]
    for n, event in enumerate(failovers, 1):
        details = event["details"]
        if "error" in details:
            lines.append(f"    failover {n} at {event['t_start_s']:.1f} s: {details['error']}")
            continue
        rebuilt = (
            f"rebuilt by {details['how'].partition(' ')[0]} {details['rebuilt_s']:.1f} s "
            "after the kill"
            if "rebuilt_s" in details
            else f"NOT rebuilt: {details.get('rebuild_error', '?')}"
        )
        missing = event.get("workers_not_resumed") or []
        if event["all_resumed_s"] is not None:
            every = f"all {event['workers_at_kill']} workers {event['all_resumed_s']:.3f} s"
        else:
            every = f"{event['workers_resumed']} of {event['workers_at_kill']} workers resumed"
        lines.append(
            f"    failover {n} at {event['t_start_s']:.1f} s: {event['target']}, promoted "
            f"{details['promote_s']:.3f} s after the kill, first write "
            f"{_seconds(event['recovery_s'])}, {every}; {rebuilt}"
            + (f"; NOT resumed: {', '.join(missing)}" if missing else "")
        )
    return lines


def write_summary(report: dict[str, Any], path: Path) -> str:
    """Write and return a few lines a person reads first."""
    ops = report["operations"]
    outcomes = ", ".join(f"{k} {v}" for k, v in ops["by_outcome"].items())
    lines = [
        f"trialstore stress: {report['config']['storage_display']} "
        f"({report['config']['workers']} workers x {report['config']['hosts']} hosts, "
        f"{report['duration_s']:.0f} s, tier {report['config']['tier']})",
        f"operations: {ops['total']} ({outcomes}); "
        f"{report['throughput']['ok_ops_per_s']} ok ops/s",
        f"storage: {report['storage']['studies']} studies, {report['storage']['trials']} trials",
        "faults: "
        + (", ".join(f"{k} {v}" for k, v in report["faults"]["by_kind"].items()) or "none"),
    ]
    at = 2
    if ops.get("fail_causes"):
        title = "fail (expected rejections, nothing written)"
        lines.insert(at, _cause_line(title, ops["fail_causes"], FAIL_CAUSES))
        at += 1
    if ops.get("unknown_causes"):
        title = "unknown (may or may not have taken effect)"
        labels = {NOT_COMPLETED: "cut off by the run's end"}
        lines.insert(at, _cause_line(title, ops["unknown_causes"], labels))
    if report.get("stopped_early_by"):
        lines.insert(1, f"stopped early by {report['stopped_early_by']}; what ran is checked")
    for kind, rec in report["faults"]["recovery"].items():
        if kind == "failover":
            lines += _failover_lines(rec, report["faults"]["events"])
            continue
        lines.append(
            f"  recovery after {kind}: p50 {rec['p50_s']:.3f} s, max {rec['max_s']:.3f} s"
        )
    lines.append(
        f"invariants: {len(report['invariants'])} checked, {report['violations']} violations, "
        f"{report['inconclusive']} inconclusive"
    )
    for name, inv in report["invariants"].items():
        status = "OK" if inv["violated"] == 0 else f"VIOLATED x{inv['violated']}"
        why = _why_unchecked(name, inv, report) if inv["checked"] == 0 else None
        checked = f"0 checked: {why}" if why else f"{inv['checked']} checked"
        lines.append(f"  {name}: {status} ({checked})")
        for example in inv["examples"][:3]:
            lines.append(f"    - {example}")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


_COLORS = {"kill": "tab:red", "server-restart": "tab:purple", "partition": "tab:orange",
           "lock-holder-stop": "tab:brown", "failover": "tab:green"}  # fmt: skip


def write_png(report: dict[str, Any], path: Path) -> bool:
    """Draw throughput over time (each whole second's count at the middle of that second; the
    report leaves out the last, partial second), the faults on their own strip below it (one
    row per kind: a tick at each fault's start, a bar over its duration), and latency
    percentiles per operation. A full tier injects thousands of faults: drawn over the curve,
    they hid it.

    Returns False (and draws nothing) when matplotlib is not installed (extra ``stress``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (top, strip, bottom) = plt.subplots(
        3, 1, figsize=(10, 8.5), gridspec_kw={"height_ratios": [3, 1, 3]}
    )
    per_second = report["throughput"]["per_second"]  # whole seconds (see build_report)
    end = max(len(per_second), report.get("duration_s", 0), 1)  # faults of the last second too
    # each second's count at the middle of its second: a dip after a fault is drawn after it
    top.plot([i + 0.5 for i in range(len(per_second))], per_second, color="tab:blue", lw=1)
    top.set_xlim(0, end)
    top.set_ylabel("acknowledged ops / s")
    top.set_title(f"throughput: {report['config']['storage_display']}")
    _draw_faults(strip, report["faults"]["events"], end)
    names = list(report["latency_ms"])
    width = 0.27
    for j, q in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        bottom.bar([i + (j - 1) * width for i in range(len(names))],
                   [report["latency_ms"][n][q] for n in names], width, label=q[:3])  # fmt: skip
    bottom.set_xticks(range(len(names)))
    bottom.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms)")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _draw_faults(axes: Any, events: list[dict[str, Any]], end: float) -> None:
    """One row per fault kind on ``axes``, sharing the throughput plot's time axis."""
    kinds = sorted({event["kind"] for event in events})
    for row, kind in enumerate(kinds):
        color = _COLORS.get(kind, "gray")
        mine = [event for event in events if event["kind"] == kind]
        spans = [(e["t_start_s"], e["duration_s"]) for e in mine if e["duration_s"] > 0.05]
        if spans:
            axes.broken_barh(spans, (row - 0.3, 0.6), color=color, alpha=0.3)
        axes.vlines([e["t_start_s"] for e in mine], row - 0.4, row + 0.4, color=color, lw=0.5)
    axes.set_xlim(0, end)
    axes.set_ylim(-0.6, max(len(kinds), 1) - 0.4)
    axes.set_yticks(range(len(kinds)))
    counts = {kind: sum(event["kind"] == kind for event in events) for kind in kinds}
    axes.set_yticklabels([f"{kind} ({counts[kind]})" for kind in kinds], fontsize=8)
    axes.set_xlabel("seconds since start")
    if not kinds:
        axes.text(0.5, 0.5, "no faults injected", ha="center", va="center",
                  transform=axes.transAxes, fontsize=8)  # fmt: skip


def write_json(report: dict[str, Any], path: Path) -> None:
    """Write the report (NaN as null)."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    path.write_text(json.dumps(clean(report), indent=2, sort_keys=False))
