"""``trialstore trials``: list the trials of a study (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._output import add_common, emit, fail, trial_record

__all__ = ["register"]

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

    try:
        study = load_study(study_name=args.study_name, storage=args.storage)
        trials = study.get_trials(deepcopy=False)
    except (KeyError, ValueError, ImportError, OSError) as e:
        return fail("trials", str(e))
    emit([trial_record(t) for t in trials], args.format, COLUMNS)
    return 0
