"""gRPC proxy benchmark: trialstore's proxy and Optuna 5.0's, PostgreSQL behind both.

    python -m bench.bench_grpc [--pg-url URL] [--only a,b] [--clients 1000] ...

(a) ``--trials`` trials (1000) split over ``--procs`` client processes (4), each running the
    library's own ``optimize`` with RandomSampler and 5 float params through the proxy; the
    clock starts once every process has imported, connected and loaded the study.
    Reports the CPU a trial took, as (b) does.
(b) ``--clients`` concurrent clients (1000) spread over ``--client-procs`` processes (8), each
    thread with its own client object and channel (opened on the clock, which starts once
    the processes have imported), each running ``--trials-per-client`` trials
    at the storage level (create_new_trial, 2 x set_trial_param, set_trial_state_values,
    get_trial). Checks: zero errors, every trial numbered exactly once (numbers dense per
    study), and the database connections the proxy opens (sampled from ``pg_stat_activity``
    every 20 ms) never above the proxy's pool size. Reports p50/p99 latency per operation,
    and the CPU a trial took in the client processes, the proxy and PostgreSQL (that last
    figure needs the server on this machine: see ``bench/_cpu.py``).

Each library's proxy runs in its own process over a fresh PostgreSQL database; the proxy's
database pool is ``--pool-size`` connections (trialstore: ``pool_size``, no overflow; Optuna:
the same engine arguments). Results print as a table and, with ``--json FILE``, as JSON.

``--param-writes at_tell`` (default ``immediate``): trialstore's clients write a trial's
parameters with the finish, in (a) through the study layer's ``param_writes="at_tell"``, in
(b) as one ``set_trial_params_and_state_values`` instead of two ``set_trial_param`` and
``set_trial_state_values``; the output names the mode.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

from bench._cpu import cpu_report, postgres_cpu_seconds, postgres_cpu_since, process_cpu_seconds

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# -- servers -------------------------------------------------------------------------------


def _serve(lib: str, url: str, port: int, pool_size: int) -> None:
    """Run one library's proxy over ``url`` (in this process) until terminated."""
    import warnings

    warnings.simplefilter("ignore")
    engine_kwargs = {"pool_size": pool_size, "max_overflow": 0}
    if lib == "trialstore":
        from trialstore.storage import run_grpc_proxy_server
        from trialstore.storage.rdb import RDBStorage

        storage: Any = RDBStorage(url, engine_kwargs=engine_kwargs)
        run_grpc_proxy_server(storage, host="127.0.0.1", port=port, max_workers=32)
    else:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        rdb = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        cached = optuna.storages.get_storage(rdb)  # Optuna's advice: the cached wrapper
        optuna.storages.run_grpc_proxy_server(cached, host="127.0.0.1", port=port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _fresh_database(admin_url: str) -> tuple[str, str]:
    import sqlalchemy as sa

    name = f"bench_grpc_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    return name, url


def _drop_database(admin_url: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    engine.dispose()


class _ConnectionMonitor(threading.Thread):
    """Samples the number of connections to one database every 20 ms."""

    def __init__(self, admin_url: str, database: str) -> None:
        super().__init__(daemon=True)
        import sqlalchemy as sa

        self._engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
        self._database = database
        self._halt = threading.Event()
        self.peak = 0

    def run(self) -> None:
        import sqlalchemy as sa

        query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d")
        with self._engine.connect() as conn:
            while not self._halt.is_set():
                count: int = conn.execute(query, {"d": self._database}).scalar_one()
                self.peak = max(self.peak, count)
                conn.rollback()
                time.sleep(0.02)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        self._engine.dispose()
        return self.peak


class _Server:
    def __init__(self, lib: str, admin_url: str, pool_size: int) -> None:
        self.admin_url = admin_url
        self.database, self.url = _fresh_database(admin_url)
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bench_grpc",
                "_serve",
                lib,
                self.url,
                str(self.port),
                str(pool_size),
            ],
            cwd=_ROOT,
        )
        _wait_ready(self.port)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        _drop_database(self.admin_url, self.database)


