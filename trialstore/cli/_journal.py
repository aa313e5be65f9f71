"""``trialstore journal compact``: rewrite a journal to its minimal equivalent."""

from __future__ import annotations

import argparse
import time
from typing import Any

from trialstore.cli._open import open_url
from trialstore.storage import mask_password

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``journal`` sub-command (with its ``compact`` action) to ``subparsers``."""
    parser = subparsers.add_parser(
        "journal",
        help="maintain journal storages",
        description="Maintain journal storages (journal:// files and journal+redis://).",
    )
    actions = parser.add_subparsers(dest="journal_command", metavar="ACTION", required=True)
    compact = actions.add_parser(
        "compact",
        help="rewrite a journal to its minimal equivalent and snapshot it",
        description=(
            "Journal file: rewrite it to the fewest records that give the same studies and "
            "trials (ids and numbers kept) and write a snapshot next to it; workers may keep "
            "running (Optuna processes must not). Redis: rewrite the log keys in place to the "
            "same minimal records followed by tiny stub records (every log number stays "
            "readable by Optuna) and write trialstore's snapshot; workers may keep running "
            "(Optuna processes must not, and Optuna's own <prefix>:snapshot key must not "
            "exist). Bytes count the record values (without Redis' per-key overhead)."
        ),
    )
    compact.add_argument(
        "--storage",
        required=True,
        metavar="URL",
        help="journal:///absolute/path.log or journal+redis://host:port/db?prefix=NAME",
    )
    compact.set_defaults(func=run_compact)


def run_compact(args: argparse.Namespace) -> int:
    """Compact the journal, which must exist; return 0.

    Raises:
        UsageError: not a journal URL, or one the journal backends refuse.
        StorageNotFoundError: no journal at the URL (nothing is created).
    """
    from trialstore.storage.journal import backend_from_url, compact_journal

    label = mask_password(args.storage)
    started = time.perf_counter()
    backend = open_url(args.storage, lambda url: backend_from_url(url, create=False), "--storage")
    try:
        result = compact_journal(backend)
    finally:
        backend.close()
    elapsed = time.perf_counter() - started
    if result.bytes_before:
        print(
            f"{label}: {result.records_before} records ({result.bytes_before} bytes) -> "
            f"{result.records_after} records ({result.bytes_after} bytes), snapshot written, "
            f"{elapsed:.2f} s"
        )
    elif result.snapshot_written:  # an empty journal file (0 bytes before)
        print(f"{label}: snapshot of {result.records_before} records written, {elapsed:.2f} s")
    else:
        print(f"{label}: the journal is empty, nothing to compact, {elapsed:.2f} s")
    return 0
