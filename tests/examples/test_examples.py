"""The ported "Easy Parallelization" scripts in examples/ run as users run them.

Each script runs in a subprocess from a scratch directory. Scripts whose backend is not
available are skipped with a reason naming it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import trialstore

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LOG_LINE = re.compile(
    r"^\[I \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] Trial \d+ finished with value: \S+ and "
    r"parameters: \{'x': [-0-9.e]+\}\. Best is trial \d+ with value: \S+\.$"
)


def _run(
    script: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _require(module: str, backend: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        pytest.skip(f"backend {backend} not available ({module} missing)")


def test_multi_thread(tmp_path: Path) -> None:
    out = _run("multi_thread.py", tmp_path)
    assert out.returncode == 0, out.stderr
    running = re.findall(
        r"Running trial trial\.number=(\d+) in (ThreadPoolExecutor-\d+_\d+)", out.stdout
    )
    assert sorted(int(n) for n, _ in running) == list(range(20))
    assert len({thread for _, thread in running}) > 1
    lines = out.stderr.splitlines()
    assert re.match(r"^\[I .*\] A new study created in memory with name: no-name-", lines[0])
    finished = [line for line in lines if LOG_LINE.match(line)]
    assert len(finished) == 20


def test_multi_process_journal(tmp_path: Path) -> None:
    _require("trialstore.storage.journal", "journal")
    out = _run("multi_process_journal.py", tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert len(re.findall(r"Running trial trial\.number=\d+ in process \d+", out.stdout)) == 36
    study = trialstore.load_study(
        study_name="journal_storage_multiprocess",
        storage=trialstore.storage.get_storage(f"journal://{tmp_path / 'journal.log'}"),
    )
    trials = study.trials
    assert [t.number for t in trials] == list(range(36))
    assert all(t.state == trialstore.trial.TrialState.COMPLETE for t in trials)


def test_multi_node_rdb(tmp_path: Path, mysql_url: str) -> None:
    script = EXAMPLES / "multi_node_rdb.py"
    if not script.exists():
        pytest.skip("examples/multi_node_rdb.py not written yet (RDB backend)")
    _require("trialstore.storage.rdb", "rdb")
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), mysql_url],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err
        assert "Best value:" in out
    study = trialstore.load_study(study_name="distributed_test", storage=mysql_url)
    assert [t.number for t in study.trials] == list(range(200))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_grpc_proxy_server_and_client(tmp_path: Path) -> None:
    _require("trialstore.storage.grpc", "grpc")
    _require("trialstore.storage.journal", "journal")
    port = str(_free_port())
    backing = f"journal://{tmp_path / 'served.log'}"
    env = {"TRIALSTORE_EXAMPLE_STORAGE": backing, "TRIALSTORE_EXAMPLE_PORT": port}
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "grpc_proxy_server.py")],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, server.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", int(port)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        out = _run("grpc_client.py", tmp_path, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    study = trialstore.load_study(
        study_name="grpc_proxy_multinode", storage=trialstore.storage.get_storage(backing)
    )
    assert len(study.trials) == 50
    assert all(t.state == trialstore.trial.TrialState.COMPLETE for t in study.trials)
