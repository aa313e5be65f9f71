"""Large studies for ``python -m bench --scale 1m`` (bench helper).

:func:`fill` writes a study of finished trials (5 float parameters, 2 intermediate values, one
objective value each) in the storage format both libraries read: Optuna's journal records, or
rows of Optuna's RDB schema (created by trialstore, whose schema is Optuna's). The journal is
written through trialstore's own storage (templates in batches), as a long run of trialstore
workers would have left it. The RDB rows are written in bulk, block by block of
:data:`SNAPSHOT_EVERY` trials; for trialstore, ``RDBStorage.write_snapshot`` then runs after
every block but the last, as a long run of trialstore workers would have left the study (each
writes a snapshot segment once it has read ``snapshot_threshold``, 2000, finished trials
beyond the segments: the last up to 2000 trials stay rows). :func:`measure` is a fresh
process's view: seconds to open the study and read all its trials and the best one, its peak
resident memory, then the cost of further trials; with ``drop_segments``, of a study without
segments (as Optuna, or trialstore before its snapshots, leaves it).
"""

from __future__ import annotations

import datetime
import os
import resource
import time
from typing import Any

__all__ = ["fill", "measure", "parse_count"]

N_PARAMS = 5
STUDY = "bench-scale"
#: RDB: trials per block of the fill (and per snapshot segment trialstore writes): the
#: default ``snapshot_threshold`` of trialstore's RDBStorage.
SNAPSHOT_EVERY = 2_000


def parse_count(text: str, option: str) -> int:
    """``"1m"`` -> 1_000_000, ``"100k"`` -> 100_000, ``"5000"`` -> 5000.

    Raises:
        ValueError: not a positive count; the message names ``option``.
    """
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor != 1 else text
    try:
        count = int(float(number) * factor)
    except ValueError:
        raise ValueError(
            f"{option}: expected a trial count such as 1m, 100k or 5000, got {text!r}"
        ) from None
    if count < 1:
        raise ValueError(f"{option}: the trial count must be at least 1, got {text!r}")
    return count


def _params(i: int) -> dict[str, float]:
    return {f"x{j}": ((i * 7919 + j * 104729) % 2000) / 100.0 - 10.0 for j in range(N_PARAMS)}


def fill(location: dict[str, Any], n: int, snapshots: bool = True) -> None:
    """Write study :data:`STUDY` with ``n`` finished trials at ``location`` (RDB: with
    trialstore's snapshot segments if ``snapshots``)."""
    if location["backend"] == "journal":
        _fill_journal(location, n)
    else:
        _fill_rdb(location, n, snapshots)


def _fill_journal(location: dict[str, Any], n: int, batch: int = 10_000) -> None:
    import trialstore
    from bench._backends import open_storage

    storage = open_storage("trialstore", location)
    study = trialstore.create_study(storage=storage, study_name=STUDY)
    dist = trialstore.distributions.FloatDistribution(-10.0, 10.0)
    distributions: dict[str, trialstore.distributions.BaseDistribution] = {
        f"x{j}": dist for j in range(N_PARAMS)
    }
    for first in range(0, n, batch):
        study.add_trials(
            [
                trialstore.trial.create_trial(
                    params=_params(i),
                    distributions=distributions,
                    value=float(i % 997),
                    intermediate_values={0: float(i % 13), 1: float(i % 7)},
                )
                for i in range(first, min(n, first + batch))
            ]
        )


def _fill_rdb(location: dict[str, Any], n: int, snapshots: bool) -> None:
    import sqlalchemy as sa

    import trialstore
    from bench._backends import open_storage

    storage = open_storage("trialstore", location)
    trialstore.create_study(storage=storage, study_name=STUDY)
    study_id = storage.get_study_id_from_name(STUDY)
    url = location["url"] if "url" in location else f"sqlite:///{location['path']}"
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    metadata.reflect(
        engine,
        only=["trials", "trial_params", "trial_values", "trial_intermediate_values"],
    )
    for first in range(0, n, SNAPSHOT_EVERY):
        ids = range(first, min(n, first + SNAPSHOT_EVERY))
        _insert_rows(engine, metadata.tables, study_id, ids)
        if snapshots and first + SNAPSHOT_EVERY < n:
            storage.write_snapshot(study_id)
    storage.close()
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                "(SELECT max(trial_id) FROM trials))"
            )
        plain = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with plain.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
        plain.dispose()
    engine.dispose()


