"""How the command line reports errors: one line on stderr, never a traceback (private).

Every sub-command's ``func`` may raise; :func:`run_command` turns what it raises into
``trialstore COMMAND: error: MESSAGE`` and an exit code: 2 for :class:`UsageError` (the
arguments are wrong: nothing was started or created), 1 for anything else (the storage, the
server or the files said no). ``--debug`` or ``TRIALSTORE_DEBUG=1`` re-raises instead, so the
traceback shows.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "UsageError",
    "debug_requested",
    "report",
    "run_command",
]

#: Exit code of a command that failed: the storage, a server or a file refused.
EXIT_ERROR = 1
#: Exit code of a command called with bad arguments (argparse's own code for usage errors).
EXIT_USAGE = 2


class UsageError(Exception):
    """A command-line argument is wrong; the message names the option and its allowed values.

    Raise it before anything is started or created.
    """


def debug_requested(argv_flag: bool) -> bool:
    """Whether tracebacks should show: ``--debug`` was given or ``TRIALSTORE_DEBUG`` is set to
    something other than ``""`` or ``"0"``."""
    return argv_flag or os.environ.get("TRIALSTORE_DEBUG", "") not in ("", "0")


def _is_expected(error: BaseException) -> bool:
    """Whether ``error`` is one a user's input or environment causes, with a message written for
    them (trialstore's own errors, bad values, missing names, files, missing extras)."""
    return isinstance(error, (UsageError, ValueError, KeyError, OSError, ImportError)) or type(
        error
    ).__module__.startswith("trialstore")


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]  # str(KeyError) wraps the message in quotes
    else:
        text = str(error)
    # One line: drivers put their hints on lines of their own; keep them, joined.
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if _is_expected(error):
        return text or type(error).__name__
    # Another library's error: its type says what its text alone may not.
    name = type(error).__name__
    return f"{name}: {text} (run with --debug for the traceback)" if text else name


def report(command: str, error: BaseException) -> int:
    """Print ``error`` as one line for ``command`` on stderr; return its exit code."""
    print(f"trialstore {command}: error: {_message(error)}", file=sys.stderr)
    return EXIT_USAGE if isinstance(error, UsageError) else EXIT_ERROR


def run_command(
    command: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """Run ``func(args)``; return its exit code, or report what it raised (see the module).

    ``KeyboardInterrupt`` ends the command with exit code 130 and one line.
    """
    debug = debug_requested(bool(getattr(args, "debug", False)))
    try:
        return func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"trialstore {command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        return report(command, error)
