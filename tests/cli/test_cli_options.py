"""The options every command shares: ``TRIALSTORE_STORAGE`` as the default ``--storage``,
``-v``/``-q``/``--log-file``. tests/cli/test_cli_optuna_parity.py compares them with Optuna's
``OPTUNA_STORAGE`` and logging options."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from _cli_helpers import error_line, run, tree

import trialstore
from trialstore.cli import main

pytest.importorskip("trialstore.storage.journal", reason="backend journal not available")

#: Every command that takes --storage from the environment, with what it needs besides it.
TAKES_STORAGE = {
    "studies": [],
    "study-names": [],
    "trials": ["--study-name", "s"],
    "best-trial": ["--study-name", "s"],
    "best-trials": ["--study-name", "s"],
    "create-study": [],
    "delete-study": ["--study-name", "s"],
    "ask": ["--study-name", "s"],
    "tell": ["--study-name", "s", "--trial-number", "0", "--values", "1"],
    "study set-user-attr": ["--study-name", "s", "--key", "k", "--value", "v"],
    "journal compact": [],
    "storage upgrade": [],
    "grpc-proxy": ["--port", "0"],
}


@pytest.mark.parametrize("command", TAKES_STORAGE)
def test_no_storage_anywhere_is_a_usage_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRIALSTORE_STORAGE", raising=False)
    argv = [*command.split(), *TAKES_STORAGE[command]]
    line = error_line(capsys, argv, code=2, command=command)
    assert line.endswith(
        "no storage given: use --storage URL or set the TRIALSTORE_STORAGE environment variable."
    )
    monkeypatch.setenv("TRIALSTORE_STORAGE", "")  # empty: as if unset
    error_line(capsys, argv, code=2, command=command)
    assert tree(tmp_path) == {}


@pytest.mark.parametrize("command", ["studies", "study-names", "journal compact", "ask"])
def test_the_environment_gives_the_storage(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    url = f"journal://{tmp_path / 'env.log'}"
    trialstore.create_study(study_name="s", storage=url)
    monkeypatch.setenv("TRIALSTORE_STORAGE", url)
    code, out, err = run(capsys, [*command.split(), *TAKES_STORAGE.get(command, [])])
    assert code == 0, err
    assert out


def test_storage_option_wins_over_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"journal://{tmp_path / 'given.log'}"
    monkeypatch.setenv("TRIALSTORE_STORAGE", f"journal://{tmp_path / 'env.log'}")
    code, out, _ = run(capsys, ["create-study", "--study-name", "s", "--storage", url])
    assert (code, out) == (0, "s\n")
    assert not any(name.startswith("env.log") for name in tree(tmp_path))
    assert trialstore.get_all_study_names(url) == ["s"]
    assert run(capsys, ["create-study", "--study-name", "e"])[0] == 0
    assert trialstore.get_all_study_names(f"journal://{tmp_path / 'env.log'}") == ["e"]


def test_stress_needs_an_explicit_storage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """stress writes studies of its own: it never takes the storage from the environment."""
    monkeypatch.setenv("TRIALSTORE_STORAGE", f"journal://{tmp_path / 'env.log'}")
    with pytest.raises(SystemExit) as exit_:
        main(["stress", "--workers", "1"])
    assert exit_.value.code == 2
    assert "the following arguments are required: --storage" in capsys.readouterr().err
    assert tree(tmp_path) == {}


def test_verbose_and_quiet_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"journal://{tmp_path / 'x.log'}"
    argv = ["-v", "create-study", "--storage", url, "-q"]
    line = error_line(capsys, argv, code=2, command="create-study")
    assert line.endswith("-v/--verbose and -q/--quiet exclude each other.")
    with pytest.raises(SystemExit):  # on one level, argparse says so
        main(["-v", "-q", "create-study", "--storage", url])
    assert tree(tmp_path) == {}


def test_unwritable_log_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"journal://{tmp_path / 'x.log'}"
    log = tmp_path / "missing" / "cli.log"
    argv = ["--log-file", str(log), "create-study", "--storage", url]
    line = error_line(capsys, argv, command="create-study")
    assert line.endswith(f"--log-file {log}: No such file or directory")


def test_logging_is_restored_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() runs again in the same process with the library's logging as it found it."""
    library = logging.getLogger("trialstore")
    handlers = list(library.handlers)
    trialstore.logging.set_verbosity(trialstore.logging.ERROR)
    try:
        url = f"journal://{tmp_path / 'x.log'}"
        log = tmp_path / "cli.log"
        code, _, err = run(
            capsys, ["-v", "--log-file", str(log), "create-study", "--storage", url]
        )
        assert (
            code == 0 and "A new study created" in err and "A new study created" in log.read_text()
        )
        assert trialstore.logging.get_verbosity() == trialstore.logging.ERROR
        assert library.handlers == handlers
        code, _, err = run(
            capsys, ["--log-file", str(log), "delete-study", "--storage", url, "--study-name", "x"]
        )
        assert code == 1 and library.handlers == handlers
    finally:
        trialstore.logging.set_verbosity(trialstore.logging.INFO)
