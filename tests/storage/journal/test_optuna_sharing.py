"""Journal files and Redis journals shared with real Optuna 5.0.0, in both directions."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import pytest
from _fixtures import optuna_fixture

from trialstore.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from trialstore.storage.journal import (
    JournalFileBackend,
    JournalRedisBackend,
    JournalStorage,
    compact_journal,
)
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

optuna = pytest.importorskip("optuna")
from optuna.storages import JournalStorage as OptunaJournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend as OptunaFileBackend  # noqa: E402
from optuna.storages.journal import JournalRedisBackend as OptunaRedisBackend  # noqa: E402

FIXTURE = "journal-4.0.0.dev.log"


def canonical(storage: Any) -> str:
    """Every study and trial the storage holds, as JSON text (NaN-safe), library-neutral."""
    studies = []
    for study in sorted(storage.get_all_studies(), key=lambda s: s._study_id):
        trials = []
        for t in storage.get_all_trials(study._study_id):
            trials.append(
                {
                    "id": t._trial_id,
                    "number": t.number,
                    "state": int(t.state),
                    "values": t.values,
                    "start": None if t.datetime_start is None else t.datetime_start.isoformat(),
                    "complete": None
                    if t.datetime_complete is None
                    else t.datetime_complete.isoformat(),
                    "params": {k: [type(v).__name__, v] for k, v in t.params.items()},
                    "param_order": list(t.params),
                    "distributions": {
                        k: json.loads(
                            distribution_to_json(d)
                            if not type(d).__module__.startswith("optuna")
                            else optuna.distributions.distribution_to_json(d)
                        )
                        for k, d in t.distributions.items()
                    },
                    "user_attrs": t.user_attrs,
                    "system_attrs": t.system_attrs,
                    "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                }
            )
        studies.append(
            {
                "id": study._study_id,
                "name": study.study_name,
                "directions": [int(d) for d in study.directions],
                "user_attrs": study.user_attrs,
                "system_attrs": study.system_attrs,
                "trials": trials,
            }
        )
    return json.dumps(studies, indent=1, sort_keys=True)


def optuna_workload(storage: Any) -> None:
    """Write, through Optuna's study API, every kind of trial the issue names."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(storage=storage, study_name="single")
    study.set_user_attr("owner", {"name": "ö", "tags": [1, 2.5, None]})
    storage.set_study_system_attr(study._study_id, "metric", ["loss"])
    study.enqueue_trial({"x": 0.5, "c": "b"}, user_attrs={"enqueued": True})

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", -1, 1)
        n = trial.suggest_int("n", 1, 100, log=True)
        c = trial.suggest_categorical("c", ["a", "b", None, 1.5])
        trial.suggest_float("q", 0, 1, step=0.25)
        for i in range(6):
            trial.set_user_attr(f"attr{i}", {"i": i, "list": list(range(i)), "s": "x" * i})
        trial.storage.set_trial_system_attr(trial._trial_id, "sys", [1, {"a": None}])
        for step in range(3):
            trial.report(x * step if step < 2 else math.inf, step)
        if trial.number % 4 == 1:
            raise optuna.TrialPruned()
        if trial.number % 4 == 2:
            raise ValueError("failed on purpose")
        return float(x**2 + n + (0 if c is None else 1))

    study.optimize(objective, n_trials=12, catch=(ValueError,))
    multi = optuna.create_study(
        storage=storage, study_name="multi", directions=["minimize", "maximize"]
    )
    multi.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_int("b", 0, 3)), n_trials=5)
    gone = optuna.create_study(storage=storage, study_name="gone")
    gone.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna.delete_study(study_name="gone", storage=storage)
    again = optuna.create_study(storage=storage, study_name="gone", direction="maximize")
    again.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.25},
            distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
            value=1.5,
            intermediate_values={0: 1.0, 5: float("nan")},
            user_attrs={"u": 1},
            system_attrs={"s": "t"},
        )
    )
    study.ask()  # left RUNNING
    study.enqueue_trial({"x": -0.5})  # left WAITING


