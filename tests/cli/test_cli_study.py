"""The study sub-commands: studies, trials, best-trial, create-study, delete-study, demo.

tests/cli/test_cli_optuna_parity.py compares their output with Optuna's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import trialstore
from trialstore.cli import main

pytest.importorskip("trialstore.storage.journal", reason="backend journal not available")


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"journal://{tmp_path / 'cli.journal'}"


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    """The command's JSON output, parsed."""
    capsys.readouterr()
    assert main([*argv, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_create_list_show_delete(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-study", "--storage", url, "--study-name", "s1"]) == 0
    assert capsys.readouterr().out.strip() == "s1"
    assert main(["create-study", "--storage", url, "--study-name", "s1"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["create-study", "--storage", url, "--study-name", "s1", "--skip-if-exists"]) == 0
    created = _json(
        capsys, ["create-study", "--storage", url, "--directions", "minimize", "maximize"]
    )
    assert isinstance(created, list) and created[0]["name"].startswith("no-name-")

    study = trialstore.load_study(study_name="s1", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    best = study.best_trial

    assert main(["studies", "--storage", url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [c.strip() for c in table[1].split("|")[1:-1]] == [
        "name",
        "direction",
        "n_trials",
        "datetime_start",
    ]
    assert [c.strip() for c in table[3].split("|")[1:4]] == ["s1", "('MINIMIZE',)", "3"]
    studies = _json(capsys, ["studies", "--storage", url])
    assert [s["name"] for s in studies] == ["s1", created[0]["name"]]
    assert studies[1]["direction"] == ["MINIMIZE", "MAXIMIZE"]
    started = study.trials[0].datetime_start
    assert started is not None
    assert studies[0]["datetime_start"] == started.strftime("%Y-%m-%d %H:%M:%S")

    trials = _json(capsys, ["trials", "--storage", url, "--study-name", "s1"])
    assert [t["number"] for t in trials] == [0, 1, 2]
    assert all(t["state"] == "COMPLETE" for t in trials)
    assert main(["trials", "--storage", url, "--study-name", "s1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3 + 1 + 3  # borders, header, rows

    shown = _json(capsys, ["best-trial", "--storage", url, "--study-name", "s1"])
    assert isinstance(shown, dict)  # one trial: an object, as Optuna's CLI prints it
    assert shown["number"] == best.number and shown["value"] == best.value
    assert shown["params"] == best.params
    assert main(["best-trial", "--storage", url, "--study-name", created[0]["name"]]) == 1
    assert main(["best-trial", "--storage", url, "--study-name", "missing"]) == 1

    assert main(["delete-study", "--storage", url, "--study-name", "s1"]) == 0
    assert main(["delete-study", "--storage", url, "--study-name", "s1"]) == 1
    assert trialstore.get_all_study_names(url) == [created[0]["name"]]


def test_bad_storage_url_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studies", "--storage", "nosuch://x"]) == 2
    assert "--storage: storage URL scheme 'nosuch' is not supported" in capsys.readouterr().err


def test_demo_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("trialstore")
    out = subprocess.run(
        [str(script), "demo", "--n-trials", "20"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "20 trials" in out.stdout and "best    : trial" in out.stdout
    assert "ThreadPoolExecutor-" in out.stdout
    journal = tmp_path / "trialstore-demo" / "demo.journal"
    assert journal.exists()
    summaries = trialstore.get_all_study_summaries(f"journal://{journal}")
    assert summaries[0].n_trials == 20
    assert out.stderr == ""  # the summary alone: no log lines interleaved


def test_demo_suggests_commands_that_work_when_pasted(tmp_path: Path) -> None:
    """The venv is not active (its bin is not on PATH) and the script was started by a path
    relative to the working directory, as ``make demo`` starts it."""
    script = Path(sys.executable).with_name("trialstore")
    relative = os.path.relpath(script, tmp_path)
    env = {**os.environ, "TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [relative, "demo", "--n-trials", "8"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    suggested = done.stdout.split("Inspect it with:\n", 1)[1].splitlines()
    assert len(suggested) == 2
    for command in suggested:
        assert command.strip().startswith(relative)
        pasted = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert pasted.returncode == 0, pasted.stderr
        header = pasted.stdout.splitlines()[1]  # a table of studies, of trials
        assert header.startswith(("| name ", "| number "))
