"""``trialstore tell``: finish a trial that ``trialstore ask`` started (private)."""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from trialstore.cli._errors import UsageError
from trialstore.cli._open import existing_storage
from trialstore.logging import get_logger

__all__ = ["register"]

_logger = get_logger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``tell`` sub-command."""
    parser = subparsers.add_parser(
        "tell",
        help="finish a trial started by ask",
        description=(
            "Finish a RUNNING trial: with --values alone it becomes COMPLETE (FAIL, with a "
            "warning, when the values are not one number per objective); --state pruned or "
            "fail takes no values; with neither, the trial fails. Prints nothing; a log line "
            "says the trial's final state."
        ),
    )
    parser.add_argument("--storage", required=True, metavar="URL", help="storage URL")
    parser.add_argument("--study-name", required=True, help="the study")
    parser.add_argument("--trial-number", required=True, type=int, help="the trial's number")
    parser.add_argument(
        "--values", nargs="+", type=float, default=None, help="the objective values"
    )
    parser.add_argument(
        "--state", choices=("complete", "pruned", "fail"), default=None, help="the state"
    )
    parser.add_argument(
        "--skip-if-finished",
        action="store_true",
        help="do nothing, successfully, if the trial is finished already",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Finish the trial; return 0. The storage must exist (nothing is created).

    Raises:
        UsageError: ``--state complete`` without ``--values``, or pruned/fail with them.
        KeyError: no such study.
        ValueError: no such trial, or it is not RUNNING (without ``--skip-if-finished``).
    """
    from trialstore.study import load_study
    from trialstore.trial import TrialState

    if args.state == "complete" and args.values is None:
        raise UsageError("--state complete needs --values.")
    if args.state in ("pruned", "fail") and args.values is not None:
        raise UsageError(f"--state {args.state} takes no --values.")
    state = None if args.state is None else TrialState[args.state.upper()]
    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frozen = study.tell(
                args.trial_number,
                args.values,
                state=state,
                skip_if_finished=args.skip_if_finished,
            )
    for warning in caught:
        _logger.warning(f"Trial {args.trial_number}: {warning.message}")
    _logger.info(f"Trial {frozen.number} is {frozen.state.name} with values {frozen.values}.")
    return 0
