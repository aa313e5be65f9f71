"""The listing commands, each in every format: ``study-names``, ``studies``, ``trials``,
``best-trial`` and ``best-trials`` (trialstore/cli/_study_names.py, _studies.py, _trials.py,
_best_trial.py) on a storage built with known trials. JSON is the reference; YAML must read
back as the same records, the table and the value lines show the same cells.
tests/cli/test_cli_optuna_parity.py compares the same commands with Optuna's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from _cli_helpers import error_line, run

import trialstore
from trialstore.distributions import FloatDistribution

_MOVING = ("datetime_start", "datetime_complete", "duration")


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A journal with study "one" (two trials, minimize), "two" (three trials, minimize and
    maximize, Pareto front: trials 0 and 1) and "empty" (no trial)."""
    url = f"journal://{tmp_path / 'listings.log'}"
    one = trialstore.create_study(study_name="one", storage=url)
    for x in (0.5, 0.25):
        one.add_trial(
            trialstore.create_trial(
                value=2 * x,
                params={"x": x},
                distributions={"x": FloatDistribution(0, 1)},
                user_attrs={"u": 1},
            )
        )
    two = trialstore.create_study(
        study_name="two", storage=url, directions=["minimize", "maximize"]
    )
    for values in ((1.0, 1.0), (2.0, 2.0), (2.0, 0.0)):  # (2, 0) is dominated by (1, 1)
        two.add_trial(trialstore.create_trial(values=values))
    trialstore.create_study(study_name="empty", storage=url)
    return url


def _output(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code, out, err = run(capsys, argv)
    assert (code, err) == (0, ""), err
    return out


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    return json.loads(_output(capsys, [*argv, "--format", "json"]))


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")[1:-1]]


def _table(out: str) -> tuple[list[str], list[list[str]]]:
    lines = out.splitlines()
    assert [lines[0], lines[2], lines[-1]] == [lines[0]] * 3 and lines[0].startswith("+-")
    return _cells(lines[1]), [_cells(line) for line in lines[3:-1]]


def _without_moving(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in _MOVING} for r in records]


COMMANDS: dict[str, tuple[list[str], list[dict[str, Any]]]] = {
    "study-names": (["study-names"], [{"name": "one"}, {"name": "two"}, {"name": "empty"}]),
    "studies": (
        ["studies"],
        [
            {"name": "one", "direction": ["MINIMIZE"], "n_trials": 2},
            {"name": "two", "direction": ["MINIMIZE", "MAXIMIZE"], "n_trials": 3},
            {"name": "empty", "direction": ["MINIMIZE"], "n_trials": 0},
        ],
    ),
    "trials": (
        ["trials", "--study-name", "one"],
        [
            {"number": n, "value": 2 * x, "params": {"x": x}, "user_attrs": {"u": 1}}
            | {"state": "COMPLETE"}
            for n, x in ((0, 0.5), (1, 0.25))
        ],
    ),
    "best-trials": (
        ["best-trials", "--study-name", "two"],
        [
            {"number": 0, "values": [1.0, 1.0], "state": "COMPLETE"},
            {"number": 1, "values": [2.0, 2.0], "state": "COMPLETE"},
        ],
    ),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_json_holds_the_records(
    url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv, expected = COMMANDS[command]
    records = _json(capsys, [*argv, "--storage", url])
    if command == "studies":  # a study's start is its first trial's: none for "empty"
        assert [r["datetime_start"] is None for r in records] == [False, False, True]
    assert _without_moving(records) == expected


@pytest.mark.parametrize("command", COMMANDS)
def test_yaml_reads_back_as_the_json_records(
    url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [*COMMANDS[command][0], "--storage", url]
    as_yaml = yaml.safe_load(_output(capsys, [*argv, "--format", "yaml"]))
    assert as_yaml == _json(capsys, argv)


@pytest.mark.parametrize("command", COMMANDS)
def test_table_and_value_lines_show_the_same_cells(
    url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    argv = [*COMMANDS[command][0], "--storage", url]
    records = _json(capsys, argv)
    header, rows = _table(_output(capsys, [*argv, "--format", "table"]))
    assert set(header) == set(records[0])
    expected = [
        ["" if r[c] is None else str(tuple(r[c]) if c == "direction" else r[c]) for c in header]
        for r in records
    ]
    assert rows == expected
    values = _output(capsys, [*argv, "--format", "value"]).splitlines()
    assert values == [" ".join(row) for row in rows]


def test_the_default_formats(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # study-names: one name per line; every other listing: a table.
    assert _output(capsys, ["study-names", "--storage", url]) == "one\ntwo\nempty\n"
    for argv, _ in COMMANDS.values():
        if argv[0] != "study-names":
            assert _output(capsys, [*argv, "--storage", url]).startswith("+-")


def test_best_trial_is_one_object(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["best-trial", "--storage", url, "--study-name", "one"]
    best = _json(capsys, argv)
    assert isinstance(best, dict)
    assert _without_moving([best]) == [COMMANDS["trials"][1][1]]
    assert yaml.safe_load(_output(capsys, [*argv, "--format", "yaml"])) == best
    header, rows = _table(_output(capsys, argv))
    assert len(rows) == 1 and rows[0][header.index("number")] == "1"


def test_flatten_splits_params_attrs_and_values(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    trials = _json(capsys, ["trials", "--storage", url, "--study-name", "one", "--flatten"])
    assert [(t["params_x"], t["user_attrs_u"]) for t in trials] == [(0.5, 1), (0.25, 1)]
    assert "params" not in trials[0]
    front = _json(capsys, ["best-trials", "--storage", url, "--study-name", "two", "--flatten"])
    assert [(t["values_0"], t["values_1"]) for t in front] == [(1.0, 1.0), (2.0, 2.0)]


def test_a_study_without_trials_lists_no_records(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("trials", "best-trials"):
        argv = [command, "--storage", url, "--study-name", "empty"]
        assert _json(capsys, argv) == []
        assert yaml.safe_load(_output(capsys, [*argv, "--format", "yaml"])) == []
        assert _output(capsys, [*argv, "--format", "value"]) == ""
        header, rows = _table(_output(capsys, argv))
        assert "number" in header and rows == []


def test_a_storage_without_studies_lists_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert run(capsys, ["storage", "upgrade", "--storage", url])[0] == 0  # empty schema
    assert _output(capsys, ["study-names", "--storage", url]) == ""
    assert _json(capsys, ["study-names", "--storage", url]) == []
    assert _json(capsys, ["studies", "--storage", url]) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["trials", "--study-name", "nope"], "No such study 'nope'"),
        (["best-trials", "--study-name", "nope"], "No such study 'nope'"),
        (["best-trial", "--study-name", "nope"], "No such study 'nope'"),
        (["best-trial", "--study-name", "empty"], "No trials are completed yet"),
    ],
)
def test_a_missing_study_or_best_trial_is_one_line_exit_1(
    url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert message in error_line(capsys, [*argv, "--storage", url])


@pytest.mark.parametrize("command", ["study-names", "studies"])
def test_a_bad_format_is_a_usage_error(
    url: str, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(capsys, [command, "--storage", url, "--format", "xml"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'xml'" in err and "Traceback" not in err
