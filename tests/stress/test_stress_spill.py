"""Checking a run's directory one study at a time gives the verdict of the in-memory check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import CheckContext, HistoryWriter, StressConfig, run_checkers, run_stress
from trialstore.stress._checkers import RunCheck
from trialstore.stress._history import load_history
from trialstore.stress._spill import check_history_dir

S = 1_000_000_000


def _verdict(invariants: list[Any]) -> dict[str, Any]:
    return {inv.name: inv.to_json() for inv in invariants}


def _figures(invariants: list[Any]) -> dict[str, Any]:
    """The verdict without the examples (the first few found depend on the reading order)."""
    return {name: {k: v for k, v in data.items() if k != "examples"}
            for name, data in _verdict(invariants).items()}  # fmt: skip


@pytest.mark.parametrize("kind", ["", "id-reuse", "lost-write"])
def test_streaming_check_agrees_with_the_in_memory_check(tmp_path: Path, kind: str) -> None:
    config = StressConfig(storage=f"stress-memory://{kind}", mode="thread", workers=3)
    config.duration, config.progress, config.png = 1.5, False, False
    config.trials_per_study = 20  # several studies, so several parts
    config.report_dir = str(tmp_path)
    result = run_stress(config)
    final = json.loads((tmp_path / "final.json").read_text())
    assert len(final["studies"]) > 2
    ctx = CheckContext(**json.loads((tmp_path / "context.json").read_text()))
    in_memory = _figures(run_checkers(load_history(tmp_path / "history"), final, ctx))
    assert _figures(result.invariants) == in_memory
    assert _figures(check_history_dir(tmp_path / "history", final, ctx)) == in_memory
    assert (sum(v["violated"] for v in in_memory.values()) > 0) == bool(kind)
    assert not list(tmp_path.glob("trialstore-check-*"))  # spill files removed


def _write(directory: Path, worker: str, ops: list[tuple[str, dict[str, Any], Any]]) -> None:
    history = HistoryWriter(directory / f"{worker}.jsonl", worker)
    for name, args, result in ops:
        history.complete(history.invoke(name, args), "ok", result)
    history.close()


def _study(sid: int, *trials: tuple[int, int, str]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [
        dict(id=tid, number=n, state=state, values=None, params={}, iv={}, user_attrs={},
             complete=None, digest=f"d{tid}")
        for tid, n, state in trials
    ]  # fmt: skip
    return {"id": sid, "name": f"stress-x-s{sid}", "trials": rows}


def test_one_trial_id_from_creates_in_two_studies_is_caught(tmp_path: Path) -> None:
    """Id uniqueness spans studies, although each study is checked on its own."""
    _write(tmp_path, "a", [("create_trial", {"s": 0}, 5)])
    _write(tmp_path, "b", [("create_trial", {"s": 1}, 5)])
    final = {"studies": [_study(0, (5, 0, "RUNNING")), _study(1)]}
    ctx = CheckContext(end_ns=2**62)
    for invariants in (
        check_history_dir(tmp_path, final, ctx),
        run_checkers(load_history(tmp_path), final, ctx),
    ):
        ids = _verdict(invariants)["ids_unique_numbers_dense"]
        assert ids["violated"] >= 1
        assert any("returned by two creates" in e for e in ids["examples"])


def test_write_to_a_lost_trial_created_in_a_later_file_is_reported(tmp_path: Path) -> None:
    """A write routed before the create of its trial (another worker's file, read later) to
    a trial missing from the final contents still reaches the checkers."""
    _write(tmp_path, "a", [("set_param", {"t": 9, "k": "p0", "v": 0.5}, None)])
    _write(tmp_path, "b", [("create_trial", {"s": 0}, 9)])
    final = {"studies": [_study(0)]}
    ctx = CheckContext(end_ns=2**62)
    run = RunCheck(final, ctx)
    ops = {op.worker: op for op in load_history(tmp_path)}
    assert run.route(ops["a"]) == RunCheck.LATER
    verdict = _verdict(check_history_dir(tmp_path, final, ctx))
    writes = verdict["acknowledged_writes_present"]
    assert writes["violated"] == 2  # the acknowledged param and the acknowledged create
    assert any("set_param trial 9" in e for e in writes["examples"])