def _start_workers(commands: list[list[str]]) -> tuple[list[subprocess.Popen[str]], float]:
    """Start a worker process per command (in the project's root, stdin and stdout piped),
    wait until each has printed ``ready`` (imported, and in (a) connected with the study
    loaded), then tell them all to go; return them and the clock's start. As in the other
    multi-process benches, the processes' start-up is not the proxy's throughput."""
    workers = [
        subprocess.Popen(
            command, cwd=_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for command in commands
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    start = time.perf_counter()
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    return workers, start


def _wait_ready(port: int, timeout: float = 120.0) -> None:
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=timeout)


def _client(lib: str, port: int) -> Any:
    if lib == "trialstore":
        from trialstore.storage import GrpcStorageProxy

        return GrpcStorageProxy(host="127.0.0.1", port=port, retry_timeout=120.0)
    import optuna

    return optuna.storages.GrpcStorageProxy(host="127.0.0.1", port=port)


def _module(lib: str) -> Any:
    import warnings

    warnings.simplefilter("ignore")
    if lib == "trialstore":
        import trialstore

        trialstore.logging.set_verbosity(trialstore.logging.WARNING)
        return trialstore
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# -- (a) optimize through the proxy from a few processes ----------------------------------


def _optimize_worker(
    lib: str, port: int, study_name: str, n_trials: int, param_writes: str = "immediate"
) -> None:
    mod = _module(lib)
    options = {"param_writes": param_writes} if lib == "trialstore" else {}
    study = mod.load_study(
        study_name=study_name,
        storage=_client(lib, port),
        sampler=mod.samplers.RandomSampler(),
        **options,
    )

    def objective(trial: Any) -> float:
        return float(sum(trial.suggest_float(f"x{i}", -10, 10) ** 2 for i in range(5)))

    print("ready", flush=True)  # imported, connected, study loaded: the parent starts the clock
    sys.stdin.readline()
    cpu = time.process_time()
    study.optimize(objective, n_trials=n_trials)
    print(time.process_time() - cpu, flush=True)


def workload_a(
    lib: str,
    admin_url: str,
    trials: int,
    procs: int,
    pool_size: int,
    param_writes: str = "immediate",
) -> dict[str, Any]:
    server = _Server(lib, admin_url, pool_size)
    try:
        mod = _module(lib)
        mod.create_study(study_name="a", storage=_client(lib, server.port))
        per = [trials // procs + (1 if i < trials % procs else 0) for i in range(procs)]
        me = [sys.executable, "-m", "bench.bench_grpc"]
        workers, start = _start_workers(
            [[*me, "_optimize", lib, str(server.port), "a", str(n), param_writes] for n in per]
        )
        proxy_cpu, postgres_cpu = process_cpu_seconds(server.proc.pid), postgres_cpu_seconds()
        outputs = [w.communicate()[0] for w in workers]
        elapsed = time.perf_counter() - start
        proxy_cpu = process_cpu_seconds(server.proc.pid) - proxy_cpu
        postgres_spent = postgres_cpu_since(postgres_cpu)
        codes = [w.returncode for w in workers]
        study = mod.load_study(study_name="a", storage=_client(lib, server.port))
        n_done = len(study.trials)
    finally:
        server.close()
    return {
        "param_writes": param_writes if lib == "trialstore" else "immediate",
        "trials": n_done,
        "seconds": elapsed,
        "trials_per_s": n_done / elapsed,
        "worker_failures": sum(1 for c in codes if c != 0),
        "cpu_s": {
            "clients": sum(float(out.split()[-1]) for out in outputs if out.strip()),
            "proxy": proxy_cpu,
            "postgres": postgres_spent,
        },
    }


# -- (b) many concurrent clients ------------------------------------------------------------


def _clients_worker(
    lib: str,
    port: int,
    study_id: int,
    threads: int,
    per_client: int,
    param_writes: str = "immediate",
) -> None:
    """Run ``threads`` clients; print JSON {errors, latencies: {op: [seconds]}}."""
    batched = lib == "trialstore" and param_writes == "at_tell"
    mod = _module(lib)
    dist = mod.distributions.FloatDistribution(-10, 10)
    complete = mod.trial.TrialState.COMPLETE
    barrier = threading.Barrier(threads)
    lock = threading.Lock()
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []

    def timed(op: str, call: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        result = call(*args)
        elapsed = time.perf_counter() - t0
        with lock:
            latencies.setdefault(op, []).append(elapsed)
        return result

    def client_thread() -> None:
        try:
            storage = _client(lib, port)
            barrier.wait()
            for _ in range(per_client):
                trial_id = timed("create_new_trial", storage.create_new_trial, study_id)
                if batched:  # the parameters with the finish, as an at_tell study does
                    timed(
                        "set_trial_params_and_state_values",
                        storage.set_trial_params_and_state_values,
                        trial_id,
                        {"x": (1.0, dist), "y": (2.0, dist)},
                        complete,
                        [5.0],
                    )
                else:
                    timed("set_trial_param", storage.set_trial_param, trial_id, "x", 1.0, dist)
                    timed("set_trial_param", storage.set_trial_param, trial_id, "y", 2.0, dist)
                    timed(
                        "set_trial_state_values",
                        storage.set_trial_state_values,
                        trial_id,
                        complete,
                        [5.0],
                    )
                timed("get_trial", storage.get_trial, trial_id)
        except Exception as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}"[:300])

    pool = [threading.Thread(target=client_thread) for _ in range(threads)]
    print("ready", flush=True)  # imported: the parent starts the clock
    sys.stdin.readline()
    cpu = time.process_time()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    cpu = time.process_time() - cpu
    print(json.dumps({"errors": errors, "latencies": latencies, "cpu_s": cpu}))


def workload_b(
    lib: str,
    admin_url: str,
    clients: int,
    procs: int,
    per_client: int,
    pool_size: int,
    param_writes: str = "immediate",
) -> dict[str, Any]:
    server = _Server(lib, admin_url, pool_size)
    monitor = _ConnectionMonitor(admin_url, server.database)
    try:
        study_id = _client(lib, server.port).create_new_study(
            [_module(lib).study.StudyDirection.MINIMIZE], "b"
        )
        monitor.start()
        per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
        me = [sys.executable, "-m", "bench.bench_grpc", "_clients", lib, str(server.port)]
        workers, start = _start_workers(
            [[*me, str(study_id), str(n), str(per_client), param_writes] for n in per]
        )
        proxy_cpu, postgres_cpu = process_cpu_seconds(server.proc.pid), postgres_cpu_seconds()
        outputs = [w.communicate()[0] for w in workers]
        elapsed = time.perf_counter() - start
        proxy_cpu = process_cpu_seconds(server.proc.pid) - proxy_cpu
        postgres_spent = postgres_cpu_since(postgres_cpu)
        peak = monitor.stop()
        numbers = _trial_numbers(server.url)
    finally:
        server.close()
    errors: list[str] = []
    latencies: dict[str, list[float]] = {}
    clients_cpu = 0.0
    for out in outputs:
        lines = out.strip().splitlines()
        if not lines:
            errors.append("a client process died")
            continue
        result = json.loads(lines[-1])
        errors += result["errors"]
        clients_cpu += result["cpu_s"]
        for op, values in result["latencies"].items():
            latencies.setdefault(op, []).extend(values)
    expected = clients * per_client
    return {
        "param_writes": param_writes if lib == "trialstore" else "immediate",
        "clients": clients,
        "trials": len(numbers),
        "expected_trials": expected,
        "numbers_unique_and_dense": sorted(numbers) == list(range(len(numbers))),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": elapsed,
        "trials_per_s": len(numbers) / elapsed,
        "db_connections_peak": peak,
        "pool_size": pool_size,
        "cpu_s": {"clients": clients_cpu, "proxy": proxy_cpu, "postgres": postgres_spent},
        "latency_ms": {
            op: {"p50": _pct(v, 50) * 1e3, "p99": _pct(v, 99) * 1e3, "n": len(v)}
            for op, v in sorted(latencies.items())
        },
    }


def _pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _trial_numbers(url: str) -> list[int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT number FROM trials")).scalars().all()
    engine.dispose()
    return list(rows)


# -- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "_serve":
        _serve(args[1], args[2], int(args[3]), int(args[4]))
        return 0
    if args and args[0] == "_optimize":
        _optimize_worker(args[1], int(args[2]), args[3], int(args[4]), args[5])
        return 0
    if args and args[0] == "_clients":
        _clients_worker(args[1], int(args[2]), int(args[3]), int(args[4]), int(args[5]), args[6])
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.bench_grpc", description=__doc__)
    parser.add_argument(
        "--pg-url", default=os.environ.get("TRIALSTORE_TEST_POSTGRES_URL", DEFAULT_PG)
    )
    parser.add_argument("--only", default="a,b")
    parser.add_argument("--libs", default="trialstore,optuna")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--client-procs", type=int, default=8)
    parser.add_argument("--trials-per-client", type=int, default=1)
    parser.add_argument("--pool-size", type=int, default=8)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument(
        "--param-writes",
        choices=("immediate", "at_tell"),
        default="immediate",
        help="how trialstore's clients write a trial's parameters (see above)",
    )
    opts = parser.parse_args(args)
    print(f"trialstore param_writes: {opts.param_writes}", flush=True)
    results: dict[str, Any] = {}
    for lib in opts.libs.split(","):
        if "a" in opts.only.split(","):
            results[f"a/{lib}"] = workload_a(
                lib, opts.pg_url, opts.trials, opts.procs, opts.pool_size, opts.param_writes
            )
            print(f"(a) {lib}: {json.dumps(results[f'a/{lib}'])}", flush=True)
            a = results[f"a/{lib}"]
            print(f"(a) {lib} {cpu_report(a['cpu_s'], a['trials'], 'trial', a['seconds'])}")
        if "b" in opts.only.split(","):
            results[f"b/{lib}"] = workload_b(
                lib,
                opts.pg_url,
                opts.clients,
                opts.client_procs,
                opts.trials_per_client,
                opts.pool_size,
                opts.param_writes,
            )
            print(f"(b) {lib}: {json.dumps(results[f'b/{lib}'])}", flush=True)
            b = results[f"b/{lib}"]
            print(f"(b) {lib} {cpu_report(b['cpu_s'], b['trials'], 'trial', b['seconds'])}")
    for workload in ("a", "b"):
        ts, op = results.get(f"{workload}/trialstore"), results.get(f"{workload}/optuna")
        if ts and op:
            print(
                f"({workload}) trials/s trialstore [{ts['param_writes']}] "
                f"{ts['trials_per_s']:.1f}, optuna {op['trials_per_s']:.1f}: "
                f"{ts['trials_per_s'] / op['trials_per_s']:.1f}x"
            )
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
