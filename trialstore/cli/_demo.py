"""``trialstore demo``: a parallel study on the embedded default storage (private).

The default storage is a journal file in the system's temp directory (kept between runs, so
the printed commands work afterwards); without the journal backend, an in-memory storage.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import shutil
import sys
import tempfile
import threading
import time
from typing import Any

from trialstore.cli._errors import UsageError
from trialstore.cli._output import emit
from trialstore.cli._records import trial_table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo", help="run a small parallel study and print its best trial"
    )
    parser.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="storage URL (default: a journal file in the temp directory)",
    )
    parser.add_argument("--n-trials", type=int, default=60)
    parser.add_argument("--n-jobs", type=int, default=4)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def _default_storage() -> tuple[Any, str]:
    from trialstore.storage import get_storage

    path = os.path.join(tempfile.gettempdir(), "trialstore-demo", "demo.journal")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    url = f"journal://{os.path.abspath(path)}"
    try:
        return get_storage(url), url
    except (ImportError, ValueError):
        return get_storage(None), "(in memory: the journal backend is not available)"


def objective(trial: Any) -> float:
    """A 2-D Branin-like function with a little sleep, so threads really overlap."""
    x = trial.suggest_float("x", -5.0, 10.0)
    y = trial.suggest_float("y", 0.0, 15.0)
    time.sleep(0.01)
    trial.set_user_attr("thread", threading.current_thread().name)
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return float((y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10)


def run(args: argparse.Namespace) -> int:
    """Run the study and print a one-screen summary."""
    import trialstore
    from trialstore.trial import TrialState

    if args.n_trials < 1:
        raise UsageError(f"--n-trials must be >= 1, got {args.n_trials}")
    if args.n_jobs < 1 and args.n_jobs != -1:
        raise UsageError(f"--n-jobs must be >= 1, or -1 (one per CPU), got {args.n_jobs}")
    if args.storage is None:
        storage, label = _default_storage()
    else:
        storage, label = trialstore.storage.get_storage(args.storage), args.storage
    name = time.strftime("demo-%Y%m%d-%H%M%S")
    verbosity = trialstore.logging.get_verbosity()
    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    try:
        study = trialstore.create_study(
            storage=storage, study_name=name, sampler=trialstore.samplers.TPESampler(seed=0)
        )
        start = time.perf_counter()
        study.optimize(objective, n_trials=args.n_trials, n_jobs=args.n_jobs)
        elapsed = time.perf_counter() - start
    finally:
        trialstore.logging.set_verbosity(verbosity)
    trials = study.get_trials(deepcopy=False)
    best = study.best_trial
    table = trial_table(trials, 1)
    if args.format == "json":
        summary = {"storage": label, "study": name, "best": table.of([best])[0]}
        emit([summary], "json", [])
        return 0
    threads = sorted({str(t.user_attrs.get("thread")) for t in trials})
    counts = {s.name: sum(t.state == s for t in trials) for s in TrialState}
    print(f"trialstore demo: {len(trials)} trials in {elapsed:.2f} s on {args.n_jobs} threads")
    print(f"  storage : {label}")
    print(f"  study   : {name}")
    print(f"  states  : {', '.join(f'{k}={v}' for k, v in counts.items() if v)}")
    print(f"  threads : {', '.join(threads)}")
    print(f"  best    : trial {best.number}, value {best.value:.6f}, params {best.params}")
    print()
    print("Top 5 trials:")
    top = sorted(
        (t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value or 0.0
    )
    emit(table.of(top[:5]), "table", ["number", "value", "params"])
    if args.storage is None and label.startswith("journal://"):
        program = _program()
        print()
        print("Inspect it with:")
        print(f"  {program} studies --storage {label}")
        print(f"  {program} best-trial --storage {label} --study-name {name}")
    return 0


def _program() -> str:
    """How to run this command line again from the same directory: ``trialstore`` if that
    name finds this program on PATH, else the path it was started by (``.venv/bin/trialstore``
    under ``make demo``), else ``python -m trialstore.cli``."""
    started_as = sys.argv[0]
    if os.path.basename(started_as) == "trialstore":
        on_path = shutil.which("trialstore")
        if on_path is not None and os.path.samefile(on_path, started_as):
            return "trialstore"
        return shlex.quote(started_as)
    return f"{shlex.quote(sys.executable)} -m trialstore.cli"
