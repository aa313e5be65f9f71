"""``trialstore trials``: list the trials of a study (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, emit, trial_record

__all__ = ["COLUMNS", "register"]

COLUMNS = ["number", "state", "value", "params", "datetime_start", "datetime_complete"]


def register(subparsers: Any) -> None:
    """Add the ``trials`` sub-command."""
    parser = subparsers.add_parser("trials", help="list the trials of a study")
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one row per trial, ordered by number."""
    from trialstore.study import load_study

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
    emit([trial_record(t) for t in trials], args.format, COLUMNS)
    return 0
