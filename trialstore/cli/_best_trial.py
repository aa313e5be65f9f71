"""``trialstore best-trial``: show the best trial of a single-objective study (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._output import add_common, emit, fail, trial_record
from trialstore.cli._trials import COLUMNS

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``best-trial`` sub-command."""
    parser = subparsers.add_parser("best-trial", help="show the best trial of a study")
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the best COMPLETE trial; exit 1 if there is none or the study has several
    objectives."""
    from trialstore.study import load_study

    try:
        study = load_study(study_name=args.study_name, storage=args.storage)
        best = study.best_trial
    except (KeyError, ValueError, RuntimeError, ImportError, OSError) as e:
        return fail("best-trial", str(e))
    emit([trial_record(best)], args.format, COLUMNS)
    return 0
