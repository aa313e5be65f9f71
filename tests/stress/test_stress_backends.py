"""The smoke tier: every backend under worker processes with faults, zero violations.

Server faults here never restart a shared server: ``restart_mode="sessions"`` terminates the
connections to the test's own database only; the ``"real"`` restart commands are tested with
their runner replaced. Each run is a few seconds; the whole file stays around a minute.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from trialstore.storage._url import SCHEME_FACTORIES
from trialstore.stress import StressConfig, StressResult, _servers, run_stress

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _run(storage: str, tmp_path: Path, **kwargs: Any) -> StressResult:
    scheme = storage.partition("://")[0].split("+")[0]
    if scheme not in SCHEME_FACTORIES and not storage.startswith("stress-memory"):
        pytest.skip(f"backend {scheme} not registered yet")
    settings: dict[str, Any] = dict(
        workers=3, duration=6.0, progress=False, report_dir=str(tmp_path / "report"),
        png=False, fault_every=1.0,
    )  # fmt: skip
    settings.update(kwargs)
    result = run_stress(StressConfig(storage=storage, **settings))
    assert result.violations == 0, result.report["invariants"]
    assert result.report["inconclusive"] == 0
    assert result.report["operations"]["by_outcome"]["ok"] > 50
    assert not result.report.get("workers_crashed"), result.report["workers_crashed"]
    return result


def _kills(result: StressResult) -> int:
    return int(result.report["faults"]["by_kind"].get("kill", 0))


def _deletions(result: StressResult) -> int:
    """How many of the workers' deletions were acknowledged."""
    return int(result.report["operations"]["by_op"].get("delete", {}).get("ok", 0))


def test_journal_file_kills_and_stopped_lock_holder(tmp_path: Path) -> None:
    # 10 s: a lock-holder stop holds the fault schedule for ~2.5 s, and finding the holder
    # takes a while on a loaded machine; 6 s sometimes left no room for a kill (CI).
    result = _run(
        f"journal://{tmp_path}/journal.log", tmp_path, faults=("kill", "lock-holder-stop"),
        duration=10.0,
    )  # fmt: skip
    assert _kills(result) >= 1
    stops = [e for e in result.report["faults"]["events"] if e["kind"] == "lock-holder-stop"]
    assert stops and stops[0]["details"]["lock_held"] is True
    assert stops[0]["recovery_s"] is not None


def test_sqlite_kills_and_deletions(tmp_path: Path) -> None:
    result = _run(f"sqlite:///{tmp_path}/db.sqlite3", tmp_path, faults=("kill",))
    assert _kills(result) >= 1
    assert _deletions(result) >= 1


def test_journal_redis_kills(redis_url: str, redis_prefix: str, tmp_path: Path) -> None:
    url = redis_url.replace("redis://", "journal+redis://", 1) + f"?prefix={redis_prefix}"
    assert _kills(_run(url, tmp_path, faults=("kill",))) >= 1


def _lost_sessions(url: str, tmp_path: Path) -> None:
    result = _run(url, tmp_path, faults=("kill", "server-restart"), duration=6.0,
                  restart_every=2.0)  # fmt: skip
    restarts = [e for e in result.report["faults"]["events"] if e["kind"] == "server-restart"]
    assert restarts
    assert all("error" not in e["details"] for e in restarts), restarts
    # a pool may hold no connection at one instant, but not at every one
    assert sum(e["details"]["sessions_killed"] for e in restarts) >= 1, restarts
    assert _kills(result) >= 1


@pytest.mark.postgresql
def test_postgresql_kills_and_lost_sessions(postgres_url: str, tmp_path: Path) -> None:
    _lost_sessions(postgres_url, tmp_path)


@pytest.mark.mysql
def test_mysql_kills_and_lost_sessions(mysql_url: str, tmp_path: Path) -> None:
    _lost_sessions(mysql_url, tmp_path)


def test_grpc_proxy_sigkill_restart_and_deletions(tmp_path: Path) -> None:
    result = _run(
        f"journal://{tmp_path}/journal.log", tmp_path, faults=("kill", "server-restart"),
        serve_grpc=True, duration=6.0,
    )  # fmt: skip
    restarts = [e for e in result.report["faults"]["events"] if e["kind"] == "server-restart"]
    assert restarts and restarts[0]["target"] == "grpc-proxy"
    assert restarts[0]["recovery_s"] is not None
    assert _deletions(result) >= 1


def test_fake_restart_hook_is_called(tmp_path: Path) -> None:
    calls: list[int] = []
    result = run_stress(
        StressConfig(
            storage="stress-memory://",
            workers=2,
            duration=5.0,
            progress=False,
            report_dir=str(tmp_path),
            png=False,
            faults=("server-restart",),
            restart_mode="fake",
        ),
        restart_fake=lambda: calls.append(1),
    )
    assert calls and result.report["faults"]["by_kind"]["server-restart"] == len(calls)
    assert result.violations == 0


def test_real_restart_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def fake_run(command: list[str], timeout: float = 0) -> str:
        commands.append(command)
        return "1234 5678" if command[0] == "pidof" else ""

    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(_servers, "_run", fake_run)
    monkeypatch.setattr(_servers, "_wait_port", lambda host, port, timeout: True)
    monkeypatch.setattr(os, "listdir", lambda path: ["16"])  # the os module _servers uses
    monkeypatch.setattr(os, "kill", lambda pid, sig: killed.append((pid, sig)))
    hook = _servers.restart_hook_for("postgresql+psycopg://postgres@127.0.0.1/x", "real")
    assert hook is not None and hook()["up"] is True
    assert commands[-1] == [
        "pg_ctlcluster", "--skip-systemctl-redirect", "16", "main", "restart"
    ]  # fmt: skip
    hook = _servers.restart_hook_for("mysql+pymysql://root@127.0.0.1/x", "real")
    assert hook is not None and hook()["killed"] == ["1234", "5678"]
    assert [pid for pid, _ in killed] == [1234, 5678]
    assert commands[-1][:2] == ["start-stop-daemon", "--start"]
    assert commands[-1][-1] == "/usr/sbin/mariadbd"
    assert _servers.restart_hook_for("journal:///tmp/x.log", "real") is None


@pytest.mark.netns
def test_hosts_and_partitions(tmp_path: Path) -> None:
    if shutil.which("ip") is None or not Path("/proc/self/ns/net").exists():
        pytest.skip("needs ip and network namespaces")
    result = _run(
        "stress-memory://", tmp_path, workers=4, hosts=2, faults=("partition", "kill"),
        duration=6.0, partition_seconds=1.5,
    )  # fmt: skip
    events = result.report["faults"]["events"]
    assert any(e["kind"] == "partition" for e in events)
    workers = {op.worker[:2] for op in result.ops if op.outcome == "ok"}
    assert workers == {"h0", "h1"}  # both namespaces reached the server via the forwarders
    namespaces = result.report["hosts"]
    assert len(namespaces) == 2
    live = set(Path("/var/run/netns").iterdir()) if Path("/var/run/netns").exists() else set()
    assert not {p.name for p in live} & set(namespaces)  # removed after the run