def _insert_rows(engine: Any, tables: Any, study_id: int, ids: range) -> None:
    """Insert the rows of trials ``ids`` (numbers; trial ids are one more) in one
    transaction (``tables``: the reflected tables)."""
    dist = (
        '{"name": "FloatDistribution", "attributes": {"step": null, "low": -10.0, '
        '"high": 10.0, "log": false}}'
    )
    now = datetime.datetime(2026, 1, 1)
    with engine.begin() as connection:
        connection.execute(
            tables["trials"].insert(),
            [
                {
                    "trial_id": i + 1,
                    "number": i,
                    "study_id": study_id,
                    "state": "COMPLETE",
                    "datetime_start": now,
                    "datetime_complete": now,
                }
                for i in ids
            ],
        )
        connection.execute(
            tables["trial_params"].insert(),
            [
                {
                    "trial_id": i + 1,
                    "param_name": name,
                    "param_value": value,
                    "distribution_json": dist,
                }
                for i in ids
                for name, value in _params(i).items()
            ],
        )
        connection.execute(
            tables["trial_values"].insert(),
            [
                {
                    "trial_id": i + 1,
                    "objective": 0,
                    "value": float(i % 997),
                    "value_type": "FINITE",
                }
                for i in ids
            ],
        )
        connection.execute(
            tables["trial_intermediate_values"].insert(),
            [
                {
                    "trial_id": i + 1,
                    "step": step,
                    "intermediate_value": value,
                    "intermediate_value_type": "FINITE",
                }
                for i in ids
                for step, value in ((0, float(i % 13)), (1, float(i % 7)))
            ],
        )


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _objective(trial: Any) -> float:
    value = sum((trial.suggest_float(f"x{i}", -10.0, 10.0) - i) ** 2 for i in range(N_PARAMS))
    trial.report(value, 0)
    trial.report(value / 2, 1)
    return float(value)


def _drop_segments(location: dict[str, Any]) -> None:
    """Delete trialstore's snapshot segments at an RDB ``location``."""
    import sqlalchemy as sa

    url = location["url"] if "url" in location else f"sqlite:///{location['path']}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM trialstore_trial_segments")
    engine.dispose()


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """In this fresh process: open the study, read all trials and the best one (seconds,
    peak resident MB and its growth over the state after imports), then run ``n_measure``
    RandomSampler trials (ms per trial; skipped when ``n_measure`` is 0). With
    ``drop_segments``, trialstore's snapshot segments are deleted first."""
    from bench._backends import open_storage
    from bench._worker import _lib, import_backend

    if spec.get("drop_segments"):
        _drop_segments(spec["location"])
    lib = _lib(spec["lib"])
    import_backend(spec)
    baseline = _rss_mb()
    start = time.perf_counter()
    study = lib.load_study(
        study_name=STUDY,
        storage=open_storage(lib.__name__, spec["location"]),
        sampler=lib.samplers.RandomSampler(seed=0),
    )
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if len(trials) < spec["n_trials"] or best is None:
        raise RuntimeError(f"read {len(trials)} trials of {spec['n_trials']}")
    del trials
    result = {"seconds": seconds, "peak_mb": peak, "growth_mb": peak - baseline}
    n = spec.get("n_measure", 0)
    if n:
        study.optimize(_objective, n_trials=10)
        begin = time.perf_counter()
        study.optimize(_objective, n_trials=n)
        result["ms_per_trial"] = 1000.0 * (time.perf_counter() - begin) / n
    return result
