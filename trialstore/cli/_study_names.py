"""``trialstore study-names``: the names of a storage's studies (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, add_flatten, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``study-names`` sub-command."""
    parser = subparsers.add_parser(
        "study-names", help="print the names of the studies of a storage, one per line"
    )
    add_common(parser, default="value")
    add_flatten(parser, "none: accepted for symmetry")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the study names by study id (``value``: one per line; others: ``name`` records)."""
    from trialstore.study import get_all_study_names

    with existing_storage(args.storage) as storage:
        names = get_all_study_names(storage)
    emit([{"name": name} for name in names], args.format, ["name"])
    return 0
