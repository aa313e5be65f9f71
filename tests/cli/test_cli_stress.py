"""``trialstore stress`` (trialstore/cli/_stress.py): bad arguments are refused before anything
is started or created, with exit code 2 and one line naming the option, the value given and
what is allowed. (The runs themselves: tests/stress/test_stress_cli.py.)"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import get_args

import pytest

from trialstore.cli import main

#: argv after ``stress --storage stress-memory:// --no-progress``, and what the one error line
#: must say (the option, the value given, what is allowed).
BAD_ARGUMENTS = {
    # Used to run with the tier's 4 workers (`args.workers or tier[...]`).
    "workers 0": (["--workers", "0"], ["--workers must be >= 1, got 0"]),
    "workers negative": (["--workers", "-3"], ["--workers must be >= 1, got -3"]),
    # Used to run on the tier's single host.
    "hosts 0": (["--hosts", "0"], ["--hosts must be between 1 and 60", "got 0"]),
    "hosts 61": (["--hosts", "61"], ["--hosts must be between 1 and 60", "got 61"]),
    # Used to run for the tier's 12 s.
    "duration 0": (["--duration", "0"], ["--duration must be", "> 0", "got 0.0"]),
    "duration negative": (["--duration", "-5"], ["--duration must be", "> 0", "got -5.0"]),
    "duration nan": (["--duration", "nan"], ["--duration must be a finite", "got nan"]),
    "trials per study 0": (
        ["--trials-per-study", "0"],
        ["--trials-per-study must be >= 1, got 0"],
    ),
    "fault every 0": (["--fault-every", "0"], ["--fault-every must be", "> 0", "got 0.0"]),
    "fault every negative": (["--fault-every", "-1"], ["--fault-every must be", "got -1.0"]),
    "restart every 0": (["--restart-every", "0"], ["--restart-every must be", "got 0.0"]),
    "restart every negative": (
        ["--restart-every", "-2"],
        ["--restart-every must be", "> 0", "got -2.0"],
    ),
    "lock stop 0": (["--lock-stop-seconds", "0"], ["--lock-stop-seconds must be", "got 0.0"]),
    "partition negative": (
        ["--partition-seconds", "-1"],
        ["--partition-seconds must be", "got -1.0"],
    ),
    # Used to reach the storage's constructor after the run had started.
    "heartbeat negative": (
        ["--heartbeat-interval", "-1"],
        ["--heartbeat-interval must be", ">= 0 (0: heartbeats off)", "got -1.0"],
    ),
    "grace period 0": (["--grace-period", "0"], ["--grace-period must be", "> 0", "got 0.0"]),
    # Used to be dropped without a word.
    "grace period with heartbeats off": (
        ["--heartbeat-interval", "0", "--grace-period", "3"],
        ["--grace-period needs heartbeats on", "--grace-period 3.0", "--heartbeat-interval 0"],
    ),
    "serve grpc in front of stress-memory": (
        ["--serve-grpc"],
        ["--serve-grpc needs a storage URL", "stress-memory://"],
    ),
    "unknown fault": (
        ["--faults", "kill,meteor"],
        ["unknown fault 'meteor' in --faults", "known: kill, server-restart, partition"],
    ),
    "faults in thread mode": (
        ["--faults", "kill", "--mode", "thread"],
        ["--faults kill needs --mode process", "got --mode thread"],
    ),
    # Used to end in a nested RemoteError traceback from the served store, exit code 1.
    "unknown stress-memory flaw": (
        ["--storage", "stress-memory://nonsense"],
        [
            "unknown stress-memory flaw 'nonsense' in --storage",
            "known: id-reuse, lost-write, no-lock, non-atomic-claim",
        ],
    ),
    # Used to create the report directory, then fail in get_storage with exit code 1.
    "unknown scheme": (
        ["--storage", "nonsense://x"],
        ["unknown storage scheme 'nonsense' in --storage", "known: stress-memory://", "sqlite://"],
    ),
    "no scheme": (["--storage", "nonsense"], ["--storage must be a storage URL", "'nonsense'"]),
}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty temporary directory and working directory; starting a process fails."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(temp)
    monkeypatch.delenv("TRIALSTORE_DEBUG", raising=False)

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    return temp


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_argument_exits_2_with_one_line_before_anything_is_created(
    case: str, sandbox: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, expected = BAD_ARGUMENTS[case]
    report = tmp_path / "report"
    argv = ["stress", "--storage", "stress-memory://", "--no-progress", "--duration", "2", *extra]
    for with_report in (False, True):  # the default report directory, then --report DIR
        code = main(argv + (["--report", str(report)] if with_report else []))
        out, err = capsys.readouterr()
        assert code == 2, err
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("trialstore stress: error: "), err
        assert "Traceback" not in err and out == ""
        for text in expected:
            assert text in lines[0]
        assert not report.exists()
        assert list(sandbox.iterdir()) == []


def test_unknown_flaw_from_the_shell(tmp_path: Path) -> None:
    """The documented exit code 2 for bad arguments, from a real process: the unknown flaw used
    to reach the served store and come back as a RemoteError with its traceback folded into the
    line, exit code 1."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("TRIALSTORE_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "trialstore.cli", "stress", "--storage",
         "stress-memory://nonsense", "--duration", "5", "--workers", "2", "--no-progress"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "trialstore stress: error: unknown stress-memory flaw 'nonsense' in --storage; known: "
        "id-reuse, lost-write, no-lock, non-atomic-claim, stale-cache (stress-memory:// alone: "
        "a correct in-memory store)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_the_choices_of_the_modes_are_the_harness_s() -> None:
    """The command line lists the modes' values itself (it imports the harness only to run
    it); they must be the values that StressConfig's Literal types allow."""
    from trialstore.cli import build_parser
    from trialstore.stress import MODES, RESTART_MODES, TIERS, RestartMode, Tier, WorkerMode

    commands = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    stress = commands.choices["stress"]
    choices = {a.dest: list(a.choices) for a in stress._actions if a.choices is not None}
    assert tuple(choices["mode"]) == MODES == get_args(WorkerMode)
    assert tuple(choices["restart_mode"]) == RESTART_MODES == get_args(RestartMode)
    assert tuple(choices["tier"]) == tuple(TIERS) == get_args(Tier)
