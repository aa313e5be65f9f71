"""``trialstore trials delete``: delete trials of a study, by number or by state (private)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trialstore._core import TrialState
from trialstore.cli._errors import UsageError
from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, emit
from trialstore.cli._records import TRIAL_NESTED, trial_table
from trialstore.exceptions import TrialstoreError
from trialstore.storage.base import BaseStorage

__all__ = ["add_delete"]

_STATES = [state.name for state in TrialState]


def add_delete(actions: Any) -> None:
    """Add the ``delete`` action to the ``trials`` command's ``actions``."""
    parser = actions.add_parser(
        "delete",
        help="delete trials of a study (by number or by state)",
        description=(
            "Delete trials of a study, all or nothing, so that no worker or reader sees them "
            "again (their numbers are not given again). Lists the trials and asks first "
            "unless --yes."
        ),
    )
    add_common(parser)
    parser.add_argument("--study-name", "--study", required=True, help="the study")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--number",
        type=int,
        nargs="+",
        action="extend",
        metavar="N",
        help="the numbers of the trials to delete",
    )
    which.add_argument(
        "--state",
        type=str.upper,
        nargs="+",
        action="extend",
        choices=_STATES,
        metavar="STATE",
        help=f"delete every trial in these states ({', '.join(_STATES)})",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list what would be deleted; delete nothing"
    )
    parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the chosen trials, ask (unless ``--yes`` or ``--dry-run``), delete them.

    Returns 1, having deleted nothing, when the answer is not yes.

    Raises:
        UsageError: no answer could be read (stdin closed: ``--yes`` is needed).
        KeyError: no such study, or a number names no trial (nothing deleted).
        TrialstoreError: the storage cannot delete trials.
    """
    from trialstore.study import load_study

    states = None if args.state is None else [TrialState[name] for name in args.state]
    with existing_storage(args.storage) as storage:
        if type(storage).delete_trials is BaseStorage.delete_trials:
            raise TrialstoreError(
                f"this storage ({type(storage).__name__}) cannot delete trials yet."
            )
        study = load_study(study_name=args.study_name, storage=storage)
        numbers = study.delete_trials(numbers=args.number, states=states, dry_run=True)
        if not numbers:
            print("No trial matches: nothing to delete.", file=sys.stderr)
            return 0
        chosen = set(numbers)
        trials = [t for t in study.get_trials(deepcopy=False) if t.number in chosen]
        table = trial_table(trials, len(study.directions))
        shown = ("number", "state", "value", "values", "params")
        columns = [c for c in table.columns if c in shown]
        emit(table.records, args.format, columns, nested=TRIAL_NESTED)
        what = f"{len(numbers)} trial{'s' * (len(numbers) != 1)} of study {args.study_name!r}"
        if args.dry_run:
            print(f"Dry run: would delete {what}.", file=sys.stderr)
            return 0
        if not args.yes and not _confirmed(f"Delete {what}? This cannot be undone. [y/N] "):
            print("trialstore trials delete: not confirmed; nothing deleted.", file=sys.stderr)
            return 1
        try:
            study.delete_trials(numbers=numbers)
        except NotImplementedError as e:
            raise TrialstoreError(f"this storage cannot delete trials ({e})") from None
    print(f"Deleted {what}.", file=sys.stderr)
    return 0


def _confirmed(question: str) -> bool:
    """Ask ``question`` on stderr; return whether the answer read from stdin is y or yes.

    Raises:
        UsageError: stdin is closed (not a terminal: ``--yes`` is needed).
    """
    print(question, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        raise UsageError(
            "no answer to the confirmation (use --yes to delete without one); nothing deleted."
        ) from None
    return answer.strip().lower() in ("y", "yes")
