"""RDBStorage against Optuna 5.0's RDB storage, through the raw storage API, same run.

``python -m bench.bench_rdb [--dialects sqlite,postgresql,mysql] [--trials 1000] [--load 5000]
[--scale 100000]``

Workloads (each measurement in a fresh process, on a fresh database):

* ``1p``: one process runs ``--trials`` trials: create, 5 float params, COMPLETE, then the read a
  sampler does (``get_all_trials(states=(COMPLETE,))``). Optuna runs the same calls on the
  storage its studies use (``optuna.storages.get_storage``: RDBStorage in _CachedStorage).
* ``4p``: the same trials split over 4 processes on one study (PostgreSQL and MySQL).
* ``load``: a fresh process opens a database holding ``--load`` finished trials (5 params, one
  value each) and reads them all (median of 5 processes per library, alternating).
* ``scale``: trialstore's mean cost of 200 more trials in a study that already holds 1k and
  ``--scale`` trials (the pre-existing trials are bulk-inserted; the study is read once before
  timing), and the ratio of the two.

Servers: ``TRIALSTORE_TEST_POSTGRES_URL`` / ``TRIALSTORE_TEST_MYSQL_URL`` (defaults: the local
servers of ``.ci/run``); a database is created per measurement and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import sqlalchemy as sa

_SERVERS = {
    "postgresql": os.environ.get(
        "TRIALSTORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get(
        "TRIALSTORE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
_CREATED: list[tuple[str, str]] = []
_TMP = tempfile.mkdtemp(prefix="bench-rdb-")


def fresh_url(dialect: str) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{_TMP}/{uuid.uuid4().hex[:8]}.db"
    base = sa.engine.make_url(_SERVERS[dialect])
    name = f"bench_rdb_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    _CREATED.append((dialect, name))
    return base.set(database=name).render_as_string(hide_password=False)


def drop_databases() -> None:
    for dialect, name in _CREATED:
        admin = sa.create_engine(
            sa.engine.make_url(_SERVERS[dialect]), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            force = " WITH (FORCE)" if dialect == "postgresql" else ""
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


# -- what runs inside the measured processes ----------------------------------------------------


def _open(lib: str, url: str) -> tuple[Any, Any]:
    """Return (storage, namespace with FloatDistribution, TrialState, StudyDirection)."""
    if lib == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        ns = argparse.Namespace(
            Float=optuna.distributions.FloatDistribution,
            State=optuna.trial.TrialState,
            Direction=optuna.study.StudyDirection,
        )
        return optuna.storages.get_storage(url), ns
    from trialstore._core import StudyDirection, TrialState
    from trialstore.distributions import FloatDistribution
    from trialstore.storage.rdb import RDBStorage

    ns = argparse.Namespace(Float=FloatDistribution, State=TrialState, Direction=StudyDirection)
    return RDBStorage(url), ns


def _trials(storage: Any, ns: Any, study_id: int, n: int, read_all: bool = True) -> None:
    dist = ns.Float(0.0, 1.0)
    complete = (ns.State.COMPLETE,)
    for i in range(n):
        trial_id = storage.create_new_trial(study_id)
        for name in ("a", "b", "c", "d", "e"):
            storage.set_trial_param(trial_id, name, (i % 97) / 97, dist)
        storage.set_trial_state_values(trial_id, ns.State.COMPLETE, [float(i)])
        if read_all:
            storage.get_all_trials(study_id, deepcopy=False, states=complete)
        else:  # the incremental read alone, without building an O(n) list
            storage.get_trial(trial_id)


def child(task: dict[str, Any]) -> dict[str, Any]:
    lib, url = task["lib"], task["url"]
    if task["kind"] == "run":
        storage, ns = _open(lib, url)
        study_id = storage.get_study_id_from_name(task["study"])
        storage.get_all_trials(study_id, deepcopy=False)
        started = time.perf_counter()
        _trials(storage, ns, study_id, task["n"], task.get("read_all", True))
        return {"seconds": time.perf_counter() - started}
    if task["kind"] == "load":
        # Imports are not timed (the library's and the database driver's, which both
        # libraries import on their first engine): the storage's open and read are.
        if lib == "optuna":
            import optuna.storages  # noqa: F401
        else:
            import trialstore.storage.rdb  # noqa: F401
        sa.engine.make_url(url).get_dialect().import_dbapi()
        started = time.perf_counter()
        storage, ns = _open(lib, url)
        study_id = storage.get_study_id_from_name(task["study"])
        trials = storage.get_all_trials(study_id, deepcopy=False)
        assert len(trials) == task["n"], len(trials)
        return {"seconds": time.perf_counter() - started}
    raise ValueError(task["kind"])


def _in_fresh_process(task: dict[str, Any]) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_rdb", "--child", json.dumps(task)],
        capture_output=True,
        text=True,
        check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def _worker(task: dict[str, Any], start: Any, results: Any) -> None:
    storage, ns = _open(task["lib"], task["url"])
    study_id = storage.get_study_id_from_name(task["study"])
    storage.get_all_trials(study_id, deepcopy=False)
    start.wait()
    _trials(storage, ns, study_id, task["n"])
    results.put(time.perf_counter())


# -- setup helpers -----------------------------------------------------------------------------


def _new_study(lib: str, url: str) -> str:
    storage, ns = _open(lib, url)
    name = "bench"
    storage.create_new_study([ns.Direction.MINIMIZE], name)
    return name


def _bulk_fill(url: str, study: str, n: int) -> None:
    """Insert ``n`` finished trials (5 params, one value) with plain SQL executemany."""
    import datetime

    from trialstore.storage.rdb import RDBStorage
    from trialstore.storage.rdb._tables import trial_params, trial_values, trials

    storage = RDBStorage(url)
    study_id = storage.get_study_id_from_name(study)
    engine = storage._engine
    from trialstore.distributions import FloatDistribution, distribution_to_json

    dist = distribution_to_json(FloatDistribution(0.0, 1.0))
    now = datetime.datetime.now()
    with engine.begin() as connection:
        start: int = connection.execute(
            sa.select(sa.func.coalesce(sa.func.max(trials.c.trial_id), 0))
        ).scalar_one()
        chunk = 5000
        for first in range(0, n, chunk):
            ids = range(first, min(n, first + chunk))
            connection.execute(
                trials.insert(),
                [
                    {
                        "trial_id": start + 1 + i,
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
                trial_params.insert(),
                [
                    {
                        "trial_id": start + 1 + i,
                        "param_name": p,
                        "param_value": 0.5,
                        "distribution_json": dist,
                    }
                    for i in ids
                    for p in "abcde"
                ],
            )
            connection.execute(
                trial_values.insert(),
                [
                    {
                        "trial_id": start + 1 + i,
                        "objective": 0,
                        "value": float(i),
                        "value_type": "FINITE",
                    }
                    for i in ids
                ],
            )
    # What autovacuum / auto-stats do over the hours a real study of this size takes to
    # write: otherwise the measurement would pay for cleaning up after the bulk insert
    # (vacuum, hint bits, flushing its dirty pages), not for the trials it times.
    if engine.dialect.name == "postgresql":  # VACUUM runs outside transactions only
        plain = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
        with plain.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
            connection.exec_driver_sql("CHECKPOINT")
        plain.dispose()
    elif engine.dialect.name == "mysql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE TABLE trials, trial_params, trial_values")
    if engine.dialect.name == "postgresql":  # the sequence must follow the explicit ids
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "SELECT setval(pg_get_serial_sequence('trials', 'trial_id'), "
                    "(SELECT max(trial_id) FROM trials))"
                )
            )
    storage.close()


# -- measurements ------------------------------------------------------------------------------


def one_process(dialect: str, n: int) -> dict[str, float]:
    out = {}
    for lib in ("optuna", "trialstore"):
        url = fresh_url(dialect)
        study = _new_study(lib, url)
        out[lib] = _in_fresh_process(
            {"kind": "run", "lib": lib, "url": url, "study": study, "n": n}
        )["seconds"]
    return out


def four_processes(dialect: str, n: int) -> dict[str, float]:
    out = {}
    ctx = multiprocessing.get_context("spawn")
    for lib in ("optuna", "trialstore"):
        url = fresh_url(dialect)
        study = _new_study(lib, url)
        start, results = ctx.Event(), ctx.Queue()
        task = {"lib": lib, "url": url, "study": study, "n": n // 4}
        processes = [ctx.Process(target=_worker, args=(task, start, results)) for _ in range(4)]
        for process in processes:
            process.start()
        time.sleep(5.0)
        began = time.perf_counter()
        start.set()
        ends = [results.get() for _ in processes]
        for process in processes:
            process.join()
        out[lib] = max(ends) - began
    return out


def load(dialect: str, n: int, rounds: int = 5) -> dict[str, float]:
    """Median over ``rounds`` fresh processes per library (alternating), of the seconds to
    open the storage and read the study's ``n`` trials."""
    url = fresh_url(dialect)
    study = _new_study("trialstore", url)
    _bulk_fill(url, study, n)
    samples: dict[str, list[float]] = {"optuna": [], "trialstore": []}
    for _ in range(rounds):
        for lib, seconds in samples.items():
            task = {"kind": "load", "lib": lib, "url": url, "study": study, "n": n}
            seconds.append(_in_fresh_process(task)["seconds"])
    return {lib: statistics.median(seconds) for lib, seconds in samples.items()}


