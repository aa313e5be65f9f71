"""The ``trialstore`` command line.

Each sub-command lives in its own private module that defines ``register(subparsers)``; the
module names are listed in :data:`_COMMAND_MODULES`. ``register`` adds a parser whose ``func``
default takes the parsed arguments and returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

_COMMAND_MODULES: list[str] = [
    "_copy",
    "_journal",
    "_studies",
    "_trials",
    "_best_trial",
    "_create_study",
    "_delete_study",
    "_demo",
    "_grpc",
    "_stress",
    "_storage",
]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="trialstore",
        description="Inspect and manage trialstore studies and storages.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"trialstore.cli.{module_name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
