"""``-v/--verbose``, ``-q/--quiet`` and ``--log-file``: trialstore's logging during a command
(private).

The level of the ``trialstore`` logger is INFO by default, DEBUG with ``-v`` and WARNING with
``-q``; ``--log-file FILE`` appends the same records to FILE (in the format of stderr's).
Both are undone when the command ends, so that :func:`trialstore.cli.main` can run again in
the same process.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from trialstore import logging as trialstore_logging
from trialstore.cli._errors import UsageError

__all__ = ["add_logging_options", "command_logging"]


def add_logging_options(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    """Add ``-v``, ``-q`` and ``--log-file``; below the top level they keep what the top
    level set unless given again."""
    keep: dict[str, Any] = {} if top_level else {"default": argparse.SUPPRESS}
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="show debug messages too" if top_level else argparse.SUPPRESS,
        **({"default": 0} if top_level else keep),
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="show only warnings and errors" if top_level else argparse.SUPPRESS,
        **keep,
    )
    parser.add_argument(
        "--log-file",
        metavar="FILE",
        help="also append the log messages to FILE" if top_level else argparse.SUPPRESS,
        **keep,
    )


@contextmanager
def command_logging(args: argparse.Namespace) -> Iterator[None]:
    """Set trialstore's logging as ``args`` asks for the duration of the block.

    Raises:
        UsageError: both ``-v`` and ``-q`` (one before the command, one after it).
        OSError: ``--log-file`` cannot be opened for appending.
    """
    verbose, quiet = getattr(args, "verbose", 0), getattr(args, "quiet", False)
    log_file: str | None = getattr(args, "log_file", None)
    if verbose and quiet:
        raise UsageError("-v/--verbose and -q/--quiet exclude each other.")
    level = (
        trialstore_logging.DEBUG
        if verbose
        else trialstore_logging.WARNING
        if quiet
        else trialstore_logging.INFO
    )
    handler: logging.Handler | None = None
    if log_file is not None:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as e:
            raise OSError(f"--log-file {log_file}: {e.strerror or e}") from e
        handler.setFormatter(trialstore_logging.create_default_formatter())
    previous = trialstore_logging.get_verbosity()
    library_logger = logging.getLogger("trialstore")
    trialstore_logging.set_verbosity(level)
    if handler is not None:
        library_logger.addHandler(handler)
    try:
        yield
    finally:
        trialstore_logging.set_verbosity(previous)
        if handler is not None:
            library_logger.removeHandler(handler)
            handler.close()
