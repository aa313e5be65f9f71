"""``trialstore grpc-proxy`` (trialstore/cli/_grpc.py): bad flags exit 2 with one error line
before the storage is opened or anything listens; storage errors exit 1 with one line and the
password masked.

Serving until SIGTERM is tested in tests/storage/grpc/test_grpc.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grpc")

import trialstore.storage.grpc as grpc_package
from trialstore.cli import main
from trialstore.storage.grpc import _server as server_module


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the server: record the calls of run_grpc_proxy_server and make any server
    start fail (so that a test of a bad flag fails instead of serving forever)."""
    calls: list[dict[str, Any]] = []

    def run(storage: Any, **options: Any) -> None:
        calls.append(options)

    def start(self: Any) -> None:
        raise AssertionError(f"a server was started: {self!r}")

    monkeypatch.setattr(grpc_package, "run_grpc_proxy_server", run)
    monkeypatch.setattr(server_module.GrpcProxyServer, "start", start)
    return calls


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("trialstore grpc-proxy: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "--port must be an integer from 0 to 65535 (0: any free port)"),
        (["--port", "-5"], "--port must be an integer from 0 to 65535"),
        (["--port", "65536"], "--port must be an integer from 0 to 65535"),
        (["--max-workers", "0"], "--max-workers must be an integer >= 1, got 0"),
        (["--max-workers", "-2"], "--max-workers must be an integer >= 1, got -2"),
        (["--grace", "-1"], "--grace must be a finite number of seconds >= 0"),
        (["--grace", "nan"], "--grace must be a finite number of seconds >= 0"),
        (["--host", ""], "--host must be a host name or an IP address"),
    ],
)
def test_a_bad_flag_exits_2_before_the_storage_is_opened(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    served: list[dict[str, Any]],
    flags: list[str],
    message: str,
) -> None:
    database = tmp_path / "served.db"
    code = main(["grpc-proxy", "--storage", f"sqlite:///{database}", *flags])
    line = _one_error_line(capsys)
    assert code == 2
    assert message in line
    assert not database.exists()  # the storage was never opened (SQLite creates the file)
    assert served == []


def test_port_0_and_grace_0_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]
) -> None:
    storage = f"journal://{tmp_path / 'j.log'}"
    argv = ["grpc-proxy", "--storage", storage, "--port", "0", "--grace", "0"]
    assert main(argv) == 0, capsys.readouterr().err
    assert served[0]["port"] == 0 and served[0]["grace"] == 0.0


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ("sqlite://x.db", "use sqlite:///relative.db or sqlite:////absolute.db"),
        ("postgresql://postgres@127.0.0.1:1", "no database name"),
        ("mysql://root@127.0.0.1:1/", "no database name"),
        ("journal+redis://127.0.0.1:1/notanint", "database 'notanint' is not a non-negative"),
        ("journal+redis://127.0.0.1:70000/0", "port '70000' is not an integer from 1 to 65535"),
    ],
)
def test_a_bad_storage_url_is_one_line_and_nothing_is_served(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    served: list[dict[str, Any]],
    storage: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["grpc-proxy", "--storage", storage])
    line = _one_error_line(capsys)
    assert code == 2  # a bad value of --storage
    assert "--storage: " in line and message in line
    assert served == []
    assert list(tmp_path.iterdir()) == []  # no SQLite file made from "x.db"


def test_the_storage_password_is_masked(
    capsys: pytest.CaptureFixture[str], served: list[dict[str, Any]]
) -> None:
    code = main(["grpc-proxy", "--storage", "postgresql://u:s3cret-pw@127.0.0.1:1/db"])
    line = _one_error_line(capsys)
    assert code == 1
    assert "s3cret-pw" not in line
    assert "u:***@127.0.0.1:1" in line and "is running and reachable" in line
    assert served == []
