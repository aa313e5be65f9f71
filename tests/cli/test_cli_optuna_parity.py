"""trialstore's command line against Optuna 5.0's on the same storage (a SQLite file, a journal
file): the same records in every format, with and without ``--flatten``.

The differences that stay (also in the README's "Command line" section), each asserted here:

* JSON is indented (Optuna's is one line): compared parsed.
* YAML quotes a few more scalars (``'y'``, ``'n'``, which YAML 1.1 reads as booleans):
  compared parsed.
* A study without trials: ``trials`` (and ``best-trials``) ``-f table`` prints the header of
  the trial columns, where Optuna prints a table without columns.
* No record at all: ``-f value`` prints nothing, where Optuna prints an empty line.
* A failing command prints one error line (exit 1), where Optuna prints a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import run
from _optuna_cli import optuna_cli

import trialstore
from trialstore.trial import TrialState

pytest.importorskip("optuna", reason="optuna (the test extra) is not installed")
yaml = pytest.importorskip("yaml", reason="PyYAML (an optuna dependency) is not installed")
pytest.importorskip("trialstore.storage.journal", reason="backend journal not available")

FORMATS = ["json", "yaml", "table", "value"]
FLOAT = {
    "name": "FloatDistribution",
    "attributes": {"low": 0.0, "high": 1.0, "step": None, "log": False},
}
INT = {"name": "IntDistribution", "attributes": {"low": 1, "high": 9, "step": 1, "log": False}}
SPACE = json.dumps({"x": FLOAT, "n": INT})  # not in name order: ask keeps this order


@pytest.fixture(params=["sqlite", "journal"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, list[str]]:
    """Our URL of a new storage and Optuna's ``--storage`` arguments for the same one."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'both.db'}"
        return url, ["--storage", url]
    path = tmp_path / "both.log"
    return f"journal://{path}", ["--storage", str(path), "--storage-class", "JournalFileBackend"]


def _fill(url: str) -> None:
    """Studies that exercise every column: states, missing and nested params and attributes,
    several objectives, no trials, only a WAITING trial."""
    single = trialstore.create_study(study_name="single", storage=url)
    single.set_user_attr("owner", "me")
    single.set_user_attr("tags", ["a", "b"])
    t = single.ask()
    t.suggest_float("z", -1.0, 1.0)
    t.suggest_categorical("a", [None, True, "s", 1.5])
    t.set_user_attr("note", "é, 'quoted' #1")
    single.tell(t, 0.25)
    t = single.ask()
    t.suggest_int("n", 1, 1024, log=True)
    t.report(0.5, 3)
    single.tell(t, state=TrialState.PRUNED)
    t = single.ask()
    t.suggest_float("z", -1.0, 1.0)
    t.suggest_categorical("y", ["n", "yes"])
    t.set_user_attr("nested", {"k": [1, None], "b": True})
    single.tell(t, -1e-07)
    single.tell(single.ask(), state=TrialState.FAIL)
    single.ask().suggest_categorical("a", [None, True, "s", 1.5])  # stays RUNNING
    single.enqueue_trial({"z": 0.5})  # WAITING

    multi = trialstore.create_study(
        study_name="multi", storage=url, directions=["minimize", "maximize"]
    )
    for values in ([1.0, 2.0], [0.5, 1.0], [2.0, 3.0], [float("inf"), 9.0]):
        t = multi.ask()
        t.suggest_float("x", 0.0, 1.0)
        multi.tell(t, values)
    with pytest.warns(UserWarning, match="did not match"):
        multi.tell(multi.ask(), [1.0])  # one value for two objectives: FAIL

    trialstore.create_study(study_name="empty", storage=url)
    trialstore.create_study(study_name="waiting", storage=url).enqueue_trial({"x": 1})


def _assert_same(fmt: str, theirs: str, ours: str) -> None:
    if fmt == "json":
        assert json.loads(ours) == json.loads(theirs)
    elif fmt == "yaml":
        assert yaml.safe_load(ours) == yaml.safe_load(theirs)
    elif theirs == "\n":  # no record: Optuna prints an empty line, we print nothing
        assert fmt == "value" and ours == ""
    elif theirs == "+\n|\n+\n+\n":  # no trial: Optuna's table has no columns, ours a header
        assert fmt == "table"
        assert ours.splitlines()[1].split("|")[1].strip() == "number"
        assert len(ours.splitlines()) == 4
    else:
        assert ours == theirs


