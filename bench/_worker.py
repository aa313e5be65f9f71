"""One measurement in a fresh process: ``python -m bench._worker '<json spec>'`` prints JSON.

The spec names the library (``trialstore`` or ``optuna``), the task and the storage location.
Import time is excluded from every figure; log output is silenced in both libraries.
"""

from __future__ import annotations

import gc
import importlib
import json
import multiprocessing
import sys
import time
from typing import Any

from bench._backends import open_storage


def _lib(name: str) -> Any:
    if name == "optuna":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return optuna
    import trialstore

    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    return trialstore


def objective(trial: Any) -> float:
    """Five float parameters, a cheap objective: the cost measured is the library's."""
    return float(sum((trial.suggest_float(f"x{i}", -10.0, 10.0) - i) ** 2 for i in range(5)))


def _study(
    lib: Any,
    location: dict[str, Any],
    name: str,
    seed: int | None = None,
    param_writes: str = "immediate",
) -> Any:
    """The study ``name``; trialstore's with ``param_writes`` (Optuna has no such option)."""
    options = {"param_writes": param_writes} if lib.__name__ == "trialstore" else {}
    return lib.create_study(
        storage=open_storage(lib.__name__, location),
        study_name=name,
        sampler=lib.samplers.RandomSampler(seed=seed),
        load_if_exists=True,
        **options,
    )


def task_optimize(spec: dict[str, Any]) -> dict[str, Any]:
    """(a): ``n_trials`` of :func:`objective` with RandomSampler in this process."""
    lib = _lib(spec["lib"])
    study = _study(lib, spec["location"], "bench-a", 0, spec.get("param_writes", "immediate"))
    start, cpu = time.perf_counter(), time.process_time()
    study.optimize(objective, n_trials=spec["n_trials"])
    elapsed = time.perf_counter() - start
    cpu_ms = 1000.0 * (time.process_time() - cpu) / spec["n_trials"]
    return {"seconds": elapsed, "trials_per_s": spec["n_trials"] / elapsed, "cpu_ms": cpu_ms}


