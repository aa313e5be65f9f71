"""``TRIALSTORE_STORAGE``: the default of every required ``--storage`` option (private).

:func:`default_storage_from_environment` makes each command's required ``--storage`` optional
at parse time; :func:`resolve_storage` then fills it from the environment, or raises a usage
error naming both when neither is given. ``stress`` is left out: it writes studies of its own
and must be pointed at a storage explicitly.
"""

from __future__ import annotations

import argparse
import os

from trialstore.cli._errors import UsageError

__all__ = ["ENVIRONMENT_VARIABLE", "default_storage_from_environment", "resolve_storage"]

#: The environment variable that gives ``--storage`` when the option is not given.
ENVIRONMENT_VARIABLE = "TRIALSTORE_STORAGE"

#: Commands whose ``--storage`` must be given on the command line.
_EXPLICIT_ONLY = frozenset({"stress"})

#: The attribute set on the parsed arguments of a command whose storage this module resolves.
_MARK = "storage_from_environment"


def default_storage_from_environment(parser: argparse.ArgumentParser) -> None:
    """Let every sub-command (at any depth) whose ``--storage`` is required take it from
    :data:`ENVIRONMENT_VARIABLE` instead."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            if name in _EXPLICIT_ONLY:
                continue
            for option in sub._actions:
                if "--storage" in option.option_strings and option.required:
                    option.required = False
                    option.default = None
                    option.help = f"{option.help} (default: ${ENVIRONMENT_VARIABLE})"
                    sub.set_defaults(**{_MARK: True})
            default_storage_from_environment(sub)


def resolve_storage(args: argparse.Namespace) -> None:
    """Set ``args.storage`` from the environment if the command takes it from there and it
    was not given.

    Raises:
        UsageError: neither ``--storage`` nor a non-empty ``TRIALSTORE_STORAGE`` is given.
    """
    if not getattr(args, _MARK, False) or args.storage is not None:
        return
    url = os.environ.get(ENVIRONMENT_VARIABLE, "")
    if not url:
        raise UsageError(
            f"no storage given: use --storage URL or set the {ENVIRONMENT_VARIABLE} "
            "environment variable."
        )
    args.storage = url