def scale(
    dialect: str, sizes: list[int], n: int = 200, rounds: int = 3
) -> dict[tuple[int, bool], float]:
    """Median over ``rounds`` of the per-trial cost at each size (sizes alternate in a round,
    so that a slow spell of the machine does not land on one size only)."""
    studies = {}
    for size in sizes:
        url = fresh_url(dialect)
        studies[size] = url, _new_study("trialstore", url)
        _bulk_fill(url, studies[size][1], size)
    samples: dict[tuple[int, bool], list[float]] = {}
    for _ in range(rounds):
        for size, (url, study) in studies.items():
            for read_all in (False, True):
                task = {"kind": "run", "lib": "trialstore", "url": url, "study": study, "n": n}
                task["read_all"] = read_all
                seconds = _in_fresh_process(task)["seconds"]
                samples.setdefault((size, read_all), []).append(seconds / n)
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child")
    parser.add_argument("--dialects", default="sqlite,postgresql,mysql")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--load", type=int, default=5000)
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--only", default="1p,4p,load,scale")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    only = set(args.only.split(","))
    try:
        for dialect in args.dialects.split(","):
            if "1p" in only:
                r = one_process(dialect, args.trials)
                print(
                    f"{dialect:10} 1 process, {args.trials} trials: optuna "
                    f"{args.trials / r['optuna']:7.1f} trials/s, trialstore "
                    f"{args.trials / r['trialstore']:7.1f} trials/s, "
                    f"ratio {r['optuna'] / r['trialstore']:.1f}x",
                    flush=True,
                )
            if "4p" in only and dialect != "sqlite":
                r = four_processes(dialect, args.trials)
                print(
                    f"{dialect:10} 4 processes, {args.trials} trials: optuna "
                    f"{args.trials / r['optuna']:7.1f} trials/s, trialstore "
                    f"{args.trials / r['trialstore']:7.1f} trials/s, "
                    f"ratio {r['optuna'] / r['trialstore']:.1f}x",
                    flush=True,
                )
            if "load" in only:
                r = load(dialect, args.load)
                print(
                    f"{dialect:10} fresh process loads {args.load} trials: optuna "
                    f"{r['optuna']:.3f} s, trialstore {r['trialstore']:.3f} s, "
                    f"ratio {r['optuna'] / r['trialstore']:.1f}x",
                    flush=True,
                )
            if "scale" in only:
                r2 = scale(dialect, [1000, args.scale])
                for read_all, label in ((False, "writes + get_trial"), (True, "+ get_all_trials")):
                    small, big = r2[1000, read_all], r2[args.scale, read_all]
                    print(
                        f"{dialect:10} per-trial cost ({label}): {small * 1e3:.2f} ms at 1k, "
                        f"{big * 1e3:.2f} ms at {args.scale}: ratio {big / small:.2f}",
                        flush=True,
                    )
    finally:
        drop_databases()


if __name__ == "__main__":
    main()
