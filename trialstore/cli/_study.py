"""``trialstore study set-user-attr``: set a user attribute of a study (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import existing_storage
from trialstore.logging import get_logger

__all__ = ["register"]

_logger = get_logger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``study`` sub-command with its ``set-user-attr`` action."""
    parser = subparsers.add_parser("study", help="change a study (set-user-attr)")
    actions = parser.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    set_user_attr = actions.add_parser(
        "set-user-attr",
        help="set a user attribute of a study (the value is stored as a string)",
        description="Set the user attribute KEY of a study to the string VALUE.",
    )
    set_user_attr.add_argument("--storage", required=True, metavar="URL", help="storage URL")
    set_user_attr.add_argument("--study-name", required=True, help="the study")
    set_user_attr.add_argument("-k", "--key", required=True, help="the attribute's name")
    set_user_attr.add_argument("--value", required=True, help="its value (a string)")
    set_user_attr.set_defaults(func=run_set_user_attr)


def run_set_user_attr(args: argparse.Namespace) -> int:
    """Set the attribute; print nothing (an INFO log line says it is done).

    The storage must exist (nothing is created).

    Raises:
        KeyError: no such study.
    """
    from trialstore.study import load_study

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        study.set_user_attr(args.key, args.value)
    _logger.info(f"Set the user attribute {args.key!r} of study {args.study_name!r}.")
    return 0
