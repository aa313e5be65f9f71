"""``python -m bench``: the same workloads on trialstore and Optuna 5.0, with ratios.

Workloads: (a) optimize 1000 trials, RandomSampler, 5 float params, 1 process; (b) the same
split over 4 processes on one storage (``--param-writes at_tell``: trialstore's study layer
writes each trial's parameters in one batch, in (a) and (b)); (c) a fresh process loading a
study of 5000 finished trials, reading all of them and the best trial; (d) the mean cost of
the trials after the k-th (k = 1k, 10k, 100k; ``--k-scale`` shrinks k); (tpe) median best
value over 10 seeds after 100 TPE trials on (x-2)^2, 2-D Rosenbrock and 5-D sphere. Every
measurement runs in a fresh process; backends whose module or server is missing are skipped
with the reason.

``--limit`` measures against the database instead of Optuna: the server's one-row INSERT
commits/s from one connection, divided by the commits of a storage that commits each step
of a trial (7 by default, 3 with ``at_tell``), is the bound; (a) runs in both modes and prints
its share of that bound, and of trialstore's own floor (its 7 and 2 commits per trial); then
the client CPU per trial against trialstore as it was at ``--baseline`` (a git revision), run
in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from bench._backends import (
    ALL_BACKENDS,
    default_url,
    drop_created_databases,
    make_location,
    unavailable_reason,
)
from bench._limit import (
    BASELINE,
    COMMITS_PER_TRIAL,
    REFERENCE_COMMITS,
    commit_bound,
    export_code,
    server_commits,
)
from bench._scale import parse_count

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(job: dict[str, Any], timeout: float, code: str | None = None) -> dict[str, Any]:
    """Run ``job`` in a fresh worker process; with ``code``, a directory holding another
    ``trialstore`` package (see ``_limit.export_code``), the worker imports that one."""
    command = [sys.executable, "-m", "bench._worker", json.dumps(job)]
    if code is not None:
        start = f"import sys, runpy; sys.path.insert(0, {code!r}); "
        start += "runpy.run_module('bench._worker', run_name='__main__')"
        command = [sys.executable, "-c", start, json.dumps(job)]
    out = subprocess.run(
        command,
        cwd=_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else "failed")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _pair(
    job: dict[str, Any], backend: str, workdir: str, url: str | None, timeout: float
) -> dict[str, Any]:
    """Run ``job`` for both libraries, each on a fresh location; return {lib: result}."""
    results: dict[str, Any] = {}
    for lib in ("trialstore", "optuna"):
        location = make_location(backend, workdir, url)
        try:
            if job["task"] == "load":
                _run({**job, "task": "fill", "lib": lib, "location": location}, timeout)
            results[lib] = _run({**job, "lib": lib, "location": location}, timeout)
        except Exception as e:  # report and go on: one failing backend must not stop the run
            results[lib] = {"error": str(e)[:200]}
    return results


def _row(label: str, backend: str, results: dict[str, Any], key: str, higher: bool) -> str:
    ts, op = results.get("trialstore", {}), results.get("optuna", {})
    if key not in ts or key not in op:
        error = ts.get("error") or op.get("error") or "n/a"
        return f"{label:<34} {backend:<11} error: {error}"
    ratio = ts[key] / op[key] if higher else op[key] / ts[key]
    return f"{label:<34} {backend:<11} {ts[key]:>12.4g} {op[key]:>12.4g} {ratio:>8.2f}x"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--backends", default=",".join(ALL_BACKENDS))
    parser.add_argument("--url", action="append", default=[], help="BACKEND=URL")
    parser.add_argument("--only", default="a,b,c,d,tpe", help="workloads to run")
    parser.add_argument("--k-scale", type=float, default=1.0, help="scale k of (d)")
    parser.add_argument("--tpe-seeds", type=int, default=10)
    parser.add_argument("--tpe-trials", type=int, default=100)
    parser.add_argument(
        "--factor", type=float, default=1.0, help="scale the trial counts of (a), (b) and (c)"
    )
    parser.add_argument(
        "--scale",
        metavar="COUNT",
        help="instead of the usual workloads, a study of COUNT trials (e.g. 1m, 100k) on the "
        "journal file, SQLite and PostgreSQL: a fresh process's open time and peak memory, "
        "and the cost of a trial there against at 1k trials",
    )
    parser.add_argument(
        "--optuna-max",
        metavar="COUNT",
        default="100k",
        help="with --scale, the largest study Optuna is run on; beyond it, its open time "
        "and memory growth are extrapolated linearly (default 100k)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes for a smoke run (200/500 trials, k scaled by 0.01, 2 TPE seeds)",
    )
    parser.add_argument(
        "--limit",
        action="store_true",
        help="measure (a) in both param_writes modes against the commit bound of the SQL "
        "servers (postgresql, mysql) instead of the usual workloads",
    )
    parser.add_argument(
        "--baseline",
        metavar="REVISION",
        default=BASELINE,
        help="with --limit, also run trialstore as it was at this git revision, in the same "
        f"run, and print the client CPU per trial against it (default {BASELINE}, the code "
        "the goal of halving it was set on; 'none' skips it)",
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument(
        "--param-writes",
        choices=("immediate", "at_tell"),
        default="immediate",
        help="trialstore's param_writes in workloads (a) and (b) (Optuna always writes each "
        "parameter at once); the header and those rows name the mode",
    )
    args = parser.parse_args(argv)
    urls = dict(item.split("=", 1) for item in args.url)
    n_opt, n_load = max(8, int(1000 * args.factor)), max(10, int(5000 * args.factor))
    if args.quick:
        n_opt, n_load = 200, 500
        args.k_scale, args.tpe_seeds, args.tpe_trials = 0.01, 2, 30
    only = set(args.only.split(","))
    if args.scale is not None:
        try:
            _run_scale(
                args,
                urls,
                parse_count(args.scale, "--scale"),
                parse_count(args.optuna_max, "--optuna-max"),
            )
        except ValueError as e:
            parser.error(str(e))
        finally:
            drop_created_databases()
        return 0
    if args.limit:
        try:
            _run_limit(args, urls, n_opt)
        finally:
            drop_created_databases()
        return 0
    print(f"trialstore param_writes in (a) and (b): {args.param_writes}")
    header = f"{'workload':<34} {'backend':<11} {'trialstore':>12} {'optuna':>12} {'ratio':>9}"
    print(header)
    print("-" * len(header))
    try:
        _run_all(args, urls, only, n_opt, n_load)
    finally:
        drop_created_databases()
    return 0


def _run_all(
    args: argparse.Namespace, urls: dict[str, str], only: set[str], n_opt: int, n_load: int
) -> None:
    with tempfile.TemporaryDirectory(prefix="trialstore-bench-") as workdir:
        for backend in args.backends.split(","):
            url = urls.get(backend) or default_url(backend)
            reason = unavailable_reason(backend, url)
            if reason is not None:
                print(f"{'(all)':<34} {backend:<11} skipped: {reason}")
                continue
            _run_backend(args, backend, url, workdir, only, n_opt, n_load)
        if "tpe" in only:
            _run_tpe(args, workdir)


def _run_backend(
    args: argparse.Namespace,
    backend: str,
    url: str | None,
    workdir: str,
    only: set[str],
    n_opt: int,
    n_load: int,
) -> None:
    """Workloads (a) to (d) on one backend."""
    # Rows measured with param_writes="at_tell" say so, so that they are never read
    # as the default's.
    mode = "" if args.param_writes == "immediate" else f" [{args.param_writes}]"
    if "a" in only:
        job = {"task": "optimize", "n_trials": n_opt, "param_writes": args.param_writes}
        res = _pair(job, backend, workdir, url, args.timeout)
        label = f"(a) optimize {n_opt}{mode}, trials/s"
        print(_row(label, backend, res, "trials_per_s", True))
    if "b" in only:
        label = f"(b) 4 processes{mode}, trials/s"
        if backend == "memory":
            print(
                f"{label:<34} {backend:<11} skipped: "
                "in-memory storage is not shared across processes"
            )
        else:
            job = {
                "task": "processes",
                "n_trials": n_opt,
                "n_procs": 4,
                "param_writes": args.param_writes,
            }
            res = _pair(job, backend, workdir, url, args.timeout)
            print(_row(label, backend, res, "trials_per_s", True))
    if "c" in only:
        if backend == "memory":
            print(
                f"{'(c) load 5000 + read, s':<34} {backend:<11} skipped: "
                "in-memory storage does not outlive its process"
            )
        else:
            job = {"task": "load", "n_trials": n_load}
            res = _pair(job, backend, workdir, url, args.timeout)
            label = f"(c) load {n_load} + read, s"
            print(_row(label, backend, res, "seconds", False))
    if "d" in only:
        for k in (1_000, 10_000, 100_000):
            k_run = max(10, int(k * args.k_scale))
            job = {"task": "trial_k", "k": k_run, "n_measure": 100}
            res = _pair(job, backend, workdir, url, args.timeout)
            print(_row(f"(d) trial k={k_run}, ms/trial", backend, res, "ms_per_trial", False))
    sys.stdout.flush()


def _run_tpe(args: argparse.Namespace, workdir: str) -> None:
    """The TPE quality rows (in-memory, both libraries)."""
    seeds = list(range(args.tpe_seeds))
    n_tpe = args.tpe_trials
    print()
    print(
        f"TPE quality: median best value over {len(seeds)} seeds after {n_tpe} trials "
        "(lower is better; ratio = trialstore / optuna, target <= 2)"
    )
    for function in ("quadratic", "rosenbrock", "sphere5"):
        job = {"task": "tpe", "function": function, "n_trials": n_tpe, "seeds": seeds}
        res = _pair(job, "memory", workdir, None, args.timeout)
        medians = {
            lib: statistics.median(r["best_values"])
            for lib, r in res.items()
            if "best_values" in r
        }
        if len(medians) != 2:
            print(f"{function:<34} error: {res}")
            continue
        ts, op = medians["trialstore"], medians["optuna"]
        ratio = ts / op if op > 0 else float("inf") if ts > 0 else 1.0
        print(f"{function:<34} {'memory':<11} {ts:>12.4g} {op:>12.4g} {ratio:>8.2f}x")
        sys.stdout.flush()


def _run_limit(args: argparse.Namespace, urls: dict[str, str], n_trials: int) -> None:
    """The ``--limit`` run: per SQL server and mode, the commit bound, then (a); then the
    client CPU per trial against the ``--baseline`` revision's, measured in the same run."""
    goal = 0.6
    print(
        f"(a) optimize {n_trials} trials against the commit bound: bound = one-row INSERT "
        "commits/s (one connection, measured just before each row's run) / the commits of a "
        f"storage that commits each step (immediate {REFERENCE_COMMITS['immediate']}, at_tell "
        f"{REFERENCE_COMMITS['at_tell']}); goal: trialstore >= {goal:.0%} of the bound. "
        "'of floor': the share of commits/s / trialstore's own commits per trial "
        f"(immediate {COMMITS_PER_TRIAL['immediate']}, at_tell {COMMITS_PER_TRIAL['at_tell']})"
    )
    print("cpu: the client process's CPU ms per trial (its own time, the server's not counted)")
    header = (
        f"{'mode':<12} {'backend':<11} {'commits/s':>10} {'commits/trial':>14} "
        f"{'bound':>8} {'trialstore':>11} {'share':>7} {'of floor':>9} {'optuna':>8} "
        f"{'vs optuna':>10} {'cpu':>6} {'optuna cpu':>11}"
    )
    print(header)
    print("-" * len(header))
    cpu_rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="trialstore-bench-") as workdir:
        code = _baseline_code(args.baseline, workdir)
        for backend in args.backends.split(","):
            if backend not in ("postgresql", "mysql"):
                continue
            url = urls.get(backend) or default_url(backend)
            reason = unavailable_reason(backend, url)
            if reason is not None:
                print(f"{'(all)':<12} {backend:<11} skipped: {reason}")
                continue
            job = {"task": "optimize", "n_trials": n_trials}
            location = make_location(backend, workdir, url)
            optuna_run = _run({**job, "lib": "optuna", "location": location}, args.timeout)
            for mode in COMMITS_PER_TRIAL:
                job = {**job, "lib": "trialstore", "param_writes": mode}
                cpu_ms = _limit_row(args, job, backend, workdir, url, optuna_run)
                if code is not None:
                    location = make_location(backend, workdir, url)
                    then = _run({**job, "location": location}, args.timeout, code)
                    cpu_rows.append(
                        f"{mode:<12} {backend:<11} {then['cpu_ms']:>13.2f} {cpu_ms:>8.2f} "
                        f"{cpu_ms / then['cpu_ms']:>7.2f}x {then['trials_per_s']:>14.1f}"
                    )
    if cpu_rows:
        print(
            f"\nclient CPU ms per trial against trialstore at {args.baseline} (same run, "
            "each run of it just after the row's run above); goal: 0.5x"
        )
        header = f"{'mode':<12} {'backend':<11} {'baseline cpu':>13} {'cpu':>8} {'ratio':>8} "
        header += f"{'baseline trials/s':>14}"
        print(header)
        print("-" * len(header))
        print("\n".join(cpu_rows))