def trialstore_workload(storage: JournalStorage) -> None:
    """Write the same kinds of trials through trialstore's storage API."""
    fx = FloatDistribution(-1, 1)
    ni = IntDistribution(1, 100, log=True)
    cc = CategoricalDistribution(["a", "b", None, 1.5])
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "single")
    storage.set_study_user_attr(sid, "owner", {"name": "ö", "tags": [1, 2.5, None]})
    storage.set_study_system_attr(sid, "sys", 3)
    waiting = FrozenTrial(
        number=-1,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={"x": 0.5},
        distributions={"x": fx},
        user_attrs={"enqueued": True},
        system_attrs={"fixed_params": {"x": 0.5}},
        intermediate_values={},
        trial_id=-1,
    )
    enq = storage.create_new_trial(sid, waiting)
    assert storage.set_trial_state_values(enq, TrialState.RUNNING)
    for i in range(10):
        tid = enq if i == 0 else storage.create_new_trial(sid)
        storage.set_trial_param(tid, "x", 0.1 * i - 0.5, fx)
        storage.set_trial_param(tid, "n", float(i + 1), ni)
        storage.set_trial_param(tid, "c", float(i % 4), cc)
        for j in range(5):
            storage.set_trial_user_attr(tid, f"attr{j}", {"j": j, "l": list(range(j))})
        storage.set_trial_system_attr(tid, "sys", [1, {"a": None}])
        storage.set_trial_intermediate_value(tid, 0, 0.5)
        storage.set_trial_intermediate_value(tid, 1, math.nan)
        storage.set_trial_intermediate_value(tid, 2, -math.inf)
        storage.record_heartbeat(tid)
        if i % 4 == 1:
            storage.set_trial_state_values(tid, TrialState.PRUNED)
        elif i % 4 == 2:
            storage.set_trial_state_values(tid, TrialState.FAIL)
        elif i % 4 == 3:
            pass  # left RUNNING
        else:
            storage.set_trial_state_values(tid, TrialState.COMPLETE, [i * 1.5])
    multi = storage.create_new_study([StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE], "multi")
    for i in range(3):
        tid = storage.create_new_trial(multi)
        storage.set_trial_state_values(tid, TrialState.COMPLETE, [float(i), 1e308])
    gone = storage.create_new_study([StudyDirection.MINIMIZE], "gone")
    storage.create_new_trial(gone)
    storage.delete_study(gone)
    again = storage.create_new_study([StudyDirection.MAXIMIZE], "gone")
    start = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)
    template = FrozenTrial(
        number=-1,
        state=TrialState.COMPLETE,
        value=2.5,
        datetime_start=start,
        datetime_complete=start + datetime.timedelta(seconds=1),
        params={"c": None},
        distributions={"c": cc},
        user_attrs={},
        system_attrs={},
        intermediate_values={3: math.inf},
        trial_id=-1,
    )
    storage.create_new_trial(again, template)
    storage.create_new_trial(again, waiting)


