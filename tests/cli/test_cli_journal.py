"""``trialstore journal compact`` (trialstore/cli/_journal.py) on journal files: one line
with the record and byte counts before and after, the same studies read back, a snapshot
next to the file; a missing journal is exit 1 and a URL that is not a journal's exit 2, each
one line, creating nothing. (Redis journals: tests/storage/journal/test_redis.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from _cli_helpers import error_line, run, tree

import trialstore

_LINE = re.compile(
    r"(?P<url>\S+): (?P<records_before>\d+) records \((?P<bytes_before>\d+) bytes\) -> "
    r"(?P<records_after>\d+) records \((?P<bytes_after>\d+) bytes\), snapshot written, "
    r"\d+\.\d\d s"
)


def _studies(url: str) -> list[tuple[str, list[Any]]]:
    return [
        (
            summary.study_name,
            [
                (t.number, t.state, t.values, t.params, t.intermediate_values, t.user_attrs)
                for t in trialstore.load_study(study_name=summary.study_name, storage=url).trials
            ],
        )
        for summary in trialstore.get_all_study_summaries(url)
    ]


def _compact(capsys: pytest.CaptureFixture[str], url: str) -> dict[str, int]:
    code, out, err = run(capsys, ["journal", "compact", "--storage", url])
    assert (code, err) == (0, ""), err
    match = _LINE.fullmatch(out.rstrip("\n"))
    assert match and match["url"] == url and out.count("\n") == 1, out
    return {k: int(v) for k, v in match.groupdict().items() if k != "url"}


def test_compact_rewrites_the_journal_to_fewer_records_that_read_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.log"
    url = f"journal://{path}"
    study = trialstore.create_study(study_name="s", storage=url)

    def objective(trial: trialstore.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, 0)
        trial.set_user_attr("n", trial.number)
        return x

    study.optimize(objective, n_trials=6)
    expected = _studies(url)
    size = path.stat().st_size
    counts = _compact(capsys, url)
    assert counts["bytes_before"] == size and counts["bytes_after"] == path.stat().st_size
    assert counts["records_after"] < counts["records_before"]
    assert counts["bytes_after"] < counts["bytes_before"]
    assert Path(f"{path}.snapshot").exists()
    assert _studies(url) == expected
    # Compacting again finds nothing more to drop.
    again = _compact(capsys, url)
    assert again["records_before"] == counts["records_after"]
    assert again["records_after"] == counts["records_after"]
    assert _studies(url) == expected


def test_an_empty_journal_is_compacted_to_a_snapshot_of_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.log"
    path.touch()
    code, out, err = run(capsys, ["journal", "compact", "--storage", f"journal://{path}"])
    assert (code, err) == (0, "")
    assert re.fullmatch(rf"journal://{path}: snapshot of 0 records written, \d+\.\d\d s\n", out)
    assert trialstore.get_all_study_names(f"journal://{path}") == []


def test_a_missing_journal_is_exit_1_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"journal://{tmp_path}/none.log"
    line = error_line(capsys, ["journal", "compact", "--storage", url], command="journal compact")
    assert f"no storage at {url}: the file does not exist" in line
    assert tree(tmp_path) == {}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///{tmp}/x.db", "--storage: not a journal URL: 'sqlite:///"),
        ("journal://relative.log", "--storage: journal URL 'journal://relative.log' must hold"),
        ("journal+redis://127.0.0.1:70000/0", "--storage: "),
    ],
)
def test_a_url_that_is_not_a_journals_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    argv = ["journal", "compact", "--storage", url.format(tmp=tmp_path)]
    line = error_line(capsys, argv, code=2, command="journal compact")
    assert message in line
    assert tree(tmp_path) == {}
