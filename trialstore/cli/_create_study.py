"""``trialstore create-study``: create a study and print its name (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import storage_for_writing
from trialstore.cli._output import add_common, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``create-study`` sub-command."""
    parser = subparsers.add_parser(
        "create-study", help="create a study (and the storage, if there is none yet)"
    )
    add_common(parser)
    parser.add_argument("--study-name", default=None, help="the name (default: generated)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--direction", choices=("minimize", "maximize"), default=None)
    group.add_argument("--directions", nargs="+", choices=("minimize", "maximize"), default=None)
    parser.add_argument(
        "--skip-if-exists", action="store_true", help="reuse a study of that name if it exists"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Create the study; print its name (JSON, YAML: a list of one ``name`` record).

    Raises:
        DuplicatedStudyError: the name is taken (without ``--skip-if-exists``).
    """
    from trialstore.study import create_study

    with storage_for_writing(args.storage) as storage:
        study = create_study(
            storage=storage,
            study_name=args.study_name,
            direction=args.direction,
            directions=args.directions,
            load_if_exists=args.skip_if_exists,
        )
    if args.format in ("json", "yaml"):
        emit([{"name": study.study_name}], args.format, ["name"])
    else:
        print(study.study_name)
    return 0