def _baseline_code(revision: str, workdir: str) -> str | None:
    """The directory holding trialstore at ``revision`` (``--baseline``), or None (with a
    line saying why) when it is ``none`` or cannot be exported."""
    if revision == "none":
        return None
    try:
        return export_code(_ROOT, revision, os.path.join(workdir, "baseline"))
    except RuntimeError as e:
        print(f"(the baseline {revision} is skipped: {e})")
        return None


def _limit_row(
    args: argparse.Namespace,
    job: dict[str, Any],
    backend: str,
    workdir: str,
    url: str | None,
    optuna_run: dict[str, Any],
) -> float:
    """Measure the commit bound, then run ``job`` (trialstore's (a) in one mode) on a fresh
    database; print its row and return its client CPU ms per trial."""
    mode, n_trials = job["param_writes"], job["n_trials"]
    location = make_location(backend, workdir, url)
    commits_per_s = commit_bound(location["url"])
    bound = commits_per_s / REFERENCE_COMMITS[mode]
    floor = commits_per_s / COMMITS_PER_TRIAL[mode]
    location = make_location(backend, workdir, url)
    before = server_commits(location["url"])
    result = _run({**job, "location": location}, args.timeout)
    measured = _commits_per_trial(location["url"], before, n_trials)
    shown = f"{measured:.2f}" if measured is not None else f"({COMMITS_PER_TRIAL[mode]})"
    rate, optuna = result["trials_per_s"], optuna_run["trials_per_s"]
    print(
        f"{mode:<12} {backend:<11} {commits_per_s:>10.0f} {shown:>14} "
        f"{bound:>8.0f} {rate:>11.1f} {rate / bound:>7.0%} {rate / floor:>9.0%} "
        f"{optuna:>8.1f} {rate / optuna:>9.2f}x {result['cpu_ms']:>6.2f} "
        f"{optuna_run['cpu_ms']:>11.2f}"
    )
    sys.stdout.flush()
    return float(result["cpu_ms"])


