"""trialstore.stress._report: the report's PNG keeps the throughput curve readable, and the
summary explains its figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import CheckContext, Op, _report, run_checkers

plt = pytest.importorskip("matplotlib.pyplot")
LineCollection = pytest.importorskip("matplotlib.collections").LineCollection


def _closed_figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures ``plt.close`` is called with from now on (each still closed)."""
    figures: list[Any] = []
    close = plt.close

    def closing(fig: Any) -> None:
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plt, "close", closing)
    return figures


def _report_with(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "config": {"storage_display": "memory://"},
        "throughput": {"per_second": [100.0] * 60},
        "faults": {"events": events},
        "latency_ms": {"get_trial": {"p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0}},
    }


def test_faults_are_drawn_on_their_own_strip_not_over_the_throughput(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of fault markers drawn across the throughput plot hid its curve (a full
    tier's PNG was a red wall): the faults go on a strip of one row per kind, with counts."""
    events = [{"kind": "kill", "t_start_s": t / 10, "duration_s": 0.0} for t in range(500)]
    events += [{"kind": "partition", "t_start_s": 5.0 * t, "duration_s": 2.0} for t in range(9)]
    figures = _closed_figures(monkeypatch)
    assert _report.write_png(_report_with(events), tmp_path / "report.png")
    top, strip, _ = figures[0].axes
    assert len(top.lines) == 1 and not top.collections and not top.patches  # the curve alone
    assert [t.get_text() for t in strip.get_yticklabels()] == ["kill (500)", "partition (9)"]
    ticks = [c for c in strip.collections if isinstance(c, LineCollection)]
    assert sorted(len(c.get_segments()) for c in ticks) == [9, 500]
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_faults_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _closed_figures(monkeypatch)
    assert _report.write_png(_report_with([]), tmp_path / "report.png")
    strip = figures[0].axes[1]
    assert [t.get_text() for t in strip.texts] == ["no faults injected"]


# -- the summary explains itself -------------------------------------------------------------

S = 1_000_000_000  # one second in ns
NEVER = 2**63 - 1
CONFIG = {"storage_display": "stress-memory://", "workers": 2, "hosts": 1, "tier": "smoke"}


def _op(worker: str, seq: int, name: str, args: dict[str, Any], t0: float, t1: float | None,
        outcome: str = "ok", result: Any = None, error: str | None = None) -> Op:  # fmt: skip
    end = NEVER if t1 is None else int(t1 * S)
    return Op(worker, seq, name, args, int(t0 * S), outcome, result, error, end)


def _trial(tid: int, state: str) -> dict[str, Any]:
    return dict(id=tid, number=tid, state=state, values=None, params={}, iv={}, user_attrs={},
                complete=None, digest=f"d{tid}{state}")  # fmt: skip


def _final(*trials: dict[str, Any]) -> dict[str, Any]:
    return {"studies": [{"id": 0, "name": "stress-x-s0", "trials": list(trials)}]}


def _build(ops: list[Op], final: dict[str, Any], t_end: float, **ctx: Any) -> dict[str, Any]:
    context = CheckContext(end_ns=int(t_end * S), **ctx)
    return _report.build_report(
        config=CONFIG,
        stats=_report.OpStats.of(ops, context.deaths),
        invariants=run_checkers(ops, final, context) if ops else [],
        events=[],
        t_start=0,
        t_end=int(t_end * S),
        final=final,
        extra={},
    )


def _summary(report: dict[str, Any], tmp_path: Path) -> list[str]:
    return _report.write_summary(report, tmp_path / "summary.txt").splitlines()


def test_fail_outcomes_are_labelled_expected_rejections_by_cause(tmp_path: Path) -> None:
    """`fail 188` alone read like 188 errors of the storage; they are the protocol's clean
    refusals, and the summary says which."""
    finished = "UpdateFinishedTrialError: trial 3 is already finished"
    ops = [
        _op("a", 1, "create_study", {"name": "n"}, 0.1, 0.2, result=0),
        _op("b", 1, "create_study", {"name": "n"}, 0.1, 0.3, "fail",
            error="DuplicatedStudyError: n exists"),
        *[_op("b", 2 + i, "create_trial", {"s": 0, "or_list": True}, 0.4 + i / 10, 0.45 + i / 10,
              "fail", error="WaitingListed: 1 trials WAITING") for i in range(3)],
        _op("a", 2, "set_param", {"t": 3, "k": "p0", "v": 0.5}, 1.0, 1.1, "fail", error=finished),
        _op("a", 3, "finish", {"t": 3, "state": "FAIL", "values": None}, 1.2, 1.3, "fail",
            error=finished),
        _op("a", 4, "report", {"t": 4, "k": 0, "v": 1.0}, 1.4, None, "unknown"),  # killed
        _op("b", 5, "get_trial", {"t": 4}, 1.5, 1.6, "unknown", error="StorageInternalError: x"),
        _op("c", 1, "read_all", {"s": 0}, 1.9, None, "unknown"),  # stopped at the end
    ]  # fmt: skip
    report = _build(ops, {"studies": []}, 2.0, deaths={"a": int(1.5 * S)})
    assert report["operations"]["fail_causes"] == {
        "WaitingListed": {"create_trial": 3},
        "UpdateFinishedTrialError": {"set_param": 1, "finish": 1},
        "DuplicatedStudyError": {"create_study": 1},
    }
    lines = _summary(report, tmp_path)
    assert lines[1].startswith("operations: 10 (ok 1, fail 6, unknown 3)")
    assert lines[2] == (
        "  fail (expected rejections, nothing written): create listed WAITING trials instead 3, "
        "trial already finished 2 (set_param 1, finish 1), study already created by another "
        "worker 1"
    )
    assert lines[3] == (
        "  unknown (may or may not have taken effect): StorageInternalError 1, killed mid-call 1, "
        "cut off by the run's end 1"
    )


def test_no_cause_lines_without_fail_or_unknown(tmp_path: Path) -> None:
    ops = [_op("a", 1, "create_study", {"name": "n"}, 0.1, 0.2, result=0)]
    lines = _summary(_build(ops, _final(), 1.0), tmp_path)
    assert not [line for line in lines if "expected rejections" in line or "unknown (" in line]


def test_throughput_per_second_leaves_out_the_last_partial_second(tmp_path: Path) -> None:
    """The last bucket held only the run's last 0.4 s (and its wind-down): the plot ended in a
    cliff that no storage caused."""
    ops = [_op("a", i, "get_trial", {"t": 0}, t - 0.01, t, result=[0, 0, "RUNNING", ""])
           for i, t in enumerate([0.5, 1.5, 1.6, 2.5, 3.2])]  # fmt: skip
    report = _build(ops, _final(_trial(0, "RUNNING")), 3.4)
    assert report["throughput"]["per_second"] == [1, 2, 1]
    assert report["throughput"]["ok_ops_per_s"] == round(5 / 3.4, 2)  # all of them
    with pytest.MonkeyPatch.context() as monkeypatch:
        figures = _closed_figures(monkeypatch)
        assert _report.write_png(report, tmp_path / "report.png")
    [line] = figures[0].axes[0].lines
    assert list(line.get_ydata()) == [1, 2, 1]
    assert list(line.get_xdata()) == [0.5, 1.5, 2.5]  # each second at its middle
    assert figures[0].axes[0].get_xlim() == (0, 3.4)  # the faults' strip shares it: all of them


def _killed_holder(finished: bool) -> list[Op]:
    ops = [
        _op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        _op("a", 2, "heartbeat", {"t": 0}, 1.2, 1.3),
        # a is SIGKILLed at t=2: its trial is stale from 2 + 2 (grace) + 1.5 (slack)
        _op("b", 1, "fail_stale", {"s": 0}, 3.0, 3.1, result=[]),
    ]
    if finished:
        ops.insert(2, _op("a", 3, "finish", {"t": 0, "state": "FAIL", "values": None}, 1.4, 1.5,
                          result=True))  # fmt: skip
    return ops


HEARTBEATS: dict[str, Any] = {"grace_period": 2.0, "heartbeat_interval": 1.0}
UNCHECKED: dict[str, tuple[list[Op], str, dict[str, Any], str]] = {
    "run ended before the grace period": (
        _killed_holder(False), "RUNNING", {"deaths": {"a": 2 * S}, **HEARTBEATS},
        "0 checked: of the 1 unfinished trial the 1 killed worker had sent heartbeats for, 1 saw "
        "no fail_stale call on their study start more than 3.5 s (grace period + slack) after "
        "the kill before the run ended",
    ),
    "killed holding nothing": (
        _killed_holder(True), "FAIL", {"deaths": {"a": 2 * S}, **HEARTBEATS},
        "0 checked: the 1 killed worker held no unfinished trial they had sent a heartbeat for",
    ),
    "no kill": (_killed_holder(True), "FAIL", HEARTBEATS, "0 checked: no worker was killed"),
    "heartbeats off": (_killed_holder(True), "FAIL", {"deaths": {"a": 2 * S}},
                       "0 checked: heartbeats off"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(UNCHECKED))
def test_an_invariant_checked_0_times_says_why(case: str, tmp_path: Path) -> None:
    """`stale_trials_failed: OK (0 checked)` after kills read like a silent checker; the runs
    that ended within grace period + slack of their kills were the usual cause."""
    ops, state, ctx, why = UNCHECKED[case]
    report = _build(ops, _final(_trial(0, state)), 5.0, **ctx)
    lines = _summary(report, tmp_path)
    assert f"  stale_trials_failed: OK ({why})" in lines, lines
    assert "  single_winner: OK (" in "\n".join(lines)


def test_the_reasons_add_up(tmp_path: Path) -> None:
    """Every trial a killed worker beat for is checked or counted under one reason."""
    ops = [*_killed_holder(False), _op("b", 2, "fail_stale", {"s": 0}, 8.0, 8.1, result=[0])]
    report = _build(ops, _final(_trial(0, "FAIL")), 9.0, deaths={"a": 2 * S}, **HEARTBEATS)
    stale = report["invariants"]["stale_trials_failed"]
    assert stale["checked"] == 1 and stale["killed_owner_trials"] == 1
    assert stale["no_reaper_after_grace"] == stale["finished_before_kill"] == 0
    assert "  stale_trials_failed: OK (1 checked)" in _summary(report, tmp_path)


def test_failover_recovery_counts_only_writes_the_new_primary_acknowledged(
    tmp_path: Path,
) -> None:
    """Recovery from a failover is the time from the kill to each worker's first acknowledged
    write on the new primary: a reply that arrived before the promotion came from the old
    primary, a read or a lost claim wrote nothing, and a worker killed before it wrote again
    is counted apart from one that never resumed."""
    from trialstore.stress._faults import FaultEvent

    ops = [
        _op("a", 1, "set_param", {"t": 0, "k": "p", "v": 0.5}, 1.9, 2.1),  # the old primary's
        _op("a", 2, "report", {"t": 0, "k": 0, "v": 1.0}, 2.2, 2.6),
        _op("b", 1, "set_attr", {"t": 1, "k": "a", "v": 1}, 1.8, 2.7),  # retried through it
        _op("c", 1, "get_trial", {"t": 0}, 2.3, 2.4, result=[0, 0, "RUNNING", ""]),
        _op("c", 2, "claim", {"t": 2}, 2.5, 2.8, result=False),
        _op("d", 1, "heartbeat", {"t": 3}, 1.0, 1.1),
    ]  # fmt: skip
    event = FaultEvent("failover", "a:1->b:2", 2 * S, int(2.5 * S), ["a", "b", "c", "d"],
                       {"old_primary": "a:1", "new_primary": "b:2", "promote_s": 0.5,
                        "how": "pg_rewind", "rebuilt_s": 3.0})  # fmt: skip
    report = _report.build_report(
        config=CONFIG, stats=_report.OpStats.of(ops, {"d": int(2.2 * S)}), invariants=[],
        events=[event], t_start=0, t_end=4 * S, final={"studies": []}, extra={},
    )  # fmt: skip
    [row] = report["faults"]["events"]
    assert row["worker_recovery_s"] == {"a": 0.6, "b": 0.7}
    assert row["recovery_s"] == 0.6 and row["all_resumed_s"] is None
    assert row["workers_not_resumed"] == ["c"]
    assert row["workers_killed_before_resuming"] == 1
    per_worker = report["faults"]["recovery"]["failover"]["per_worker"]
    assert (per_worker["resumed"], per_worker["at_kill"]) == (2, 4)
    lines = _summary(report, tmp_path)
    assert any(line.startswith("  recovery after failover") and "p99 0.600 s" in line
               for line in lines), lines  # fmt: skip
    assert (
        "    failover 1 at 2.0 s: a:1->b:2, promoted 0.500 s after the kill, first write 0.600 s,"
        " 2 of 4 workers resumed; rebuilt by pg_rewind 3.0 s after the kill; NOT resumed: c"
    ) in lines
