"""Copies between real backends and Optuna's own files (``clone_study`` and ``trialstore copy``).

The reference for "the same data" is what the source storage itself returns; for files Optuna
wrote, what Optuna returns (read through ``from_optuna``).
"""

from __future__ import annotations

import datetime
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _fixtures import optuna_fixture

optuna = pytest.importorskip("optuna")

from optuna.storages.journal import JournalFileBackend, JournalStorage  # noqa: E402

from trialstore.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.interop.optuna import from_optuna  # noqa: E402
from trialstore.storage import BaseStorage, InMemoryStorage, clone_study, get_storage  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import FrozenTrial, TrialState  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
optuna.logging.set_verbosity(optuna.logging.WARNING)

T0 = datetime.datetime(2025, 6, 3, 14, 7, 45, 306123)


def _rich_source() -> BaseStorage:
    storage = InMemoryStorage()
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE], "rich")
    storage.set_study_user_attr(study_id, "nested", {"a": [1, None, "x"], "b": 0.1})
    storage.set_study_system_attr(study_id, "sys", [1, 2])
    cases: list[tuple[TrialState, list[float] | None]] = [
        (TrialState.COMPLETE, [0.25]),
        (TrialState.PRUNED, None),
        (TrialState.FAIL, None),
        (TrialState.WAITING, None),
        (TrialState.RUNNING, None),
        (TrialState.COMPLETE, [float("-inf")]),
        (TrialState.COMPLETE, [1.7976931348623157e308]),
    ]
    for k, (state, values) in enumerate(cases):
        storage.create_new_trial(
            study_id,
            FrozenTrial(
                number=-1,
                state=state,
                value=None,
                values=values,
                datetime_start=None if state == TrialState.WAITING else T0,
                datetime_complete=(
                    T0 + datetime.timedelta(microseconds=k + 1) if state.is_finished() else None
                ),
                params={"x": k / 7, "n": k + 1, "c": [None, True, "s", 2.5][k % 4]},
                distributions={
                    "x": FloatDistribution(0, 1),
                    "n": IntDistribution(1, 64, log=True),
                    "c": CategoricalDistribution([None, True, "s", 2.5]),
                },
                user_attrs={"k": k, "deep": {"l": [k, "v"]}},
                system_attrs={"s": k},
                intermediate_values={0: 1 / 3, 5: float("nan"), 9: float("inf")},
                trial_id=-1,
            ),
        )
    return storage


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b) and type(a) is type(b)


def _naive_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def assert_same_studies(src: BaseStorage, dst: BaseStorage, names: list[str]) -> None:
    """Assert every study of ``names`` has equal fields in both storages (ids aside)."""
    for name in names:
        a, b = src.get_study_id_from_name(name), dst.get_study_id_from_name(name)
        assert src.get_study_directions(a) == dst.get_study_directions(b)
        assert src.get_study_user_attrs(a) == dst.get_study_user_attrs(b)
        assert src.get_study_system_attrs(a) == dst.get_study_system_attrs(b)
        ta, tb = src.get_all_trials(a), dst.get_all_trials(b)
        assert len(ta) == len(tb), name
        for x, y in zip(ta, tb, strict=True):
            where = f"study {name!r} trial {x.number}"
            assert (x.number, x.state) == (y.number, y.state), where
            assert x.datetime_start == y.datetime_start, where
            assert x.datetime_complete == y.datetime_complete, where
            assert (x.values is None) == (y.values is None), where
            if x.values is not None and y.values is not None:
                assert all(map(_same, x.values, y.values)), where
            assert list(x.params) == list(y.params), where
            assert all(_same(x.params[k], y.params[k]) for k in x.params), where
            assert x.distributions == y.distributions, where
            assert x.user_attrs == y.user_attrs, where
            assert x.system_attrs == y.system_attrs, where
            assert sorted(x.intermediate_values) == sorted(y.intermediate_values), where
            assert all(
                _same(v, y.intermediate_values[s]) for s, v in x.intermediate_values.items()
            ), where


