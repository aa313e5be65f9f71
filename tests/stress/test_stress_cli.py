"""``trialstore stress`` (trialstore/cli/_stress.py): exit codes and the report files."""

from __future__ import annotations

import json
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
    code = main(["stress", "--storage", "stress-memory://", "--faults", "meteor"])
    assert code == 2
    assert "unknown faults" in capsys.readouterr().err
