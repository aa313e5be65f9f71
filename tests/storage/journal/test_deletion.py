"""Deleting trials in a journal: the record, its replay, snapshots, compaction, and what
Optuna 5.0 (and a Rustuna DISCARD_TRIALS record) make of it."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from trialstore.conformance._base import make_template
from trialstore.distributions import FloatDistribution
from trialstore.exceptions import TrialDeletedError
from trialstore.storage.journal import (
    JournalFileBackend,
    JournalRedisBackend,
    JournalStorage,
    compact_journal,
)
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

optuna = pytest.importorskip("optuna")
from optuna.storages import JournalStorage as OptunaJournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend as OptunaFileBackend  # noqa: E402
from optuna.storages.journal import JournalRedisBackend as OptunaRedisBackend  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

KEY = "trialstore:deleted_trials"
MIN = [StudyDirection.MINIMIZE]


def _picture(storage: JournalStorage) -> list[Any]:
    """Every study's id, name, system attributes and trials (id, number, state, values)."""
    out: list[Any] = []
    for study in storage.get_all_studies():
        trials = [
            (t._trial_id, t.number, t.state, t.values)
            for t in storage.get_all_trials(study._study_id)
        ]
        out.append((study._study_id, study.study_name, study.system_attrs, trials))
    return out


def _fill(storage: JournalStorage, name: str = "s") -> tuple[int, list[int]]:
    """A study with five COMPLETE trials (values 0..4), a WAITING and a RUNNING one."""
    sid = storage.create_new_study(MIN, name)
    ids = [storage.create_new_trial(sid, make_template(values=[float(i)])) for i in range(5)]
    ids.append(storage.create_new_trial(sid, make_template(TrialState.WAITING)))
    ids.append(storage.create_new_trial(sid))
    return sid, ids


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_record_is_a_study_system_attribute(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(storage)
    storage.delete_trials(sid, [ids[3], ids[0]])
    last = _records(path)[-1]
    assert last["op_code"] == 3 and last["study_id"] == sid
    assert last["system_attr"] == {KEY: [ids[3], ids[0]]}
    assert KEY not in storage.get_study_system_attrs(sid)
    assert all(KEY not in s.system_attrs for s in storage.get_all_studies())
    with pytest.raises(ValueError, match="reserved"):
        storage.set_study_system_attr(sid, KEY, [ids[1]])
    storage.set_study_user_attr(sid, KEY, "a user attribute of that name is nothing special")
    assert [t._trial_id for t in storage.get_all_trials(sid)] == [ids[1], ids[2], *ids[4:]]


def _optuna_keeps_working(make_optuna: Any, make_ours: Any) -> None:
    ours = make_ours()
    sid, ids = _fill(ours, "common")
    ours.delete_trials(sid, [ids[0], ids[5], ids[6]])  # the best, the WAITING, the RUNNING
    expected = _picture(ours)

    theirs = make_optuna()
    listed = theirs.get_all_trials(sid)  # Optuna still shows the deleted trials
    assert [t.number for t in listed] == list(range(7))
    assert theirs.get_study_system_attrs(sid) == {KEY: [ids[0], ids[5], ids[6]]}
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.load_study(study_name="common", storage=theirs)
    study.optimize(lambda t: 10 + t.suggest_float("x", 0, 1), n_trials=3)
    # Optuna claimed and ran the WAITING trial deleted here (number 5), then two new ones;
    # to it the deleted RUNNING trial 6 is still running.
    states = optuna.trial.TrialState
    assert [t.state for t in theirs.get_all_trials(sid)][5:] == [
        states.COMPLETE,
        states.RUNNING,
        states.COMPLETE,
        states.COMPLETE,
    ]

    again = make_ours()
    picture = _picture(again)
    assert picture[0][:3] == expected[0][:3], "the study is unchanged, the key still hidden"
    trials = picture[0][3]
    assert [t[1] for t in trials] == [1, 2, 3, 4, 7, 8], "Optuna's trials number on"
    assert trials[:4] == expected[0][3]
    assert again.get_best_trial(sid).number == 1
    for trial_id in (ids[0], ids[5], ids[6]):
        with pytest.raises(TrialDeletedError):
            again.get_trial(trial_id)
    # Optuna's claim and finish of the WAITING trial deleted here are invalid here.
    assert again.get_n_trials(sid, (TrialState.WAITING, TrialState.RUNNING)) == 0


def test_optuna_opens_and_keeps_writing_a_journal_file_after_deletions(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    _optuna_keeps_working(
        lambda: OptunaJournalStorage(OptunaFileBackend(str(path))),
        lambda: JournalStorage(JournalFileBackend(path)),
    )


@pytest.mark.redis
def test_optuna_opens_and_keeps_writing_a_redis_journal_after_deletions(
    redis_url: str, redis_prefix: str
) -> None:
    _optuna_keeps_working(
        lambda: OptunaJournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix)),
        lambda: JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix)),
    )


def test_a_discard_trials_record_deletes_nothing(tmp_path: Path) -> None:
    """Rustuna's DISCARD_TRIALS (op 10) frees a sampler's memory; it is not a deletion."""
    path = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(storage)
    before = _picture(storage)
    storage.backend.append([{"op_code": 10, "worker_id": "rustuna", "trial_ids": ids[:3]}])
    assert _picture(storage) == before
    assert _picture(JournalStorage(JournalFileBackend(path))) == before
    optuna_view = OptunaJournalStorage(OptunaFileBackend(str(path)))
    assert len(optuna_view.get_all_trials(sid)) == len(ids)