def test_copy_to_every_backend_and_back(ts_backend: Any) -> None:
    source = _rich_source()
    middle = ts_backend()
    clone_study(source, middle, "rich")
    assert_same_studies(source, middle, ["rich"])
    back = InMemoryStorage()
    clone_study(middle, back, "rich")
    assert_same_studies(source, back, ["rich"])


def _optuna_writes(storage: Any) -> list[str]:
    """Run real Optuna studies on ``storage``; return their names."""
    study = optuna.create_study(storage=storage, study_name="opt", direction="maximize")
    study.set_user_attr("u", {"k": [1, 2]})
    study.enqueue_trial({"x": 0.5, "c": "b"})

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0, 1)
        trial.suggest_categorical("c", ["a", "b", None])
        trial.suggest_int("n", 1, 100, log=True)
        trial.set_user_attr("seen", [trial.number])
        trial.report(x, 0)
        trial.report(float("nan"), 1)
        if trial.number == 2:
            raise optuna.TrialPruned()
        if trial.number == 3:
            raise ValueError("fail")
        return float(x)

    study.optimize(objective, n_trials=6, catch=(ValueError,))
    study.ask()  # left RUNNING
    study.enqueue_trial({"x": 0.25})  # left WAITING
    multi = optuna.create_study(storage=storage, study_name="multi", directions=["minimize"] * 2)
    multi.optimize(lambda t: (t.suggest_float("y", -1, 1), float("inf")), n_trials=3)
    return ["opt", "multi"]


@pytest.mark.parametrize("kind", ["journal", "sqlite"])
def test_cli_copies_optuna_files_into_files_optuna_reads(tmp_path: Path, kind: str) -> None:
    if kind == "journal":
        path = tmp_path / "optuna.log"
        written: Any = JournalStorage(JournalFileBackend(str(path)))
        source_url = f"journal://{path}"
    else:
        path = tmp_path / "optuna.db"
        written = optuna.storages.RDBStorage(f"sqlite:///{path}")
        source_url = f"sqlite:///{path}"
    names = _optuna_writes(written)
    target = tmp_path / "copy.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "trialstore.cli",
            "copy",
            "--from",
            source_url,
            "--to",
            f"sqlite:///{target}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "copied study 'opt' (8 trials)" in result.stdout
    assert "11/11" in result.stderr  # one progress bar over the trials of both studies
    # Optuna reads the copy exactly as it reads the original.
    original = from_optuna(written)
    copy = from_optuna(optuna.storages.RDBStorage(f"sqlite:///{target}"))
    assert_same_studies(original, copy, names)
    # And trialstore reads the original as Optuna does.
    mirrored = get_storage(source_url)
    try:
        assert_same_studies(original, mirrored, names)
    finally:
        mirrored.close()


def test_copy_refuses_to_overwrite_a_file_study(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage = get_storage(f"journal://{path}")
    storage.create_new_study([StudyDirection.MINIMIZE], "rich")
    storage.close()
    argv = [sys.executable, "-m", "trialstore.cli", "copy", "--to", f"journal://{path}"]
    source = tmp_path / "src.log"
    clone_study(_rich_source(), get_storage(f"journal://{source}"), "rich")
    refused = subprocess.run(
        [*argv, "--from", f"journal://{source}"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert "--overwrite" in refused.stderr
    done = subprocess.run(
        [*argv, "--from", f"journal://{source}", "--overwrite", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert_same_studies(_rich_source(), get_storage(f"journal://{path}"), ["rich"])


@pytest.mark.parametrize("name", ["journal-4.0.0.dev.log", "rdb-schema-3.2.0.a.db"])
def test_copy_optuna_fixtures(tmp_path: Path, name: str) -> None:
    local = optuna_fixture(name, tmp_path)
    if name.endswith(".log"):
        reference = from_optuna(JournalStorage(JournalFileBackend(str(local))))
        source = get_storage(f"journal://{local}")
    else:
        reference = from_optuna(optuna.storages.RDBStorage(f"sqlite:///{local}"))
        source = get_storage(f"sqlite:///{local}")
    names = [s.study_name for s in reference.get_all_studies()]
    assert names
    destination = InMemoryStorage()
    for study_name in names:
        clone_study(source, destination, study_name)
    assert_same_studies(reference, destination, names)
    source.close()
