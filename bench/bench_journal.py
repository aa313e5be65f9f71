"""Journal file storage: trialstore against Optuna 5.0, at the storage API level.

Run: ``python -m bench.bench_journal [--trials 1000] [--big 100000]``. Prints:

* trials/s for ``--trials`` trials (create, 5 params, complete) with 1 and 4 processes on one
  journal file, for both libraries, and the ratio;
* a fresh process's open (and read of all trials) of a ``--big``-trial journal written
  through trialstore's storage, as workers leave it (they keep its snapshot current), that
  no process has opened before: seconds and peak memory, against trialstore without any
  snapshot (a full replay) and Optuna on the same file;
* the median cost of a trial appended to a journal of 1k trials and of ``--big`` trials.

Self-contained: it uses only the two storages, no study layer.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import os
import tempfile
import time
from typing import Any

N_PARAMS = 5


def _make(lib: str, path: str) -> Any:
    if lib == "optuna":
        import optuna
        from optuna.storages.journal import JournalFileBackend as OptunaFileBackend

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        return optuna.storages.JournalStorage(OptunaFileBackend(path))
    from trialstore.storage.journal import JournalFileBackend, JournalStorage

    return JournalStorage(JournalFileBackend(path))


def _dist_and_states(lib: str) -> tuple[Any, Any, Any]:
    if lib == "optuna":
        from optuna.distributions import FloatDistribution
        from optuna.study import StudyDirection
        from optuna.trial import TrialState

        return FloatDistribution(0.0, 1.0), StudyDirection, TrialState
    import trialstore.distributions
    import trialstore.study
    import trialstore.trial

    return (
        trialstore.distributions.FloatDistribution(0.0, 1.0),
        trialstore.study.StudyDirection,
        trialstore.trial.TrialState,
    )


def _run_trials(lib: str, path: str, n: int, barrier: Any = None) -> float:
    """Append ``n`` trials to study 0 of the journal; return the seconds it took. The library
    is imported and the storage opened before the clock starts (and before ``barrier``)."""
    storage = _make(lib, path)
    dist, _, state = _dist_and_states(lib)
    sid = 0
    if barrier is not None:
        barrier.wait()
    start = time.perf_counter()
    for i in range(n):
        tid = storage.create_new_trial(sid)
        for p in range(N_PARAMS):
            storage.set_trial_param(tid, f"x{p}", (i * 7 + p) % 100 / 100, dist)
        storage.set_trial_state_values(tid, state.COMPLETE, [i * 0.5])
    return time.perf_counter() - start


def _worker(args: tuple[str, str, int, Any]) -> float:
    lib, path, n, barrier = args
    return _run_trials(lib, path, n, barrier)


def throughput(lib: str, n_trials: int, processes: int, directory: str) -> float:
    """Return trials/s for ``n_trials`` trials split over ``processes`` processes."""
    path = os.path.join(directory, f"{lib}-{processes}.log")
    _, direction, _ = _dist_and_states(lib)
    _make(lib, path).create_new_study([direction.MINIMIZE], "bench")
    if processes == 1:
        return n_trials / _run_trials(lib, path, n_trials)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with ctx.Pool(processes) as pool:
            result = pool.map_async(
                _worker, [(lib, path, n_trials // processes, barrier)] * processes
            )
            barrier.wait()
            start = time.perf_counter()
            result.get()
            elapsed = time.perf_counter() - start
    return n_trials / elapsed


def write_big_journal(path: str, n_trials: int) -> None:
    """Write a journal of one study with ``n_trials`` finished trials through trialstore's
    storage, one CREATE_TRIAL record per trial (the compact form), as a writer would: the
    writer keeps the snapshot current as it goes, and waits for the last one on close."""
    import datetime

    from trialstore._core import FrozenTrial, TrialState
    from trialstore.distributions import FloatDistribution
    from trialstore.storage.journal import JournalFileBackend, JournalStorage
    from trialstore.study import StudyDirection

    dist = FloatDistribution(0.0, 1.0)
    now = datetime.datetime.now()
    storage = JournalStorage(JournalFileBackend(path))
    sid = storage.create_new_study([StudyDirection.MINIMIZE], "bench")
    for i in range(n_trials):
        trial = FrozenTrial(
            number=i,
            state=TrialState.COMPLETE,
            value=i * 0.5,
            datetime_start=now,
            datetime_complete=now,
            params={f"x{p}": (i * 7 + p) % 100 / 100 for p in range(N_PARAMS)},
            distributions={f"x{p}": dist for p in range(N_PARAMS)},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=i,
        )
        storage.create_new_trial(sid, trial)
    storage.close()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _timed_open(lib: str, path: str, snapshots: bool = True) -> tuple[float, float, float]:
    """Open the journal and read all of study 0's trials (imports excluded); return the
    seconds, the peak resident memory (MB) and its growth over the state after imports.
    ``snapshots=False``: trialstore ignores the snapshot (a full replay) and writes none."""
    import resource

    importlib.import_module("optuna.storages" if lib == "optuna" else "trialstore.storage.journal")
    _dist_and_states(lib)
    baseline = _rss_mb()
    start = time.perf_counter()
    if snapshots:
        storage = _make(lib, path)
    else:
        from trialstore.storage.journal import JournalFileBackend, JournalStorage

        class NoSnapshot(JournalFileBackend):
            def load_snapshot(self) -> None:
                return None

        storage = JournalStorage(NoSnapshot(path), snapshot_threshold=0)
    storage.get_all_trials(0, deepcopy=False)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return seconds, peak, peak - baseline


def _in_fresh_process(fn: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--per-trial-sample", type=int, default=200)
    args = parser.parse_args()
    print(f"calibration: sum(range(10**7)) took {_calibration():.3f} s (about 0.1 s idle)")
    with tempfile.TemporaryDirectory() as directory:
        print(f"journal file, {args.trials} trials (create + {N_PARAMS} params + complete)")
        for processes in (1, 4):
            ours = throughput("trialstore", args.trials, processes, directory)
            theirs = throughput("optuna", args.trials, processes, directory)
            print(
                f"  {processes} process(es): trialstore {ours:8.1f} trials/s, "
                f"optuna {theirs:8.1f} trials/s, ratio {ours / theirs:5.2f}x"
            )
        big = os.path.join(directory, "big.log")
        write_big_journal(big, args.big)
        first = _in_fresh_process(_timed_open, "trialstore", big)
        replay = _in_fresh_process(_timed_open, "trialstore", big, False)
        optuna_open = _in_fresh_process(_timed_open, "optuna", big)
        print(f"opening a {args.big}-trial journal written by workers (fresh process, first open)")
        for label, (seconds, peak, growth) in (
            ("trialstore", first),
            ("trialstore, full replay", replay),
            ("optuna", optuna_open),
        ):
            print(f"  {label:<24} {seconds:6.3f} s, peak {peak:6.1f} MB (+{growth:.1f} MB)")
        speed, peak, growth = (
            optuna_open[0] / first[0],
            first[1] / optuna_open[1],
            first[2] / optuna_open[2],
        )
        print(f"  against optuna: {speed:.1f}x faster, peak {peak:.2f}x (growth {growth:.2f}x)")
        small = os.path.join(directory, "small.log")
        write_big_journal(small, 1000)
        n = args.per_trial_sample
        cost_small = _in_fresh_process(_open_then_run, small, n)
        cost_big = _in_fresh_process(_open_then_run, big, n)
        print(
            f"per-trial cost: {cost_small * 1e3:.3f} ms at 1k trials, {cost_big * 1e3:.3f} ms "
            f"at {args.big} trials, ratio {cost_big / cost_small:.2f}"
        )


def _open_then_run(path: str, n: int) -> float:
    """Open the journal, then return the median seconds per trial over 5 blocks of ``n``."""
    import statistics

    storage = _make("trialstore", path)
    dist, _, state = _dist_and_states("trialstore")
    blocks = []
    for block in range(5):
        start = time.perf_counter()
        for i in range(n):
            tid = storage.create_new_trial(0)
            for p in range(N_PARAMS):
                storage.set_trial_param(tid, f"x{p}", (i * 7 + p + block) % 100 / 100, dist)
            storage.set_trial_state_values(tid, state.COMPLETE, [i * 0.5])
        blocks.append((time.perf_counter() - start) / n)
    return statistics.median(blocks)


def _calibration() -> float:
    """Seconds of a fixed CPU-bound loop: shows how loaded the machine was."""
    start = time.perf_counter()
    sum(range(10**7))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
