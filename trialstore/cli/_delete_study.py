"""``trialstore delete-study``: delete a study and its trials (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``delete-study`` sub-command."""
    parser = subparsers.add_parser("delete-study", help="delete a study and its trials")
    add_common(parser)
    parser.add_argument("--study-name", required=True, help="the study")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Delete the study.

    Raises:
        KeyError: no such study.
    """
    from trialstore.study import delete_study

    with existing_storage(args.storage) as storage:
        delete_study(study_name=args.study_name, storage=storage)
    if args.format in ("json", "yaml"):
        emit([{"deleted": args.study_name}], args.format, ["deleted"])
    else:
        print(f"Deleted study {args.study_name!r}.")
    return 0