def _listings() -> list[list[str]]:
    """Every listing in every format, with and without --flatten; best-trial where it fails
    (several objectives, no COMPLETE trial) once."""
    commands = []
    for fmt in FORMATS:
        commands.append(["study-names", "-f", fmt])
        for flatten in ([], ["--flatten"]):
            commands.append(["studies", "-f", fmt, *flatten])
            for study in ("single", "multi", "empty", "waiting"):
                for command in ("trials", "best-trial", "best-trials"):
                    if command != "best-trial" or study == "single":
                        commands.append([command, "--study-name", study, "-f", fmt, *flatten])
    commands += [["best-trial", "--study-name", s, "-f", "json"] for s in ("multi", "empty")]
    return commands


def test_listings_match_optuna(
    storage: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, optuna_storage = storage
    _fill(url)
    commands = _listings()
    theirs = optuna_cli([[*c, *optuna_storage] for c in commands])
    compared = 0
    for command, their in zip(commands, theirs, strict=True):
        code, out, err = run(capsys, [*command, "--storage", url])
        fmt = command[command.index("-f") + 1]
        if not their.ok:  # best-trial of a multi-objective study or without COMPLETE trials
            assert command[0] == "best-trial", (command, their)
            assert code == 1 and out == "" and len(err.splitlines()) == 1, (command, err)
            continue
        assert code == 0, (command, err)
        _assert_same(fmt, their.out, out)
        compared += 1
    assert compared == len(commands) - 2


def test_default_formats_match_optuna(
    storage: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without ``-f``: tables, study names one per line, ask's JSON."""
    url, optuna_storage = storage
    _fill(url)
    commands = [["studies"], ["study-names"], ["trials", "--study-name", "single"]]
    commands += [
        ["best-trial", "--study-name", "single"],
        ["best-trials", "--study-name", "multi"],
    ]
    theirs = optuna_cli([[*c, *optuna_storage] for c in commands])
    for command, their in zip(commands, theirs, strict=True):
        code, out, _ = run(capsys, [*command, "--storage", url])
        assert code == 0 and their.ok
        assert out == their.out, command
    asked = optuna_cli(
        [["ask", "--study-name", "empty", "--search-space", SPACE, *optuna_storage]]
    )
    code, out, _ = run(
        capsys, ["ask", "--study-name", "empty", "--search-space", SPACE, "--storage", url]
    )
    assert code == 0 and asked[0].ok
    assert json.loads(asked[0].out)["number"] == 0 and json.loads(out)["number"] == 1
    assert (
        list(json.loads(asked[0].out)["params"]) == list(json.loads(out)["params"]) == ["x", "n"]
    )


def _shape(fmt: str, text: str) -> Any:
    """What an ask output must share with Optuna's: its structure, not the sampled values."""
    if fmt in ("json", "yaml"):
        loaded = json.loads(text) if fmt == "json" else yaml.safe_load(text)
        return {
            k: (list(v) if isinstance(v, dict) else type(v).__name__) for k, v in loaded.items()
        }
    if fmt == "table":
        lines = text.splitlines()
        return [cell.strip() for cell in lines[1].split("|")], len(lines)
    return len(text.split(" ")), text.count("\n")


def test_ask_tell_and_set_user_attr_match_optuna(
    storage: tuple[str, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Optuna asks trials 0-7 and trialstore 8-15 in the same formats; each tells the other's
    trials; both then list the same trials and study attributes."""
    url, optuna_storage = storage
    trialstore.create_study(study_name="drive", storage=url, directions=["minimize", "maximize"])
    asks = [["-f", fmt, *flatten] for fmt in FORMATS for flatten in ([], ["--flatten"])]
    ask = ["ask", "--study-name", "drive", "--search-space", SPACE]
    set_attr = "study set-user-attr --study-name drive -k by --value optuna".split()
    theirs = optuna_cli(
        [*([*ask, *a, *optuna_storage] for a in asks), [*set_attr, *optuna_storage]]
    )
    assert all(r.ok for r in theirs), theirs
    for number, (a, their) in enumerate(zip(asks, theirs, strict=False)):
        code, out, _ = run(capsys, [*ask, *a, "--storage", url])
        assert code == 0
        assert _shape(a[1], out) == _shape(a[1], their.out), a
        if a[1] == "json":
            assert json.loads(their.out)["number"] == number
            assert json.loads(out)["number"] == number + 8
    set_attr = "study set-user-attr --study-name drive --key n --value 2".split()
    code, out, _ = run(capsys, [*set_attr, "--storage", url])
    assert (code, out) == (0, "")

    # Trial k of one side is told as trial k + 8 of the other: values, pruned, fail, a wrong
    # number of values (FAIL), no values and no state (FAIL).
    tells = [
        ["--values", "1", "2"],
        ["--state", "pruned"],
        ["--state", "fail"],
        ["--values", "3"],
        [],
    ]
    tell = ["tell", "--study-name", "drive", "--trial-number"]
    theirs = optuna_cli(
        [[*tell, str(k + 8), *args, *optuna_storage] for k, args in enumerate(tells)]
        + [[*tell, "8", "--values", "5", "6", *optuna_storage]]  # finished: fails
        + [[*tell, "8", "--values", "5", "6", "--skip-if-finished", *optuna_storage]]
    )
    assert [r.ok for r in theirs] == [True] * 5 + [False, True]
    assert all(r.out == "" for r in theirs)
    for k, args in enumerate(tells):
        code, out, _ = run(capsys, [*tell, str(k), *args, "--storage", url])
        assert (code, out) == (0, "")
    code, out, err = run(capsys, [*tell, "0", "--values", "5", "6", "--storage", url])
    assert code == 1 and "Cannot tell a COMPLETE trial" in err
    code, out, _ = run(
        capsys, [*tell, "0", "--values", "5", "6", "--skip-if-finished", "--storage", url]
    )
    assert (code, out) == (0, "")

    listings = [["trials", "--study-name", "drive", "-f", "json"], ["studies", "-f", "json"]]
    theirs = optuna_cli([[*c, *optuna_storage] for c in listings])
    for command, their in zip(listings, theirs, strict=True):
        code, out, _ = run(capsys, [*command, "--storage", url])
        assert code == 0
        assert json.loads(out) == json.loads(their.out)
    trials = json.loads(theirs[0].out)
    states = [t["state"] for t in trials]
    assert states[:5] == states[8:13] == ["COMPLETE", "PRUNED", "FAIL", "FAIL", "FAIL"]
    assert trials[0]["values"] == trials[8]["values"] == [1.0, 2.0]
    assert states[5:8] == states[13:] == ["RUNNING"] * 3
    assert json.loads(theirs[1].out)[0]["user_attrs"] == {"by": "optuna", "n": "2"}


def test_storage_from_the_environment_matches_optuna(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``TRIALSTORE_STORAGE`` is to us what ``OPTUNA_STORAGE`` is to Optuna."""
    url = f"sqlite:///{tmp_path / 'env.db'}"
    _fill(url)
    theirs = optuna_cli(
        [["study-names"], ["trials", "--study-name", "multi"]], env={"OPTUNA_STORAGE": url}
    )
    monkeypatch.setenv("TRIALSTORE_STORAGE", url)
    assert run(capsys, ["study-names"])[1] == theirs[0].out == "single\nmulti\nempty\nwaiting\n"
    assert run(capsys, ["trials", "--study-name", "multi"])[1] == theirs[1].out
    unset = optuna_cli([["study-names"]])
    monkeypatch.delenv("TRIALSTORE_STORAGE")
    code, _, err = run(capsys, ["study-names"])
    assert not unset[0].ok and "Storage URL is not specified" in unset[0].err
    assert code == 2 and "--storage" in err and "TRIALSTORE_STORAGE" in err


def test_quiet_and_verbose_match_optuna(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """INFO lines by default, none with ``-q``, before or after the command; ``-v`` adds
    DEBUG lines. Optuna 5.0 writes nothing to ``--log-file`` (its logger does not propagate
    to the handler it adds); ours appends the lines stderr shows."""
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = tmp_path / "ours.log"
    argvs = [
        ["create-study", "--study-name", "a"],
        ["-q", "create-study", "--study-name", "b"],
        ["create-study", "--study-name", "c", "-q"],
        ["--log-file", str(tmp_path / "theirs.log"), "create-study", "--study-name", "d"],
    ]
    theirs = optuna_cli([[*a, "--storage", url.replace("log.db", "optuna.db")] for a in argvs])
    argvs[3][1] = str(log)
    ours = [run(capsys, [*a, "--storage", url]) for a in argvs]
    for (code, out, err), their in zip(ours, theirs, strict=True):
        assert code == 0 and their.ok
        assert out == their.out
        assert ("A new study created" in err) == ("A new study created" in their.err)
    assert "A new study created" in ours[0][2] and ours[1][2] == ours[2][2] == ""
    assert (tmp_path / "theirs.log").read_text() == ""
    assert log.read_text().count("A new study created in RDB with name: d") == 1
    assert log.read_text().startswith("[I ")

    code, _, err = run(
        capsys, ["-v", "create-study", "--storage", f"sqlite:///{tmp_path / 'v.db'}"]
    )
    assert code == 0 and "[D " in err  # the schema creation's DEBUG line
    code, _, err = run(capsys, ["create-study", "--storage", f"sqlite:///{tmp_path / 'w.db'}"])
    assert code == 0 and "[D " not in err