def _process_body(spec: dict[str, Any], ready: Any, go: Any) -> None:
    lib = _lib(spec["lib"])
    study = _study(lib, spec["location"], "bench-b", None, spec.get("param_writes", "immediate"))
    ready.release()
    go.wait()
    study.optimize(objective, n_trials=spec["n_trials"] // spec["n_procs"])


def task_processes(spec: dict[str, Any]) -> dict[str, Any]:
    """(b): ``n_procs`` processes share ``n_trials`` on one storage; wall time of the run."""
    lib = _lib(spec["lib"])
    _study(lib, spec["location"], "bench-b")  # created once, before the workers race
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [
        ctx.Process(target=_process_body, args=(spec, ready, go)) for _ in range(spec["n_procs"])
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError("a worker process failed")
    return {"seconds": elapsed, "trials_per_s": spec["n_trials"] / elapsed}


def task_fill(spec: dict[str, Any]) -> dict[str, Any]:
    """Prepare (c): a study of ``n_trials`` finished trials, added as templates."""
    lib = _lib(spec["lib"])
    study = _study(lib, spec["location"], "bench-c")
    dist = lib.distributions.FloatDistribution(-10.0, 10.0)
    for i in range(spec["n_trials"]):
        params = {f"x{j}": ((i * 7919 + j * 104729) % 2000) / 100.0 - 10.0 for j in range(5)}
        study.add_trial(
            lib.trial.create_trial(
                params=params,
                distributions={k: dist for k in params},
                value=sum(v * v for v in params.values()),
            )
        )
    return {}


_BACKEND_MODULES = {
    "journal": "trialstore.storage.journal",
    "redis": "trialstore.storage.journal",
    "sqlite": "trialstore.storage.rdb",
    "postgresql": "trialstore.storage.rdb",
    "mysql": "trialstore.storage.rdb",
    "grpc": "trialstore.storage.grpc",
}


def import_backend(spec: dict[str, Any]) -> None:
    """Import the modules the storage of ``spec`` needs, so that no clock counts them
    (``import optuna`` imports all of its backends; trialstore imports a backend on first
    use; both import a database driver on their first engine)."""
    backend = spec["location"]["backend"]
    module = _BACKEND_MODULES.get(backend)
    if spec["lib"] == "trialstore" and module is not None:
        importlib.import_module(module)
    if backend in ("postgresql", "mysql"):
        import sqlalchemy

        sqlalchemy.engine.make_url(spec["location"]["url"]).get_dialect().import_dbapi()
    elif backend == "sqlite":
        import sqlite3  # noqa: F401


def task_load(spec: dict[str, Any]) -> dict[str, Any]:
    """(c): load the study, read all trials and the best trial, in this fresh process
    (imports done before the clock starts: :func:`import_backend`)."""
    lib = _lib(spec["lib"])
    import_backend(spec)
    start = time.perf_counter()
    study = lib.load_study(
        study_name="bench-c", storage=open_storage(lib.__name__, spec["location"])
    )
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    elapsed = time.perf_counter() - start
    assert len(trials) == spec["n_trials"] and best is not None
    return {"seconds": elapsed}


def task_trial_k(spec: dict[str, Any]) -> dict[str, Any]:
    """(d): with ``k`` trials in the study, the mean cost of ``n_measure`` trials after 10
    warm-up trials (after a full garbage collection)."""
    lib = _lib(spec["lib"])
    study = _study(lib, spec["location"], "bench-d", seed=0)
    dist = lib.distributions.FloatDistribution(-10.0, 10.0)
    existing = len(study.get_trials(deepcopy=False))
    templates = []
    for i in range(existing, spec["k"]):
        params = {f"x{j}": ((i * 7919 + j * 104729) % 2000) / 100.0 - 10.0 for j in range(5)}
        templates.append(
            lib.trial.create_trial(
                params=params,
                distributions={k: dist for k in params},
                value=sum(v * v for v in params.values()),
            )
        )
    study.add_trials(templates)
    del templates
    gc.collect()  # the fill's garbage is not the cost of trial k (same for both libraries)
    study.optimize(objective, n_trials=10)  # warm-up: first-call caches of either library
    n = spec["n_measure"]
    start = time.perf_counter()
    study.optimize(objective, n_trials=n)
    elapsed = time.perf_counter() - start
    return {"ms_per_trial": 1000.0 * elapsed / n}


def task_tpe(spec: dict[str, Any]) -> dict[str, Any]:
    """TPE quality: best value after ``n_trials`` on one function for one seed."""
    lib = _lib(spec["lib"])
    results = []
    for seed in spec["seeds"]:
        study = lib.create_study(sampler=lib.samplers.TPESampler(seed=seed))
        study.optimize(_FUNCTIONS[spec["function"]], n_trials=spec["n_trials"])
        results.append(study.best_value)
    return {"best_values": results}


def _quadratic(trial: Any) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    return float((x - 2.0) ** 2)


def _rosenbrock(trial: Any) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    y = trial.suggest_float("y", -5.0, 5.0)
    return float(100.0 * (y - x * x) ** 2 + (1.0 - x) ** 2)


def _sphere(trial: Any) -> float:
    return float(sum(trial.suggest_float(f"x{i}", -5.0, 5.0) ** 2 for i in range(5)))


_FUNCTIONS = {"quadratic": _quadratic, "rosenbrock": _rosenbrock, "sphere5": _sphere}


def task_scale_fill(spec: dict[str, Any]) -> dict[str, Any]:
    """``--scale``: write the large study (see :mod:`bench._scale`)."""
    from bench import _scale

    _scale.fill(spec["location"], spec["n_trials"], snapshots=spec["lib"] == "trialstore")
    return {}


def task_scale_open(spec: dict[str, Any]) -> dict[str, Any]:
    """``--scale``: a fresh process opens and reads the large study, then runs trials."""
    from bench import _scale

    return _scale.measure(spec)


TASKS = {
    "optimize": task_optimize,
    "scale_fill": task_scale_fill,
    "scale_open": task_scale_open,
    "processes": task_processes,
    "fill": task_fill,
    "load": task_load,
    "trial_k": task_trial_k,
    "tpe": task_tpe,
}


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    print(json.dumps(TASKS[job["task"]](job)))
