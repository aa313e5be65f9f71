"""``trialstore trials``: list the trials of a study; ``trials delete`` deletes some (private)."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._delete_trials import add_delete
from trialstore.cli._errors import UsageError
from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, add_flatten, emit
from trialstore.cli._records import TRIAL_NESTED, trial_table

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``trials`` sub-command and its ``delete`` action."""
    parser = subparsers.add_parser(
        "trials", help="list the trials of a study (trials delete: delete some)"
    )
    add_common(parser)
    parser.add_argument("--study-name", help="the study (required)")
    add_flatten(parser, "values, params, user_attrs")
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="trials_command", metavar="ACTION", required=False)
    add_delete(actions)


def run(args: argparse.Namespace) -> int:
    """Print one record per trial, by number (fields: ``_records.trial_table``).

    Raises:
        UsageError: no ``--study-name``.
        KeyError: no such study.
    """
    from trialstore.study import load_study

    if args.study_name is None:
        raise UsageError("the following arguments are required: --study-name")

    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        table = trial_table(study.get_trials(deepcopy=False), len(study.directions))
    emit(table.records, args.format, table.columns, flatten=args.flatten, nested=TRIAL_NESTED)
    return 0