@pytest.mark.parametrize(
    "value",
    [
        "not a list",
        [0.0],
        [True],
        [3, 3],
        [999],
        ["0"],
        {"0": 1},
    ],
)
def test_an_invalid_deletion_record_is_skipped_by_every_reader(tmp_path: Path, value: Any) -> None:
    path = tmp_path / "journal.log"
    storage = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(storage)
    other_sid, other_ids = _fill(storage, "other")
    before = _picture(storage)
    storage.backend.append(
        [{"op_code": 3, "worker_id": "w", "study_id": sid, "system_attr": {KEY: value}}]
    )
    # a valid id of another study, in a record naming this one
    storage.backend.append(
        [{"op_code": 3, "worker_id": "w", "study_id": sid, "system_attr": {KEY: other_ids[:1]}}]
    )
    assert _picture(storage) == before
    assert _picture(JournalStorage(JournalFileBackend(path))) == before
    storage.delete_trials(sid, [ids[3]])  # the journal goes on
    assert ids[3] not in [t._trial_id for t in storage.get_all_trials(sid)]
    assert len(storage.get_all_trials(other_sid)) == len(other_ids)


def test_only_the_writer_of_a_late_deletion_gets_the_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    first = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(first)
    second = pickle.loads(pickle.dumps(first))
    second.get_all_trials(sid)  # its state has ids[1] live
    first.delete_trials(sid, [ids[1]])
    with pytest.raises(TrialDeletedError):  # decided at the record's place in the log
        second.delete_trials(sid, [ids[2], ids[1]])
    records = [r for r in _records(path) if r["op_code"] == 3]
    assert len(records) == 2, "the late record stays in the log"
    fresh = JournalStorage(JournalFileBackend(path))
    for reader in (first, second, fresh):
        assert [t._trial_id for t in reader.get_all_trials(sid)] == [ids[0], *ids[2:]]


def test_snapshots_before_and_after_a_deletion(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(writer)
    JournalStorage(JournalFileBackend(path)).write_snapshot()  # a snapshot before
    snapshot = Path(f"{path}.snapshot")
    assert snapshot.exists()
    writer.delete_trials(sid, [ids[0], ids[6]])
    expected = _picture(writer)
    tail_reader = JournalStorage(JournalFileBackend(path))  # the snapshot, then the deletion
    assert _picture(tail_reader) == expected
    before_mtime = snapshot.stat().st_mtime_ns
    assert JournalStorage(JournalFileBackend(path)).write_snapshot()  # a snapshot after
    assert snapshot.stat().st_mtime_ns != before_mtime
    head = json.loads(snapshot.read_text())
    assert head["format"] == "trialstore-journal-snapshot/5"
    assert head["studies"][sid][6] == sorted([ids[0], ids[6]])
    reader = JournalStorage(JournalFileBackend(path))
    assert _picture(reader) == _picture(writer)
    with pytest.raises(TrialDeletedError):
        reader.get_trial(ids[0])
    with pytest.raises(TrialDeletedError):
        reader.get_trial_id_from_study_id_trial_number(sid, 6)
    assert reader.get_trial(reader.create_new_trial(sid)).number == 7


def test_an_old_snapshot_format_is_replayed_from_the_log(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(writer)
    writer.delete_trials(sid, [ids[2]])
    JournalStorage(JournalFileBackend(path)).write_snapshot()
    snapshot = Path(f"{path}.snapshot")
    doc = json.loads(snapshot.read_text())
    doc["format"] = "trialstore-journal-snapshot/4"
    snapshot.write_text(json.dumps(doc))
    assert _picture(JournalStorage(JournalFileBackend(path))) == _picture(writer)


def test_compaction_keeps_deletions_numbers_and_optuna_sees_empty_failed_trials(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    writer = JournalStorage(JournalFileBackend(path))
    sid, ids = _fill(writer)
    writer.set_trial_param(ids[6], "x", 0.5, FloatDistribution(0.0, 1.0))
    writer.delete_trials(sid, [ids[0], ids[6]])
    expected = _picture(writer)
    compact_journal(JournalFileBackend(path))
    assert _picture(writer) == expected, "an open reader follows the compaction"
    fresh = JournalStorage(JournalFileBackend(path))
    assert _picture(fresh) == expected
    with pytest.raises(TrialDeletedError):
        fresh.get_trial(ids[6])
    assert fresh.get_trial(fresh.create_new_trial(sid)).number == 7
    Path(f"{path}.snapshot").unlink()  # the compacted records alone replay the same
    assert _picture(JournalStorage(JournalFileBackend(path)))[0][3][:-1] == expected[0][3]
    theirs = OptunaJournalStorage(OptunaFileBackend(str(path)))
    gone = [t for t in theirs.get_all_trials(sid) if t._trial_id in (ids[0], ids[6])]
    assert [(t.number, t.state, t.params, t.values) for t in gone] == [
        (0, optuna.trial.TrialState.FAIL, {}, None),
        (6, optuna.trial.TrialState.FAIL, {}, None),
    ]
