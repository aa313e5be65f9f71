"""``trialstore studies``: list the studies of a storage (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``studies`` sub-command."""
    parser = subparsers.add_parser("studies", help="list the studies of a storage")
    add_common(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one row per study: name, directions, trial count, first start."""
    from trialstore.study import get_all_study_summaries

    with existing_storage(args.storage) as storage:
        summaries = get_all_study_summaries(storage, include_best_trial=False)
    records = [
        {
            "name": s.study_name,
            "direction": [d.name for d in s.directions],
            "n_trials": s.n_trials,
            "datetime_start": s.datetime_start,
        }
        for s in summaries
    ]
    emit(records, args.format, ["name", "direction", "n_trials", "datetime_start"])
    return 0
