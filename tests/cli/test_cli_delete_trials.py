"""``trialstore trials delete``: selection, dry run, confirmation, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from _cli_helpers import error_line, run, tree

import trialstore
from trialstore.trial import TrialState


@pytest.fixture(params=["journal", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A journal or a SQLite database with study ``s``: trials 0, 2, 4 FAIL, 1, 3, 5
    COMPLETE."""
    if request.param == "journal":
        path = tmp_path / "journal.log"
        path.touch()
        storage_url = f"journal:///{path}"
    else:
        storage_url = f"sqlite:///{tmp_path / 'study.db'}"
    study = trialstore.create_study(storage=storage_url, study_name="s")

    def objective(trial: trialstore.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 2 == 0:
            raise ZeroDivisionError("fails on purpose")
        return x

    study.optimize(objective, n_trials=6, catch=(ZeroDivisionError,))
    return storage_url


def _numbers(url: str) -> list[int]:
    return [t.number for t in trialstore.load_study(study_name="s", storage=url).trials]


def test_delete_by_state_with_yes(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, ["trials", "delete", "--storage", url, "--study", "s", "--state", "fail", "-y"]
    )
    assert code == 0
    rows = [line for line in out.splitlines() if "FAIL" in line]
    assert [int(row.split("|")[1]) for row in rows] == [0, 2, 4]
    assert "Deleted 3 trials of study 's'." in err
    assert _numbers(url) == [1, 3, 5]


def test_delete_by_number_as_json(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["trials", "delete", "--storage", url, "--study-name", "s", "--number", "1", "4"]
    code, out, _ = run(capsys, [*argv, "--yes", "-f", "json"])
    assert code == 0
    assert [(r["number"], r["state"]) for r in json.loads(out)] == [(1, "COMPLETE"), (4, "FAIL")]
    assert _numbers(url) == [0, 2, 3, 5]


def test_dry_run_deletes_nothing(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(tmp_path)
    argv = ["trials", "delete", "--storage", url, "--study", "s", "--state", "FAIL", "COMPLETE"]
    code, out, err = run(capsys, [*argv, "--dry-run", "-f", "json"])
    assert code == 0
    assert [r["number"] for r in json.loads(out)] == [0, 1, 2, 3, 4, 5]
    assert "Dry run: would delete 6 trials" in err
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("answer", "deleted"), [("y\n", True), ("YES\n", True), ("\n", False)])
def test_confirmation(
    url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    deleted: bool,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    code, _, err = run(
        capsys, ["trials", "delete", "--storage", url, "--study", "s", "--number", "0"]
    )
    assert "Delete 1 trial of study 's'? This cannot be undone. [y/N]" in err
    if deleted:
        assert code == 0 and _numbers(url) == [1, 2, 3, 4, 5]
    else:
        assert code == 1 and "not confirmed; nothing deleted" in err
        assert _numbers(url) == list(range(6))


def test_no_answer_is_a_usage_error(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(
        capsys, ["trials", "delete", "--storage", url, "--study", "s", "--number", "0"]
    )
    assert code == 2
    assert err.splitlines()[-1].endswith("use --yes to delete without one); nothing deleted.")
    assert _numbers(url) == list(range(6))


def test_nothing_matches(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["trials", "delete", "--storage", url, "--study", "s", "--state", "WAITING"]
    code, out, err = run(capsys, argv)
    assert (code, out) == (0, "")
    assert "nothing to delete" in err


def test_errors_are_one_line(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["trials", "delete", "--storage", url, "--yes"]
    line = error_line(capsys, [*base, "--study", "nope", "--number", "0"], command="trials delete")
    assert "nope" in line
    line = error_line(
        capsys, [*base, "--study", "s", "--number", "0", "9"], command="trials delete"
    )
    assert "9" in line
    assert _numbers(url) == list(range(6)), "all or nothing"
    assert run(capsys, [*base, "--study", "s", "--number", "0"])[0] == 0
    line = error_line(capsys, [*base, "--study", "s", "--number", "0"], command="trials delete")
    assert "was deleted" in line


def test_a_database_optuna_made_needs_the_upgrade_command_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The commands open storages without changing their schema: a database Optuna made has
    no table of deleted trials until ``trialstore storage upgrade`` adds it."""
    optuna = pytest.importorskip("optuna")
    sqlite = f"sqlite:///{tmp_path / 'optuna.db'}"
    theirs = optuna.storages.RDBStorage(sqlite)
    optuna.create_study(storage=theirs, study_name="r").ask()
    theirs.engine.dispose()
    argv = ["trials", "delete", "--storage", sqlite, "--study", "r", "--number", "0", "-y"]
    code, _, err = run(capsys, argv)  # the trials are listed, then the deletion refused
    assert code == 1
    assert err.startswith("trialstore trials delete: error: cannot delete trials")
    assert "trialstore storage upgrade" in err and len(err.splitlines()) == 1
    assert run(capsys, ["storage", "upgrade", "--storage", sqlite])[0] == 0
    assert run(capsys, argv)[0] == 0
    assert trialstore.load_study(study_name="r", storage=sqlite).trials == []


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--number", "0", "--state", "FAIL"],
        ["--number", "x"],
        ["--state", "DONE"],
    ],
)
def test_bad_arguments_exit_2(
    url: str, capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(capsys, ["trials", "delete", "--storage", url, "--study", "s", *extra])
    assert exited.value.code == 2
    assert _numbers(url) == list(range(6))


def test_listing_trials_still_works(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ["trials", "--storage", url, "--study-name", "s", "-f", "json"])
    assert code == 0 and len(json.loads(out)) == 6
    error_line(capsys, ["trials", "--storage", url], code=2)
    study = trialstore.load_study(study_name="s", storage=url)
    assert study.delete_trials(states=TrialState.FAIL) == [0, 2, 4]
    code, out, _ = run(capsys, ["trials", "--storage", url, "--study-name", "s", "-f", "json"])
    assert [r["number"] for r in json.loads(out)] == [1, 3, 5]
