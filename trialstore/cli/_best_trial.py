"""``trialstore best-trial`` and ``best-trials``: a study's best trial, or its Pareto front
(private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, emit, trial_record
from trialstore.cli._trials import COLUMNS

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``best-trial`` and ``best-trials`` sub-commands."""
    parser = subparsers.add_parser(
        "best-trial", help="show the best trial of a single-objective study"
    )
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    parser.set_defaults(func=run_best_trial)
    parser = subparsers.add_parser(
        "best-trials",
        help="show the Pareto-optimal trials of a study (any number of objectives)",
    )
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    parser.set_defaults(func=run_best_trials)


def run_best_trial(args: argparse.Namespace) -> int:
    """Print the best COMPLETE trial.

    Raises:
        KeyError: no such study.
        ValueError: no COMPLETE trial, or several objectives (the message points to
            ``best-trials``).
    """
    from trialstore.study import load_study

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        if len(study.directions) > 1:
            raise ValueError(
                f"study {args.study_name!r} has {len(study.directions)} objectives, so no "
                "single best trial; its Pareto-optimal trials: trialstore best-trials "
                f"--storage {args.storage} --study-name {args.study_name}"
            )
        best = study.best_trial
    emit([trial_record(best)], args.format, COLUMNS)
    return 0


def run_best_trials(args: argparse.Namespace) -> int:
    """Print the Pareto-optimal COMPLETE trials, by number (none: an empty table)."""
    from trialstore.study import load_study

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        best = sorted(study.best_trials, key=lambda t: t.number)
    emit([trial_record(t) for t in best], args.format, COLUMNS)
    return 0
