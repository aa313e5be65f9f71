"""``trialstore stress`` (trialstore/cli/_stress.py): exit codes and the report files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trialstore.cli import main


def test_correct_storage_exits_0_with_full_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")  # the `stress` extra (installed by `test`)
    code = main(["stress", "--storage", "stress-memory://", "--workers", "2", "--duration",
                 "3", "--faults", "kill", "--report", str(tmp_path), "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 violations" in out and str(tmp_path) in out
    report = json.loads((tmp_path / "report.json").read_text())
    for key in ("operations", "invariants", "faults", "throughput", "latency_ms"):
        assert key in report
    assert report["operations"]["by_outcome"]["ok"] > 0
    assert set(report["latency_ms"]["create_trial"]) == {"p50_ms", "p95_ms", "p99_ms", "count"}
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "summary.txt").read_text().startswith("trialstore stress:")
    assert list((tmp_path / "history").glob("*.jsonl"))


def test_broken_storage_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["stress", "--storage", "stress-memory://lost-write", "--mode", "thread",
                 "--workers", "2", "--duration", "1.5", "--report", str(tmp_path),
                 "--no-progress"])  # fmt: skip
    assert code == 1
    assert "acknowledged_writes_present: VIOLATED" in capsys.readouterr().out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """(Every bad argument: tests/cli/test_cli_stress.py.)"""
    code = main(["stress", "--storage", "stress-memory://", "--faults", "meteor"])
    assert code == 2
    assert "unknown fault 'meteor' in --faults" in capsys.readouterr().err


@pytest.mark.netns
@pytest.mark.timeout(120)
def test_sigterm_ends_the_run_early_checks_it_and_removes_the_hosts(tmp_path: Path) -> None:
    """SIGTERM used to kill the harness on the spot, leaving its namespaces and links."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and ip")
    cmd = [sys.executable, "-m", "trialstore.cli", "stress", "--storage", "stress-memory://",
           "--workers", "2", "--hosts", "2", "--duration", "300", "--faults", "kill",
           "--report", str(tmp_path), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "start").exists():  # every worker has opened the storage
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.1)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["stopped_early_by"] == "SIGTERM"
    assert report["duration_s"] < 60
    assert report["operations"]["by_outcome"]["ok"] > 0
    assert "stopped early by SIGTERM" in (tmp_path / "summary.txt").read_text()
    namespaces = set(report["hosts"])
    assert len(namespaces) == 2
    live = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not {line.split()[0] for line in live.splitlines() if line} & namespaces
