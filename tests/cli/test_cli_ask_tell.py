"""``ask``, ``tell`` and ``study set-user-attr``: a shell script drives a study with them; bad
arguments are refused before the storage is opened. tests/cli/test_cli_optuna_parity.py
compares them with Optuna's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _cli_helpers import error_line, run, tree

import trialstore
from trialstore.trial import TrialState

pytest.importorskip("trialstore.storage.journal", reason="backend journal not available")

X = {
    "name": "FloatDistribution",
    "attributes": {"low": 0.0, "high": 1.0, "step": None, "log": False},
}
SPACE = json.dumps({"x": X})


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"journal://{tmp_path / 'drive.log'}"
    trialstore.create_study(study_name="s", storage=url)
    return url


def test_a_shell_script_drives_a_study(tmp_path: Path, url: str) -> None:
    script = Path(sys.executable).with_name("trialstore")
    shell = f"""
set -e
for i in 1 2 3; do
  read -r number x <<EOF
$({script} ask --study-name s --search-space '{SPACE}' -f value --flatten -q)
EOF
  {script} tell --study-name s --trial-number "$number" --values "$x" -q
done
{script} best-trial --study-name s -f json
"""
    done = subprocess.run(
        ["bash", "-c", shell],
        env={**os.environ, "TRIALSTORE_STORAGE": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # -q: no log lines
    trials = trialstore.load_study(study_name="s", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert all(t.value == t.params["x"] for t in trials)
    best = min(trials, key=lambda t: t.value or 0.0)
    assert json.loads(done.stdout)["number"] == best.number


def test_ask_claims_an_enqueued_trial_and_logs_it(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trialstore.load_study(study_name="s", storage=url).enqueue_trial({"x": 0.25})
    code, out, err = run(
        capsys, ["ask", "--storage", url, "--study-name", "s", "--search-space", SPACE]
    )
    assert code == 0
    assert json.loads(out) == {"number": 0, "params": {"x": 0.25}}
    assert "Trial 0 asked, with parameters {'x': 0.25}." in err


def test_ask_passes_sampler_kwargs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asked = []
    for name in ("a", "b"):
        url = f"journal://{tmp_path / name}.log"
        trialstore.create_study(study_name="s", storage=url)
        argv = ["ask", "--storage", url, "--study-name", "s", "--search-space", SPACE]
        argv += ["--sampler", "RandomSampler", "--sampler-kwargs", '{"seed": 7}']
        code, out, _ = run(capsys, argv)
        assert code == 0
        asked.append(json.loads(out)["params"]["x"])
    assert asked[0] == asked[1]  # the seed reached the sampler


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--search-space", "{"], "--search-space: not JSON"),
        (["--search-space", "[1]"], "--search-space: expected a JSON object"),
        (["--search-space", '{"x": 1}'], "--search-space: parameter 'x': distribution:"),
        (
            [
                "--search-space",
                '{"x": {"name": "FloatDistribution", "attributes": {"low": 2, "high": 1}}}',
            ],
            "--search-space: parameter 'x'",
        ),
        (["--sampler-kwargs", "{}"], "--sampler-kwargs needs --sampler"),
        (["--sampler", "RandomSampler", "--sampler-kwargs", "[]"], "expected a JSON object"),
        (
            ["--sampler", "TPESampler", "--sampler-kwargs", '{"sed": 1}'],
            "--sampler-kwargs: TPESampler does not accept",
        ),
    ],
)
def test_bad_ask_arguments_are_refused_before_the_storage_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """The storage does not exist: the error is about the argument, and nothing is created."""
    argv = ["ask", "--storage", f"journal://{tmp_path / 'none.log'}", "--study-name", "s"]
    line = error_line(capsys, [*argv, *extra], code=2)
    assert message in line
    assert tree(tmp_path) == {}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--state", "complete"], "--state complete needs --values"),
        (["--state", "pruned", "--values", "1"], "--state pruned takes no --values"),
        (["--state", "fail", "--values", "1"], "--state fail takes no --values"),
    ],
)
def test_bad_tell_arguments_are_refused_before_the_storage_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["tell", "--storage", f"journal://{tmp_path / 'none.log'}", "--study-name", "s"]
    line = error_line(capsys, [*argv, "--trial-number", "0", *extra], code=2)
    assert message in line
    assert tree(tmp_path) == {}


def test_tell_logs_the_final_state(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    study = trialstore.load_study(study_name="s", storage=url)
    study.ask()
    study.ask()
    tell = ["tell", "--storage", url, "--study-name", "s", "--trial-number"]
    code, out, err = run(capsys, [*tell, "0", "--values", "1", "2"])
    assert (code, out) == (0, "")
    assert "[W " in err and "Trial 0: The number of the values 2 did not match" in err
    assert "Trial 0 is FAIL with values None." in err
    code, out, err = run(capsys, [*tell, "1", "--values", "0.5", "-q"])
    assert (code, out, err) == (0, "", "")
    assert study.trials[1].state == TrialState.COMPLETE and study.trials[1].value == 0.5
    line = error_line(capsys, [*tell, "1", "--values", "0.5"])
    assert line.endswith("Cannot tell a COMPLETE trial.")
    line = error_line(capsys, [*tell, "7", "--values", "0.5"])
    assert "trial with number 7 since it has not been created" in line


def test_set_user_attr_stores_a_string(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["study", "set-user-attr", "--storage", url, "--study-name", "s"]
    code, out, err = run(capsys, [*argv, "-k", "n", "--value", "2"])
    assert (code, out) == (0, "")
    assert "Set the user attribute 'n' of study 's'." in err
    assert trialstore.load_study(study_name="s", storage=url).user_attrs == {"n": "2"}
    line = error_line(
        capsys,
        [
            "study",
            "set-user-attr",
            "--storage",
            url,
            "--study-name",
            "nope",
            "-k",
            "k",
            "--value",
            "v",
        ],
        command="study set-user-attr",
    )
    assert "nope" in line
