"""``trialstore copy``: copy studies between two storages (any URLs, Optuna's files included)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from trialstore.cli._errors import UsageError
from trialstore.cli._open import existing_storage, storage_for_writing
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage import BaseStorage, clone_study, mask_password

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``copy`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "copy",
        help="copy studies from one storage to another",
        description=(
            "Copy studies with their trials from one storage URL to another, keeping trial "
            "numbers, states, datetimes, params, attributes, values and intermediate values. "
            "A study that already exists in the destination is left alone (exit code 1, "
            "nothing written) unless --overwrite is given, which deletes and recreates it."
        ),
    )
    parser.add_argument("--from", dest="from_url", required=True, metavar="URL")
    parser.add_argument("--to", dest="to_url", required=True, metavar="URL")
    parser.add_argument(
        "--study",
        dest="studies",
        action="append",
        metavar="NAME",
        help="a study to copy (repeatable); default: every study of the source",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete and recreate destination studies that already exist",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Copy the studies; return 0.

    The destination is opened (and created, if it does not exist) only once every study to
    copy is found in the source, which must exist.

    Raises:
        UsageError: ``--from`` and ``--to`` are the same URL, or one the library refuses.
        KeyError: a ``--study`` is not in the source.
        DuplicatedStudyError: the destination has a study of that name (no ``--overwrite``);
            nothing was copied.
    """
    from_label, to_label = mask_password(args.from_url), mask_password(args.to_url)
    if args.from_url == args.to_url:
        raise UsageError("--from and --to are the same storage.")
    with existing_storage(args.from_url, "--from") as source:
        studies = {s.study_name: s._study_id for s in source.get_all_studies()}
        names: list[str] = args.studies or list(studies)
        missing = [name for name in names if name not in studies]
        if missing:
            raise KeyError(f"no study named {missing[0]!r} in {from_label}; nothing was copied.")
        with storage_for_writing(args.to_url, "--to") as destination:
            existing = {s.study_name for s in destination.get_all_studies()}
            clashes = [name for name in names if name in existing]
            if clashes and not args.overwrite:
                raise DuplicatedStudyError(
                    f"{to_label} already has a study named {clashes[0]!r}; nothing was copied "
                    "(use --overwrite to replace it)."
                )
            _copy(args, source, destination, names, studies)
            for name in names:
                count = destination.get_n_trials(destination.get_study_id_from_name(name))
                print(f"copied study {name!r} ({count} trials) from {from_label} to {to_label}")
    return 0


def _copy(
    args: argparse.Namespace,
    source: BaseStorage,
    destination: BaseStorage,
    names: list[str],
    studies: dict[str, int],
) -> None:
    total = sum(source.get_n_trials(studies[name]) for name in names)
    with tqdm(
        total=total, unit="trial", desc="copy", disable=args.no_progress, file=sys.stderr
    ) as bar:
        for name in names:
            bar.set_postfix_str(name, refresh=False)
            clone_study(
                source,
                destination,
                name,
                overwrite=args.overwrite,
                on_trial=lambda _trial: bar.update(1),
            )
