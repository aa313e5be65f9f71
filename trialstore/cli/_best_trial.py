"""``trialstore best-trial`` and ``best-trials``: a study's best trial, or its Pareto front
(private).

Both show trial records as ``trials`` does, with the columns of the study's whole trial table
(a column that only other trials fill stays, empty), as Optuna's CLI does.
"""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, add_flatten, emit
from trialstore.cli._records import TRIAL_NESTED, trial_table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``best-trial`` and ``best-trials`` sub-commands."""
    parser = subparsers.add_parser(
        "best-trial", help="show the best trial of a single-objective study"
    )
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    add_flatten(parser, "params, user_attrs")
    parser.set_defaults(func=run_best_trial)
    parser = subparsers.add_parser(
        "best-trials",
        help="show the Pareto-optimal trials of a study (any number of objectives)",
    )
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    add_flatten(parser, "values, params, user_attrs")
    parser.set_defaults(func=run_best_trials)


def run_best_trial(args: argparse.Namespace) -> int:
    """Print the best COMPLETE trial (JSON, YAML: one object).

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
        table = trial_table(study.get_trials(deepcopy=False), 1)
    emit(
        table.of([best]),
        args.format,
        table.columns,
        flatten=args.flatten,
        nested=TRIAL_NESTED,
        single=True,
        column_records=table.records,
    )
    return 0


def run_best_trials(args: argparse.Namespace) -> int:
    """Print the Pareto-optimal COMPLETE trials, by number (none: no records).

    Raises:
        KeyError: no such study.
    """
    from trialstore.study import load_study

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        best = sorted(study.best_trials, key=lambda t: t.number)
        table = trial_table(study.get_trials(deepcopy=False), len(study.directions))
    emit(
        table.of(best),
        args.format,
        table.columns,
        flatten=args.flatten,
        nested=TRIAL_NESTED,
        column_records=table.records,
    )
    return 0
