"""trialstore.stress._report: the report's PNG keeps the throughput curve readable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import _report

plt = pytest.importorskip("matplotlib.pyplot")
LineCollection = pytest.importorskip("matplotlib.collections").LineCollection


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
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig) or close(fig))
    assert _report.write_png(_report_with(events), tmp_path / "report.png")
    top, strip, _ = figures[0].axes
    assert len(top.lines) == 1 and not top.collections and not top.patches  # the curve alone
    assert [t.get_text() for t in strip.get_yticklabels()] == ["kill (500)", "partition (9)"]
    ticks = [c for c in strip.collections if isinstance(c, LineCollection)]
    assert sorted(len(c.get_segments()) for c in ticks) == [9, 500]
    assert (tmp_path / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_faults_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig) or close(fig))
    assert _report.write_png(_report_with([]), tmp_path / "report.png")
    strip = figures[0].axes[1]
    assert [t.get_text() for t in strip.texts] == ["no faults injected"]
