"""The ``trialstore`` command line.

Each sub-command lives in its own private module that defines ``register(subparsers)``; the
module names are listed in :data:`_COMMAND_MODULES`. ``register`` adds a parser whose ``func``
default takes the parsed arguments and returns the exit code; it may raise instead, and
:func:`main` reports the error as one line (``trialstore/cli/_errors.py``).

Before ``func`` runs, :func:`main` fills a missing ``--storage`` from ``TRIALSTORE_STORAGE``
(``_storage_env.py``) and sets trialstore's logging from ``-v``, ``-q`` and ``--log-file``
(``_logging.py``) until the command ends. Those three and ``--debug`` are accepted before
or after the command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from trialstore.cli._errors import run_command
from trialstore.cli._logging import add_logging_options, command_logging
from trialstore.cli._storage_env import default_storage_from_environment, resolve_storage
from trialstore.version import __version__

__all__ = ["main"]

_COMMAND_MODULES: list[str] = [
    "_copy",
    "_journal",
    "_study_names",
    "_studies",
    "_study",
    "_trials",
    "_best_trial",
    "_create_study",
    "_delete_study",
    "_ask",
    "_tell",
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
    parser.add_argument("--version", action="version", version=f"trialstore {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also: TRIALSTORE_DEBUG=1)",
    )
    add_logging_options(parser, top_level=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        module = importlib.import_module(f"trialstore.cli.{module_name}")
        module.register(subparsers)
    _add_options_everywhere(parser)
    default_storage_from_environment(parser)
    return parser


def _add_options_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--debug``, ``-v``, ``-q`` and ``--log-file`` stand after the command too
    (``trialstore studies ... --debug``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument(
                    "--debug",
                    action="store_true",
                    default=argparse.SUPPRESS,
                    help=argparse.SUPPRESS,
                )
                add_logging_options(sub, top_level=False)
                _add_options_everywhere(sub)


def _command_name(args: argparse.Namespace) -> str:
    """The words that name the command run, e.g. ``"journal compact"``."""
    words = [args.command]
    for attribute, value in vars(args).items():
        if attribute.endswith("_command") and value:
            words.append(value)
    return " ".join(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code.

    0: done; 1: the command failed (one ``trialstore COMMAND: error: ...`` line on stderr);
    2: bad arguments (nothing was started or created).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(_command_name(args), _prepared, args)


def _prepared(args: argparse.Namespace) -> int:
    """Run the command's ``func`` with its storage resolved and its logging set."""
    resolve_storage(args)
    with command_logging(args):
        result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
