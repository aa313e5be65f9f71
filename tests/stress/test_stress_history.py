"""Per-worker histories: every line survives a SIGKILL; open operations come back unknown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from trialstore.stress import HistoryWriter, load_history
from trialstore.stress._history import NEVER


def test_round_trip_and_open_operation(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "w.jsonl", "w")
    a = writer.invoke("create_trial", {"s": 0})
    writer.complete(a, "ok", result=7)
    b = writer.invoke("set_param", {"t": 7, "k": "p0", "v": 0.5})
    writer.complete(b, "fail", error="UpdateFinishedTrialError: x")
    writer.invoke("report", {"t": 7, "k": 0, "v": 1.0})  # never completed
    writer.close()
    ops = load_history(tmp_path)
    assert [(o.op, o.outcome) for o in ops] == [
        ("create_trial", "ok"),
        ("set_param", "fail"),
        ("report", "unknown"),
    ]
    assert ops[0].result == 7 and ops[0].t0 <= ops[0].t1
    assert ops[2].t1 == NEVER and ops[2].effect_deadline == NEVER
    assert ops[1].error == "UpdateFinishedTrialError: x"


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    writer = HistoryWriter(tmp_path / "w.jsonl", "w")
    a = writer.invoke("create_trial", {"s": 0})
    writer.close()
    with open(tmp_path / "w.jsonl", "a") as f:
        f.write(f'{{"i": {a}, "w": "w", "o": "ok", "t1"')  # killed mid-write
    (op,) = load_history(tmp_path)
    assert op.outcome == "unknown"


def test_history_of_a_sigkilled_process_survives(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import time
        from trialstore.stress import HistoryWriter
        w = HistoryWriter({str(tmp_path / "k.jsonl")!r}, "k")
        for i in range(10):
            w.complete(w.invoke("op", {{"i": i}}), "ok", result=i)
        w.invoke("op", {{"i": 10}})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    ops = load_history(tmp_path)
    assert len(ops) == 11
    assert all(o.outcome == "ok" for o in ops[:10])
    assert ops[10].outcome == "unknown" and not ops[10].completed
    assert ops[0].t0 < time.monotonic_ns()  # one clock across processes


def test_recheck_gives_the_same_verdict(tmp_path: Path) -> None:
    from trialstore.stress import StressConfig, recheck, run_stress

    config = StressConfig(storage="stress-memory://id-reuse", mode="thread", workers=2)
    config.duration, config.progress, config.png = 1.0, False, False
    config.report_dir = str(tmp_path)
    result = run_stress(config)
    again = {inv.name: inv.violation_count for inv in recheck(tmp_path)}
    assert again == {inv.name: inv.violation_count for inv in result.invariants}
    assert again["ids_unique_numbers_dense"] > 0