def _run_scale(args: argparse.Namespace, urls: dict[str, str], n: int, optuna_max: int) -> None:
    """The ``--scale`` run: per backend, a study of ``n`` trials and one of 1000."""
    # 2000 measured trials: one whole cycle of the RDB snapshot writer (it writes a segment
    # once a process has read snapshot_threshold, 2000, finished trials as rows), so the
    # window holds the segment writes a steady run pays, neither more nor fewer.
    small, n_measure = 1000, 2000
    n_optuna = min(n, optuna_max)
    note = (
        ""
        if n_optuna == n
        else f" (optuna measured at {n_optuna}, extrapolated x{n / n_optuna:g})"
    )
    print(
        f"(s) a study of {n} trials (5 params, 2 intermediate values each), read by a fresh "
        f"process{note}. Goals: open < 3 s; peak memory <= 0.5x optuna's; a trial at {n} "
        f"<= 1.2x a trial at {small}"
    )
    header = f"{'measure':<34} {'backend':<11} {'trialstore':>12} {'optuna':>12} {'ratio':>9}"
    print(header)
    print("-" * len(header))
    chosen = [b for b in args.backends.split(",") if b in ("journal", "sqlite", "postgresql")]
    per_trial: list[str] = []
    with tempfile.TemporaryDirectory(prefix="trialstore-bench-") as workdir:
        for backend in chosen:
            url = urls.get(backend) or default_url(backend)
            reason = unavailable_reason(backend, url)
            if reason is not None:
                print(f"{'(all)':<34} {backend:<11} skipped: {reason}")
                continue
            runs: dict[tuple[str, int], dict[str, Any]] = {}
            for lib, count, measure in (
                ("trialstore", n, n_measure),
                ("trialstore", small, n_measure),
                ("optuna", n_optuna, 0),
            ):
                location = make_location(backend, workdir, url)
                job = {"location": location, "n_trials": count, "lib": lib}
                _run({**job, "task": "scale_fill"}, args.timeout)
                runs[lib, count] = _run(
                    {**job, "task": "scale_open", "n_measure": measure}, args.timeout
                )
                if backend != "journal" and (lib, count) == ("trialstore", n):
                    without = {**job, "task": "scale_open", "n_measure": 0, "drop_segments": True}
                    runs["rows", n] = _run(without, args.timeout)
                if backend == "journal":
                    os.remove(location["path"])
            ts, small_run, op = (
                runs["trialstore", n],
                runs["trialstore", small],
                runs["optuna", n_optuna],
            )
            stretch = n / n_optuna
            op_seconds = op["seconds"] * stretch
            op_peak = op["peak_mb"] - op["growth_mb"] + op["growth_mb"] * stretch
            rows = [
                (f"open {n} + read all, s", ts["seconds"], op_seconds, op_seconds / ts["seconds"]),
                (f"peak memory at {n}, MB", ts["peak_mb"], op_peak, ts["peak_mb"] / op_peak),
            ]
            bare = runs.get(("rows", n))
            if bare is not None:  # RDB: the same study without trialstore's segments
                rows += [
                    (
                        "  without segments, s",
                        bare["seconds"],
                        op_seconds,
                        op_seconds / bare["seconds"],
                    ),
                    (
                        "  without segments, MB",
                        bare["peak_mb"],
                        op_peak,
                        bare["peak_mb"] / op_peak,
                    ),
                ]
            for label, ours, theirs, ratio in rows:
                print(f"{label:<34} {backend:<11} {ours:>12.4g} {theirs:>12.4g} {ratio:>8.2f}x")
            per_trial.append(
                f"{'trialstore ms/trial':<34} {backend:<11} {ts['ms_per_trial']:>12.4g} "
                f"{small_run['ms_per_trial']:>12.4g} "
                f"{ts['ms_per_trial'] / small_run['ms_per_trial']:>8.2f}x"
            )
            sys.stdout.flush()
    print()
    header = (
        f"{'per-trial cost':<34} {'backend':<11} {f'at {n}':>12} {f'at {small}':>12} {'ratio':>9}"
    )
    print(header)
    print("-" * len(header))
    print("\n".join(per_trial))


def _commits_per_trial(url: str, before: int | None, n_trials: int) -> float | None:
    """Commits per trial the server counted since ``before`` (None where it does not count)."""
    if before is None:
        return None
    time.sleep(1.5)  # the server's statistics are flushed up to a second late
    after = server_commits(url)
    return None if after is None else (after - before) / n_trials


if __name__ == "__main__":
    sys.exit(main())
