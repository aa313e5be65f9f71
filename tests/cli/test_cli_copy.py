"""Tests of ``trialstore copy`` (trialstore/cli/_copy.py) and ``clone_study``
(trialstore/storage/_copy.py) on in-memory storages; tests/interop/test_copy_backends.py runs
copies between the real backends and Optuna's files."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from trialstore.cli import main
from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage import BaseStorage, InMemoryStorage, clone_study
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

MIN, MAX = StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE
T0 = datetime.datetime(2025, 6, 3, 14, 7, 45, 306123)


def _template(state: TrialState, k: int, values: list[float] | None) -> FrozenTrial:
    start = None if state == TrialState.WAITING else T0 + datetime.timedelta(seconds=k)
    complete = (
        T0 + datetime.timedelta(seconds=k, microseconds=999_999) if state.is_finished() else None
    )
    return FrozenTrial(
        number=-1,
        state=state,
        value=None,
        values=values,
        datetime_start=start,
        datetime_complete=complete,
        params={"x": 0.1 * k - 1e-300, "n": 2**k, "c": [None, True, "s", 1.5][k % 4]},
        distributions={
            "x": FloatDistribution(-1.0, 1.0),
            "n": IntDistribution(1, 2**20, log=True),
            "c": CategoricalDistribution([None, True, "s", 1.5]),
        },
        user_attrs={"k": k, "nested": {"list": [1, "two", None], "f": 0.1}},
        system_attrs={"sys": [k, k]},
        intermediate_values={0: float("nan"), 1: float("inf"), 7: -float("inf"), 9: 1 / 3},
        trial_id=-1,
    )


def make_source() -> BaseStorage:
    """A storage with two studies whose trials use every state and awkward values."""
    storage = InMemoryStorage()
    single = storage.create_new_study([MIN], "single")
    storage.set_study_user_attr(single, "u", {"a": [1, 2]})
    storage.set_study_system_attr(single, "s", "x")
    states = [
        (TrialState.COMPLETE, [1.5]),
        (TrialState.PRUNED, [float("inf")]),
        (TrialState.FAIL, None),
        (TrialState.WAITING, None),
        (TrialState.RUNNING, None),
        (TrialState.COMPLETE, [-float("inf")]),
    ]
    for k, (state, values) in enumerate(states):
        storage.create_new_trial(single, _template(state, k, values))
    multi = storage.create_new_study([MAX, MIN], "multi")
    for k in range(3):
        storage.create_new_trial(multi, _template(TrialState.COMPLETE, k, [k, -k * 1e-308]))
    storage.create_new_study([MIN], "empty")
    return storage


def _same_float(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b) and type(a) is type(b)


def assert_same_trials(a: list[FrozenTrial], b: list[FrozenTrial]) -> None:
    """Assert two trial lists are equal in every field except ids (NaN equals NaN; value
    types are compared too, so 1 and 1.0 differ)."""
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.number == y.number
        assert x.state == y.state
        assert x.datetime_start == y.datetime_start, x.number
        assert x.datetime_complete == y.datetime_complete, x.number
        assert (x.values is None) == (y.values is None)
        if x.values is not None and y.values is not None:
            assert all(_same_float(p, q) for p, q in zip(x.values, y.values, strict=True))
        assert list(x.params) == list(y.params)
        assert all(
            _same_float(x.params[k], y.params[k]) or x.params[k] is y.params[k] for k in x.params
        ), (x.params, y.params)
        assert x.distributions == y.distributions
        assert x.user_attrs == y.user_attrs
        assert x.system_attrs == y.system_attrs
        assert sorted(x.intermediate_values) == sorted(y.intermediate_values)
        assert all(
            _same_float(x.intermediate_values[s], y.intermediate_values[s])
            for s in x.intermediate_values
        )


def assert_same_study(src: BaseStorage, dst: BaseStorage, name: str) -> None:
    """Assert ``name`` has the same directions, attributes and trials in both storages."""
    a, b = src.get_study_id_from_name(name), dst.get_study_id_from_name(name)
    assert src.get_study_directions(a) == dst.get_study_directions(b)
    assert src.get_study_user_attrs(a) == dst.get_study_user_attrs(b)
    assert src.get_study_system_attrs(a) == dst.get_study_system_attrs(b)
    assert_same_trials(src.get_all_trials(a), dst.get_all_trials(b))


def test_clone_study_keeps_every_field() -> None:
    source, destination = make_source(), InMemoryStorage()
    destination.create_new_study([MIN], "other")
    seen: list[int] = []
    for name in ("single", "multi", "empty"):
        clone_study(source, destination, name, on_trial=lambda t: seen.append(t.number))
        assert_same_study(source, destination, name)
    assert seen == [0, 1, 2, 3, 4, 5, 0, 1, 2]
    renamed = clone_study(source, destination, "single", to_study_name="renamed")
    assert destination.get_study_name_from_id(renamed) == "renamed"


def test_clone_study_refuses_to_overwrite_unless_told() -> None:
    source, destination = make_source(), InMemoryStorage()
    old = destination.create_new_study([MAX], "single")
    destination.create_new_trial(old)
    with pytest.raises(DuplicatedStudyError, match="overwrite"):
        clone_study(source, destination, "single")
    assert destination.get_n_trials(old) == 1
    clone_study(source, destination, "single", overwrite=True)
    assert_same_study(source, destination, "single")
    with pytest.raises(KeyError):
        clone_study(source, destination, "nope")
    with pytest.raises(ValueError, match="onto itself"):
        clone_study(source, source, "single", overwrite=True)


class _FailingStorage(InMemoryStorage):
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if self.get_n_trials(study_id) == 2:
            raise ValueError("rejected")
        return super().create_new_trial(study_id, template_trial)


def test_clone_study_removes_a_partial_copy() -> None:
    destination = _FailingStorage()
    with pytest.raises(ValueError, match="trial 2 cannot be copied: rejected"):
        clone_study(make_source(), destination, "single")
    assert destination.get_all_studies() == []


@pytest.fixture
def urls(monkeypatch: pytest.MonkeyPatch) -> dict[str, BaseStorage]:
    """Storages the CLI opens by URL, as ``mem://NAME`` (in this process)."""
    storages: dict[str, BaseStorage] = {"mem://src": make_source(), "mem://dst": InMemoryStorage()}

    def fake_get_storage(url: str) -> BaseStorage:
        if url not in storages:
            raise ValueError(f"storage URL scheme 'bad' is not supported ({url!r})")
        return storages[url]

    monkeypatch.setattr("trialstore.cli._open.get_storage", fake_get_storage)
    monkeypatch.setattr("trialstore.cli._open.open_storage", fake_get_storage)
    return storages


