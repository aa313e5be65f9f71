"""Trials as storage readers build them (compact: shared distributions dicts, no empty dicts,
and on the journal's snapshot, params and intermediate values decoded when first read), on
every backend that keeps trials in memory: they equal eagerly built ones, trials returned with
``deepcopy=True`` share nothing with the storage or with each other, and they convert to and
from Optuna's FrozenTrial unchanged."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trialstore._core import FrozenTrial, TrialState
from trialstore.conformance._base import make_template
from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.interop._convert import trial_from_optuna, trial_to_optuna
from trialstore.interop.optuna import to_optuna
from trialstore.storage import InMemoryStorage, RDBStorage
from trialstore.storage.base import BaseStorage
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.study import StudyDirection

X = FloatDistribution(-1.0, 1.0)
N = IntDistribution(0, 10)
C = CategoricalDistribution(["a", None, 2.5])
SPACE = {"x": X, "n": N, "c": C}


def _templates() -> list[FrozenTrial]:
    templates = [
        make_template(
            values=[i / 7],
            params={"x": i / 10, "n": i, "c": ["a", None, 2.5][i % 3]},
            distributions=SPACE,
            intermediate_values={0: float(i), 3: -float(i)} if i % 2 else {},
        )
        for i in range(8)
    ]
    templates[2].user_attrs["note"] = {"k": [1, None]}
    templates[3].system_attrs["constraints:c"] = 0.5
    templates.append(make_template(TrialState.FAIL, params={"x": 0.5}, distributions={"x": X}))
    templates.append(make_template(TrialState.PRUNED, intermediate_values={1: 0.25}))
    templates.append(make_template(TrialState.RUNNING, params={"n": 3}, distributions={"n": N}))
    return templates


def _write(storage: BaseStorage) -> int:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    for template in _templates():
        storage.create_new_trial(study_id, template_trial=template)
    return study_id


def _journal_from_snapshot(tmp_path: Path) -> BaseStorage:
    """A journal storage whose finished trials come from a snapshot (compact ones)."""
    path = tmp_path / "journal.log"
    _write(JournalStorage(JournalFileBackend(path), snapshot_threshold=0))
    JournalStorage(JournalFileBackend(path), snapshot_threshold=1).close()  # writes one
    assert Path(f"{path}.snapshot").exists()
    return JournalStorage(JournalFileBackend(path), snapshot_threshold=0)


@pytest.fixture(params=["memory", "journal", "sqlite", "postgresql"])
def reader(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStorage]:
    """A storage (a fresh reader where the backend has one) of one study, ``"s"``, holding
    :func:`_templates`."""
    kind = request.param
    if kind == "memory":
        storage: BaseStorage = InMemoryStorage()
        _write(storage)
    elif kind == "journal":
        storage = _journal_from_snapshot(tmp_path)
    else:
        url = (
            f"sqlite:///{tmp_path / 'db.sqlite3'}"
            if kind == "sqlite"
            else request.getfixturevalue("postgres_url")
        )
        writer = RDBStorage(url)
        _write(writer)
        writer.close()
        storage = RDBStorage(url)
    yield storage
    close = getattr(storage, "close", None)
    if close is not None:
        close()


def _eager(trial: FrozenTrial) -> FrozenTrial:
    """``trial`` built eagerly (what pickling gives: every field decoded, nothing shared)."""
    copy: FrozenTrial = pickle.loads(pickle.dumps(trial))
    assert copy._source is None
    return copy


def _expected() -> list[dict[str, Any]]:
    """What each template reads back as: its public fields, but number and id."""
    return [_fields(t) for t in _templates()]


def _fields(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "state": trial.state,
        "values": trial.values,
        "start": trial.datetime_start,
        "complete": trial.datetime_complete,
        "params": trial.params,
        "distributions": trial.distributions,
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
        "intermediate_values": trial.intermediate_values,
    }


def test_trials_read_back_as_written_and_equal_eager_ones(reader: BaseStorage) -> None:
    sid = reader.get_study_id_from_name("s")
    trials = reader.get_all_trials(sid, deepcopy=False)
    eager = [_eager(t) for t in trials]
    assert trials == eager
    assert [hash(t) for t in trials] == [hash(t) for t in eager]
    assert [repr(t) for t in trials] == [repr(t) for t in eager]
    assert [_fields(t) for t in trials] == _expected()
    assert [_fields(reader.get_trial(t._trial_id)) for t in trials] == _expected()


def test_a_deep_copy_can_be_mutated_without_changing_anything_else(reader: BaseStorage) -> None:
    sid = reader.get_study_id_from_name("s")
    before = [_eager(t) for t in reader.get_all_trials(sid, deepcopy=False)]
    copies = reader.get_all_trials(sid, deepcopy=True)
    for trial in [*copies, reader.get_trial(copies[0]._trial_id)]:
        trial.params["x"] = 0.0
        trial.params.pop("c", None)
        trial.distributions["x"] = FloatDistribution(5.0, 6.0)
        trial.distributions.pop("n", None)
        trial.intermediate_values[99] = 1.0
        trial.user_attrs["new"] = 1
        trial.system_attrs["new"] = 2
        if trial.values is not None:
            trial.values.append(3.0)
    assert reader.get_all_trials(sid, deepcopy=False) == before
    assert reader.get_all_trials(sid, deepcopy=True) == before
    assert [reader.get_trial(t._trial_id) for t in before] == before


def test_a_deep_copy_owns_its_distributions(reader: BaseStorage) -> None:
    sid = reader.get_study_id_from_name("s")
    shared = reader.get_all_trials(sid, deepcopy=False, states=(TrialState.COMPLETE,))
    copies = reader.get_all_trials(sid, deepcopy=True, states=(TrialState.COMPLETE,))
    assert len(copies) == 8
    assert len({id(t.distributions) for t in copies}) == len(copies)
    # Not copied, finished trials with equal distributions share one dict.
    assert len({id(t.distributions) for t in shared}) == 1


def test_trials_convert_to_and_from_optuna_unchanged(reader: BaseStorage) -> None:
    sid = reader.get_study_id_from_name("s")
    trials = reader.get_all_trials(sid, deepcopy=False)
    for deepcopy in (False, True):
        seen_by_optuna = to_optuna(reader).get_all_trials(sid, deepcopy=deepcopy)
        assert seen_by_optuna == [trial_to_optuna(_eager(t)) for t in trials]
    for trial in trials:
        theirs = trial_to_optuna(trial)
        assert theirs == trial_to_optuna(_eager(trial))
        assert theirs.params == trial.params
        assert theirs.intermediate_values == trial.intermediate_values
        assert trial_from_optuna(theirs) == trial


def test_journal_trials_from_a_snapshot_are_compact_until_read(tmp_path: Path) -> None:
    reader = _journal_from_snapshot(tmp_path)
    sid = reader.get_study_id_from_name("s")
    trials = reader.get_all_trials(sid, deepcopy=False)
    finished = [t for t in trials if t.state.is_finished()]
    assert all(t._source is not None and t._param_dict is None for t in finished)
    # What a study reads of every trial (best trial, feasibility) decodes nothing for good.
    reader.get_best_trial(sid)
    reader.get_all_trials(sid, deepcopy=True)
    assert all(t._param_dict is None and t._iv_dict is None for t in finished)
    assert [_fields(t) for t in trials] == _expected()
