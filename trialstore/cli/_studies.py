"""``trialstore studies``: list the studies of a storage (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, add_flatten, emit
from trialstore.cli._records import STUDY_NESTED, study_table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``studies`` sub-command."""
    parser = subparsers.add_parser("studies", help="list the studies of a storage")
    add_common(parser)
    add_flatten(parser, "direction")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one record per study, by study id (fields: ``_records.study_table``)."""
    from trialstore.study import get_all_study_summaries

    with existing_storage(args.storage) as storage:
        summaries = get_all_study_summaries(storage, include_best_trial=False)
    table = study_table(summaries)
    emit(table.records, args.format, table.columns, flatten=args.flatten, nested=STUDY_NESTED)
    return 0
