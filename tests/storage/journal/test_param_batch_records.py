"""set_trial_params on the journal (trialstore/storage/journal/): the records it appends, that
Optuna 5.0 reads them, and that trialstore readers apply a batch only as a whole (a reader
that sees the first lines of an append before the rest, a writer that died mid-append)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trialstore.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from trialstore.storage.journal import (
    JournalFileBackend,
    JournalRedisBackend,
    JournalStorage,
    compact_journal,
)
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

F01 = FloatDistribution(0.0, 1.0)
BATCH = {
    "a": (0.25, F01),
    "n": (3.0, IntDistribution(0, 5)),
    "c": (1.0, CategoricalDistribution(["u", "v"])),
}


def _storage(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _prepare(path: Path) -> tuple[JournalStorage, int]:
    storage = _storage(path)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    return storage, storage.create_new_trial(study_id)


def test_a_batch_is_one_append_of_optuna_param_records(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage, trial_id = _prepare(path)
    storage.set_trial_params(trial_id, BATCH)
    storage.set_trial_params(trial_id, {"single": (0.5, F01)})
    records = _lines(path)[2:]
    assert [r["op_code"] for r in records] == [5, 5, 5, 5]
    assert [r["param_name"] for r in records] == ["a", "n", "c", "single"]
    assert records[0]["trialstore_batch"] == 3
    assert all("trialstore_batch" not in r for r in records[1:]), "only a batch's first record"
    assert len({r["worker_id"] for r in records}) == 1
    assert [r["param_value_internal"] for r in records[:3]] == [0.25, 3.0, 1.0]


def test_optuna_reads_a_journal_with_batches(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages.journal import JournalFileBackend as OptunaFileBackend

    path = tmp_path / "j.log"
    storage, trial_id = _prepare(path)
    storage.set_trial_params(trial_id, BATCH)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    reader = optuna.storages.JournalStorage(OptunaFileBackend(str(path)))
    trial = reader.get_trial(trial_id)
    assert trial.params == {"a": 0.25, "n": 3, "c": "v"}
    assert list(trial.params) == ["a", "n", "c"]
    assert trial.state == optuna.trial.TrialState.COMPLETE


def test_a_reader_applies_a_batch_only_once_all_its_lines_are_there(tmp_path: Path) -> None:
    """The kernel may show a reader the first lines of an append before the others: those
    lines are held back (read again later), never applied alone."""
    path = tmp_path / "j.log"
    writer, trial_id = _prepare(path)
    reader = _storage(path)
    size = path.stat().st_size
    writer.set_trial_params(trial_id, BATCH)
    data = path.read_bytes()
    batch_lines = data[size:].splitlines(keepends=True)
    path.write_bytes(data[: size + len(batch_lines[0])])  # only its first line is visible
    assert reader.get_trial(trial_id).params == {}
    # Then the first two, and a torn part of the third.
    path.write_bytes(data[: size + len(batch_lines[0]) + len(batch_lines[1]) + 5])
    assert reader.get_trial(trial_id).params == {}
    path.write_bytes(data)
    assert reader.get_trial(trial_id).params == {"a": 0.25, "n": 3, "c": "v"}
    # The held-back lines were read once, in order: the reader's own writes still work.
    reader.set_trial_param(trial_id, "z", 0.5, F01)
    assert list(_storage(path).get_trial(trial_id).params) == ["a", "n", "c", "z"]


def test_a_batch_cut_short_by_a_dead_writer_is_dropped(tmp_path: Path) -> None:
    """A writer killed in the middle of its append leaves the first lines of its batch; the
    next appender's records end it: trialstore drops the whole batch (Optuna would apply the
    lines it finds), and the log goes on."""
    path = tmp_path / "j.log"
    writer, trial_id = _prepare(path)
    size = path.stat().st_size
    writer.set_trial_params(trial_id, BATCH)
    data = path.read_bytes()
    first_line = data[size:].splitlines(keepends=True)[0]
    path.write_bytes(data[: size + len(first_line) + 7])  # one line and a torn one
    survivor = _storage(path)
    assert survivor.get_trial(trial_id).params == {}
    survivor.set_trial_param(trial_id, "z", 0.5, F01)  # cuts the torn tail, ends the batch
    for reader in (survivor, _storage(path)):
        assert reader.get_trial(trial_id).params == {"z": 0.5}
    survivor.set_trial_params(trial_id, BATCH)  # "a" was never registered as anything else
    assert _storage(path).get_trial(trial_id).params == {"z": 0.5, "a": 0.25, "n": 3, "c": "v"}


def test_a_batch_racing_a_registration_elsewhere_is_rejected_whole(tmp_path: Path) -> None:
    """Another process registers "n" with another distribution kind after this writer's check
    and before its append: the batch's records are invalid at their place in the log, and
    none of them is applied (by any trialstore reader)."""
    path = tmp_path / "j.log"
    writer, trial_id = _prepare(path)
    other = _storage(path)
    writer.get_trial(trial_id)  # the writer's state is now current: its check will pass
    other.set_trial_param(other.create_new_trial(0), "n", 0.5, F01)
    original = writer._precheck
    writer._precheck = lambda check: None  # type: ignore[assignment,method-assign,return-value]
    try:
        with pytest.raises(ValueError, match="'n'"):
            writer.set_trial_params(trial_id, BATCH)
    finally:
        writer._precheck = original  # type: ignore[method-assign]
    for reader in (writer, other, _storage(path)):
        assert reader.get_trial(trial_id).params == {}


def test_compaction_keeps_batches(tmp_path: Path) -> None:
    path = tmp_path / "j.log"
    storage, trial_id = _prepare(path)
    storage.set_trial_params(trial_id, BATCH)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    compact_journal(JournalFileBackend(str(path)))
    assert _storage(path).get_trial(trial_id).params == {"a": 0.25, "n": 3, "c": "v"}
    assert storage.get_trial(trial_id).params == {"a": 0.25, "n": 3, "c": "v"}


@pytest.mark.redis
def test_redis_batch_is_one_atomic_append(redis_url: str, redis_prefix: str) -> None:
    optuna = pytest.importorskip("optuna")
    from optuna.storages.journal import JournalRedisBackend as OptunaRedisBackend

    storage = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_params(trial_id, BATCH)
    reader = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert reader.get_trial(trial_id).params == {"a": 0.25, "n": 3, "c": "v"}
    theirs = optuna.storages.JournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix))
    assert theirs.get_trial(trial_id).params == {"a": 0.25, "n": 3, "c": "v"}