def test_cli_copies_every_study_with_a_progress_bar(
    urls: dict[str, BaseStorage], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["copy", "--from", "mem://src", "--to", "mem://dst"]) == 0
    out, err = capsys.readouterr()
    for name in ("single", "multi", "empty"):
        assert_same_study(urls["mem://src"], urls["mem://dst"], name)
    assert "copied study 'single' (6 trials) from mem://src to mem://dst" in out
    assert "9/9" in err and "trial" in err  # the tqdm bar: 9 trials in all


def test_cli_copies_selected_studies(
    urls: dict[str, BaseStorage], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["copy", "--from", "mem://src", "--to", "mem://dst", "--study", "multi"]
    assert main([*argv, "--no-progress"]) == 0
    assert [s.study_name for s in urls["mem://dst"].get_all_studies()] == ["multi"]
    assert capsys.readouterr().err == ""


def test_cli_refuses_existing_studies_and_writes_nothing(
    urls: dict[str, BaseStorage], capsys: pytest.CaptureFixture[str]
) -> None:
    dst = urls["mem://dst"]
    dst.create_new_study([MIN], "multi")
    argv = ["copy", "--from", "mem://src", "--to", "mem://dst"]
    assert main(argv) == 1
    assert "already has a study named 'multi'" in capsys.readouterr().err
    assert [s.study_name for s in dst.get_all_studies()] == ["multi"]
    assert dst.get_n_trials(dst.get_study_id_from_name("multi")) == 0

    assert main([*argv, "--overwrite"]) == 0
    for name in ("single", "multi", "empty"):
        assert_same_study(urls["mem://src"], dst, name)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--from", "mem://src", "--to", "mem://src"], 2, "same storage"),
        (["--from", "mem://src", "--to", "mem://dst", "--study", "nope"], 1, "no study named"),
        (["--from", "bad://x", "--to", "mem://dst"], 2, "--from: storage URL scheme 'bad'"),
    ],
)
def test_cli_errors(
    urls: dict[str, BaseStorage],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert main(["copy", *argv]) == code
    assert message in capsys.readouterr().err
    assert urls["mem://dst"].get_all_studies() == []


def test_cli_requires_both_urls(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["copy", "--from", "mem://src"])
    assert exc.value.code == 2
    assert "--to" in capsys.readouterr().err
