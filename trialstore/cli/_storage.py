"""``trialstore storage upgrade``: bring an RDB storage's schema to the current version."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._open import open_url
from trialstore.storage import mask_password

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``storage`` sub-command (with its ``upgrade`` action) to ``subparsers``."""
    parser = subparsers.add_parser(
        "storage",
        help="maintain RDB storages",
        description="Maintain relational-database storages (sqlite, postgresql, mysql).",
    )
    actions = parser.add_subparsers(dest="storage_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="upgrade the schema of an RDB storage to the current version",
        description=(
            "Upgrade the database's schema (Optuna's Alembic revisions) to the one this "
            "trialstore uses, or create it in an empty database. Safe to run while other "
            "processes open the database (they wait for the schema lock); back the database "
            "up first."
        ),
    )
    upgrade.add_argument(
        "--storage",
        required=True,
        metavar="URL",
        help="sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db",
    )
    upgrade.set_defaults(func=run_upgrade)


def run_upgrade(args: argparse.Namespace) -> int:
    """Upgrade the schema (or create it in an empty database); return 0.

    Raises:
        UsageError: not a database URL trialstore supports (nothing is opened).
        StorageInternalError: the database cannot be reached, or its schema is not one this
            trialstore can upgrade.
    """
    from trialstore.storage.rdb import upgrade_schema

    label = mask_password(args.storage)
    old, new = open_url(args.storage, upgrade_schema, "--storage")
    if old is None:
        print(f"{label}: created the schema at revision {new}.")
    elif old == new:
        print(f"{label}: already at revision {new}.")
    else:
        print(f"{label}: upgraded from revision {old} to {new}.")
    return 0
