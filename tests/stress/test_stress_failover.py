"""The ``failover`` fault of the smoke tier (trialstore/stress/_faults.py, _runner.py): the
harness builds its own replicated PostgreSQL pair, its workers (threads, or processes on two
simulated hosts) reach both servers with one URL, the primary is SIGKILLed mid-study and the
standby promoted, and then the old primary is rebuilt as the standby. Every invariant holds
(each acknowledged trial is there afterwards, numbers unique and dense), every worker goes on
writing, and the pair is gone at the end."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from _required import require_or_skip

from trialstore.stress import StressConfig, StressResult, run_stress

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: Only the user and the database count: the pair runs on ports of its own.
STORAGE = "postgresql+psycopg://postgres@127.0.0.1:5432/stress_failover"


def _run(tmp_path: Path, **kwargs: Any) -> StressResult:
    settings: dict[str, Any] = dict(
        storage=STORAGE, workers=4, duration=12.0, faults=("failover",), restart_every=3.0,
        progress=False, report_dir=str(tmp_path / "report"), png=False,
    )  # fmt: skip
    settings.update(kwargs)
    result = run_stress(StressConfig(**settings))
    report = result.report
    violated = {k: v for k, v in report["invariants"].items() if v["violated"]}
    assert result.violations == 0, violated
    assert report["inconclusive"] == 0
    for name in ("acknowledged_writes_present", "ids_unique_numbers_dense"):
        assert report["invariants"][name]["checked"] > 0
    failovers = [e for e in report["faults"]["events"] if e["kind"] == "failover"]
    assert len(failovers) == report["faults"]["by_kind"]["failover"] >= 1
    for event in failovers:
        assert "error" not in event["details"] and "rebuild_error" not in event["details"]
        assert event["workers_resumed"] == event["workers_at_kill"] > 0, event
        assert event["recovery_s"] is not None and event["all_resumed_s"] is not None
    assert report["pg_pair"]["failovers"] == len(failovers)
    assert "replicated pair" in report["config"]["storage_display"]
    for port in report["pg_pair"]["ports"]:  # the pair is gone
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    return result


def test_threads_through_a_failover(pg_pair_buildable: None, tmp_path: Path) -> None:
    result = _run(tmp_path, mode="thread")
    event = result.report["faults"]["events"][0]
    assert sorted(event["worker_recovery_s"]) == ["t0", "t1", "t2", "t3"]


@pytest.mark.netns
def test_processes_on_two_hosts_through_a_failover(
    pg_pair_buildable: None, tmp_path: Path
) -> None:
    if shutil.which("ip") is None or os.geteuid() != 0:
        require_or_skip("needs root and ip (network namespaces)")
    result = _run(tmp_path, hosts=2, faults=("failover", "kill"), fault_every=2.0)
    failover = next(e for e in result.report["faults"]["events"] if e["kind"] == "failover")
    hosts = {name[:2] for name in failover["worker_recovery_s"]}
    assert hosts == {"h0", "h1"}  # workers on both hosts reached the new primary
    assert not set(result.report["hosts"]) & set(os.listdir("/var/run/netns"))
