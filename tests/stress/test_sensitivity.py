"""Checker sensitivity: every deliberately broken storage is caught; a correct one is not.

Thread mode runs the workload on threads sharing one storage object (quick); the process
tests run the same harness with worker processes against a storage the harness serves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialstore.stress import StressConfig, run_stress
from trialstore.stress.broken import BROKEN_STORAGES

#: Invariants each flaw must break (it may break more).
EXPECTED = {
    "no-lock": {"ids_unique_numbers_dense", "linearizable_trial_counter"},
    "non-atomic-claim": {"single_winner", "linearizable_trial_state"},
    "lost-write": {"acknowledged_writes_present"},
    "id-reuse": {"ids_unique_numbers_dense", "acknowledged_writes_present"},
    "stale-cache": {"deleted_trials_stay_deleted"},
}


def test_every_flaw_has_an_expectation() -> None:
    assert set(EXPECTED) == set(BROKEN_STORAGES)


def _config(storage: str, tmp_path: Path, **kwargs: object) -> StressConfig:
    defaults: dict[str, object] = dict(
        workers=4, duration=1.5, progress=False, report_dir=str(tmp_path), seed=1, png=False
    )
    defaults.update(kwargs)
    return StressConfig(storage=storage, **defaults)  # type: ignore[arg-type]


def test_correct_storage_has_no_violation_threads(tmp_path: Path) -> None:
    result = run_stress(_config("stress-memory://", tmp_path, mode="thread"))
    assert result.violations == 0, result.report["invariants"]
    assert result.report["inconclusive"] == 0
    by_op = result.report["operations"]["by_op"]
    for op in ("create_trial", "enqueue", "claim", "set_param", "report", "set_attr", "finish",
               "get_trial", "read_all", "heartbeat", "fail_stale", "delete"):  # fmt: skip
        assert by_op.get(op, {}).get("ok", 0) > 0, op
    for inv in result.invariants:
        if inv.name != "stale_trials_failed":  # nobody dies in thread mode
            assert inv.checked > 0, inv.name


@pytest.mark.parametrize("flaw", sorted(EXPECTED))
def test_broken_storage_is_caught_threads(flaw: str, tmp_path: Path) -> None:
    result = run_stress(_config(f"stress-memory://{flaw}", tmp_path, mode="thread"))
    assert EXPECTED[flaw] <= result.violated(), result.report["invariants"]


def test_correct_storage_survives_kills_processes(tmp_path: Path) -> None:
    result = run_stress(
        _config(
            "stress-memory://",
            tmp_path,
            # 10 s: under CI's load 6 s sometimes ended before any reaper ran past the grace
            # period of a killed worker's trial (checked == 0 below).
            duration=10.0,
            faults=("kill",),
            fault_every=0.6,
            heartbeat_interval=0.5,
        )
    )
    assert result.violations == 0, result.report["invariants"]
    assert result.report["faults"]["by_kind"]["kill"] >= 3
    assert result.report["operations"]["by_outcome"].get("unknown", 0) >= 1
    # every kill left a dead worker whose trials others had to fail after the grace period
    stale = result.report["invariants"]["stale_trials_failed"]
    assert stale["checked"] >= 1
    assert (tmp_path / "report.json").is_file() and (tmp_path / "summary.txt").is_file()


@pytest.mark.parametrize("flaw", ["non-atomic-claim", "no-lock"])
def test_broken_storage_is_caught_processes(flaw: str, tmp_path: Path) -> None:
    result = run_stress(_config(f"stress-memory://{flaw}", tmp_path, duration=3.0))
    assert EXPECTED[flaw] <= result.violated(), result.report["invariants"]