def test_optuna_writes_trialstore_reads_identically(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    optuna_storage = OptunaJournalStorage(OptunaFileBackend(path))
    optuna_workload(optuna_storage)
    expected = canonical(OptunaJournalStorage(OptunaFileBackend(path)))
    assert '"state": 4' in expected and '"state": 2' in expected and '"state": 3' in expected
    assert canonical(JournalStorage(JournalFileBackend(path))) == expected


def test_trialstore_writes_optuna_reads_identically(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    storage = JournalStorage(JournalFileBackend(path))
    trialstore_workload(storage)
    expected = canonical(storage)
    assert canonical(OptunaJournalStorage(OptunaFileBackend(path))) == expected
    assert canonical(JournalStorage(JournalFileBackend(path))) == expected


def test_records_are_written_as_optuna_5_writes_them(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    trialstore_workload(JournalStorage(JournalFileBackend(path)))
    lines = path.read_bytes().decode("utf-8").splitlines()
    for line in lines:
        record = json.loads(line)
        assert json.dumps(record, separators=(",", ":")) == line
        assert isinstance(record["worker_id"], str)
        for key in ("datetime_start", "datetime_complete"):
            if record.get(key) is not None:
                assert record[key].endswith("+00:00")
                assert len(record[key]) == len("2026-11-28T06:17:40.393093+00:00")


def test_each_library_appends_to_the_others_journal(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    trialstore_workload(JournalStorage(JournalFileBackend(path)))
    optuna_workload_study = optuna.create_study(
        storage=OptunaJournalStorage(OptunaFileBackend(path)), study_name="from-optuna"
    )
    optuna_workload_study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    ours = JournalStorage(JournalFileBackend(path))
    sid = ours.get_study_id_from_name("from-optuna")
    tid = ours.create_new_trial(sid)
    ours.set_trial_param(tid, "x", 0.5, FloatDistribution(0, 1))
    ours.set_trial_state_values(tid, TrialState.COMPLETE, [0.5])
    assert canonical(OptunaJournalStorage(OptunaFileBackend(path))) == canonical(ours)
    assert [t.number for t in ours.get_all_trials(sid)] == [0, 1, 2, 3]


def test_compacted_journal_reads_identically_in_both_libraries(tmp_path: Path) -> None:
    path = str(tmp_path / "journal.log")
    optuna_workload(OptunaJournalStorage(OptunaFileBackend(path)))
    trialstore_workload_path = str(tmp_path / "ts.log")
    trialstore_workload(JournalStorage(JournalFileBackend(trialstore_workload_path)))
    for p in (path, trialstore_workload_path):
        before = canonical(OptunaJournalStorage(OptunaFileBackend(p)))
        size = Path(p).stat().st_size
        result = compact_journal(JournalFileBackend(p))
        assert result.bytes_after == Path(p).stat().st_size < size
        assert result.records_after < result.records_before
        assert canonical(OptunaJournalStorage(OptunaFileBackend(p))) == before
        Path(p + ".snapshot").unlink()
        assert canonical(JournalStorage(JournalFileBackend(p))) == before


def test_optuna_4_fixture_reads_as_optuna_5_reads_it(tmp_path: Path) -> None:
    path = optuna_fixture(FIXTURE, tmp_path)
    expected = canonical(OptunaJournalStorage(OptunaFileBackend(str(path))))
    assert canonical(JournalStorage(JournalFileBackend(path))) == expected
    assert len(json.loads(expected)) == 4  # one of the five studies was deleted


def test_read_only_fixture_opens_for_reading(tmp_path: Path) -> None:
    storage = JournalStorage(JournalFileBackend(optuna_fixture(FIXTURE, tmp_path, mode=0o444)))
    names = [s.study_name for s in storage.get_all_studies()]
    assert "single_empty" in names


@pytest.mark.redis
def test_redis_journal_shared_with_optuna(redis_url: str, redis_prefix: str) -> None:
    optuna_workload(OptunaJournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix)))
    ours = JournalStorage(JournalRedisBackend(redis_url, prefix=redis_prefix))
    assert canonical(ours) == canonical(
        OptunaJournalStorage(OptunaRedisBackend(redis_url, prefix=redis_prefix))
    )
    trialstore_workload_prefix = redis_prefix + "-ts"
    try:
        storage = JournalStorage(JournalRedisBackend(redis_url, prefix=trialstore_workload_prefix))
        trialstore_workload(storage)
        theirs = OptunaJournalStorage(
            OptunaRedisBackend(redis_url, prefix=trialstore_workload_prefix)
        )
        assert canonical(theirs) == canonical(storage)
        compact_journal(storage.backend)
        import redis

        client = redis.Redis.from_url(redis_url)
        assert client.exists(f"{trialstore_workload_prefix}:trialstore:snapshot")
        assert not client.exists(f"{trialstore_workload_prefix}:snapshot")
        client.close()
        reopened = JournalStorage(
            JournalRedisBackend(redis_url, prefix=trialstore_workload_prefix)
        )
        assert canonical(reopened) == canonical(storage)
    finally:
        import redis

        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{trialstore_workload_prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
