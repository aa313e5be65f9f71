"""Compact trials of a snapshot chunk (trialstore/storage/_chunk_source.py, _columns.py,
_snapshot.py): each trial decodes its own parameters and intermediate values whatever the
order of the chunk's ids, a broken parameter is reported as the snapshot's fault, and loading
places a chunk of consecutive trials at once but still refuses a trial listed twice."""

from __future__ import annotations

import copy
import datetime
import struct
from pathlib import Path
from typing import Any

import pytest

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
)
from trialstore.exceptions import StorageInternalError
from trialstore.storage._chunk_source import ChunkSource, is_run
from trialstore.storage._columns import build_chunk, dset_info, encode_chunk
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.storage.journal._snapshot import BrokenSnapshotError, load_state
from trialstore.study import StudyDirection

X = FloatDistribution(-1.0, 1.0)
C = CategoricalDistribution(["a", "b"])
START = datetime.datetime(2026, 12, 7, 10, 0, 0, 123456)


def _trial(trial_id: int, number: int, with_c: bool) -> FrozenTrial:
    distributions: dict[str, Any] = {"x": X, "c": C} if with_c else {"x": X}
    params: dict[str, Any] = {"x": trial_id / 100}
    if with_c:
        params["c"] = "ab"[trial_id % 2]
    return FrozenTrial(
        number=number,
        state=TrialState.COMPLETE,
        value=float(trial_id),
        datetime_start=START,
        datetime_complete=START,
        params=params,
        distributions=distributions,
        user_attrs={},
        system_attrs={},
        intermediate_values={s: float(trial_id + s) for s in range(trial_id % 3)},
        trial_id=trial_id,
    )


def _build(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    table: list[dict[str, BaseDistribution]] = [{"x": X}, {"x": X, "c": C}]
    columns = encode_chunk(trials, lambda d: 0 if len(d) == 1 else 1)
    return build_chunk({k: memoryview(v) for k, v in columns.items()}, dset_info(table))


@pytest.mark.parametrize(
    "ids", [[3, 4, 5, 6], [9, 2, 40, 7], [2, 7, 9, 40]], ids=["run", "unsorted", "gaps"]
)
def test_each_trial_decodes_its_own_fields(ids: list[int]) -> None:
    trials = [_trial(t, n, with_c=n % 2 == 1) for n, t in enumerate(ids)]
    built = _build(trials)
    assert built == trials
    for got, want in zip(built, trials, strict=True):
        assert got._source is not None
        assert got._source.params_of(got._trial_id) == want.params
        assert got._source.intermediate_values_of(got._trial_id) == want.intermediate_values


def test_an_id_outside_the_chunk_is_a_key_error() -> None:
    for ids in ([3, 4], [9, 2]):
        source = _build([_trial(t, n, with_c=False) for n, t in enumerate(ids)])[0]._source
        assert source is not None
        for missing in (0, 5, 8, 10, -1):
            with pytest.raises(KeyError):
                source.params_of(missing)


def test_a_broken_stored_parameter_is_reported_when_read() -> None:
    choice_7_of_2 = struct.pack("<d", 7.0)
    source = ChunkSource([0], [0], dset_info([{"c": C}]), [0], choice_7_of_2, b"", b"")
    with pytest.raises(StorageInternalError, match="broken parameters of trial 0"):
        source.params_of(0)


def test_is_run() -> None:
    assert is_run([4]) and is_run([4, 5, 6]) and is_run(range(2, 9))
    assert not is_run([]) and not is_run([4, 6]) and not is_run([4, 4, 6]) and not is_run([5, 4])


def _snapshot(tmp_path: Path) -> tuple[dict[str, Any], list[bytes]]:
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path), snapshot_threshold=0)
    sid = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    for i in range(5):
        writer.create_new_trial(sid, template_trial=_trial(i, -1, with_c=True))
    JournalStorage(JournalFileBackend(path), snapshot_threshold=1).close()
    loaded = JournalFileBackend(path).load_snapshot()
    assert loaded is not None
    return loaded


def test_a_chunk_of_consecutive_trials_loads_and_builds(tmp_path: Path) -> None:
    doc, segments = _snapshot(tmp_path)
    state = load_state(doc, segments)
    assert state.studies[0].trial_ids == [0, 1, 2, 3, 4]
    assert state.trial_study == [0] * 5
    trials = state.trials_of(state.studies[0])
    assert [t.params for t in trials] == [_trial(i, i, with_c=True).params for i in range(5)]
    # The trials share the id objects the study holds (an int less per trial).
    assert all(t._trial_id is i for t, i in zip(trials, state.studies[0].trial_ids, strict=True))


def test_a_chunk_listed_twice_is_refused(tmp_path: Path) -> None:
    doc, segments = _snapshot(tmp_path)
    twice = copy.deepcopy(doc)
    twice["segments"] = doc["segments"] * 2
    twice["n_trials"] = 2 * doc["n_trials"]
    twice["studies"][0][-1] = 2 * doc["studies"][0][-1]
    with pytest.raises(BrokenSnapshotError, match="listed twice"):
        load_state(twice, segments * 2)
