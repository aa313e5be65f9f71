"""optuna-dashboard opens what trialstore wrote: a SQLite database and a journal file.

The dashboard runs as a subprocess on a free 127.0.0.1 port; the test reads its HTTP API
(``/api/studies`` and ``/api/studies/<id>``, the routes its web page uses).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("optuna_dashboard")

from trialstore.distributions import CategoricalDistribution, FloatDistribution
from trialstore.storage import BaseStorage, get_storage
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def dashboard() -> Iterator[Any]:
    """``start(storage_argument)`` runs optuna-dashboard and returns its port."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(storage_argument: str) -> int:
        port = _free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "optuna_dashboard._cli",
                storage_argument,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--server",
                "wsgiref",
                "--quiet",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        processes.append(process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"optuna-dashboard exited with {process.returncode}:\n{output}")
            try:
                _get(port, "/api/meta")
                return port
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        pytest.fail("optuna-dashboard did not answer within 60 s")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _open(url: str, backend: str) -> BaseStorage:
    try:
        return get_storage(url)
    except ValueError as e:
        if "is not supported" in str(e):
            pytest.skip(f"backend {backend!r} not in this checkout: optuna-dashboard test waits")
        raise


def _fill(storage: BaseStorage) -> None:
    single = storage.create_new_study([StudyDirection.MINIMIZE], "single")
    storage.set_study_user_attr(single, "owner", "ts")
    for k in range(4):
        trial_id = storage.create_new_trial(single)
        storage.set_trial_param(trial_id, "x", k / 4, FloatDistribution(0, 1))
        storage.set_trial_param(trial_id, "c", k % 2, CategoricalDistribution(["a", "b"]))
        storage.set_trial_intermediate_value(trial_id, 0, k * 2.0)
        if k == 3:
            storage.set_trial_state_values(trial_id, TrialState.PRUNED)
        else:
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(k - 1) ** 2])
    multi = storage.create_new_study([StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE], "multi")
    trial_id = storage.create_new_trial(multi)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0, 2.0])
    storage.create_new_trial(multi)  # left RUNNING
    storage.close()


def _check(port: int) -> None:
    summaries = _get(port, "/api/studies")["study_summaries"]
    by_name = {s["study_name"]: s for s in summaries}
    assert sorted(by_name) == ["multi", "single"]
    assert by_name["single"]["directions"] == ["minimize"]
    assert by_name["multi"]["directions"] == ["maximize", "minimize"]

    detail = _get(port, f"/api/studies/{by_name['single']['study_id']}")
    trials = detail["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert [t["state"] for t in trials] == ["Complete"] * 3 + ["Pruned"]
    assert [t["values"] for t in trials[:3]] == [[1.0], [0.0], [1.0]]
    assert [p["param_external_value"] for p in trials[2]["params"]] == ["0.5", "a"]
    assert [t["number"] for t in detail["best_trials"]] == [1]
    assert detail["has_intermediate_values"] is True

    multi = _get(port, f"/api/studies/{by_name['multi']['study_id']}")
    assert [t["state"] for t in multi["trials"]] == ["Complete", "Running"]


def test_dashboard_lists_a_trialstore_sqlite_database(tmp_path: Path, dashboard: Any) -> None:
    path = tmp_path / "ts.sqlite3"
    _fill(_open(f"sqlite:///{path}", "sqlite"))
    _check(dashboard(f"sqlite:///{path}"))


def test_dashboard_lists_a_trialstore_journal_file(tmp_path: Path, dashboard: Any) -> None:
    path = tmp_path / "ts.log"
    _fill(_open(f"journal://{path}", "journal_file"))
    _check(dashboard(str(path)))
