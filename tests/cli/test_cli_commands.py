"""Every command of ``trialstore`` has tests of its own behaviour in tests/cli/: the table
below names the module for each command the parser registers, and fails when a command is
added without one (or a module stops running the command)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trialstore.cli import build_parser

HERE = Path(__file__).parent

#: Each command (with its action, for commands that have actions) and its test module.
TESTED_IN = {
    "ask": "test_cli_ask_tell.py",
    "best-trial": "test_cli_listings.py",
    "best-trials": "test_cli_listings.py",
    "copy": "test_cli_copy.py",
    "create-study": "test_cli_study.py",
    "delete-study": "test_cli_study.py",
    "demo": "test_cli_study.py",
    "grpc-proxy": "test_cli_grpc_proxy.py",
    "journal compact": "test_cli_journal.py",
    "storage upgrade": "test_cli_storage.py",
    "stress": "test_cli_stress.py",
    "studies": "test_cli_listings.py",
    "study set-user-attr": "test_cli_ask_tell.py",
    "study-names": "test_cli_listings.py",
    "tell": "test_cli_ask_tell.py",
    "trials": "test_cli_listings.py",
    "trials delete": "test_cli_delete_trials.py",
}


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> set[str]:
    """The commands under ``parser``: each leaf, and each command that runs without one of
    its optional actions (``trials`` lists, ``trials delete`` deletes)."""
    found: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _commands(sub, f"{prefix}{name} ") or {f"{prefix}{name}"}
            if not action.required and prefix:
                found.add(prefix.strip())
    return found


def test_every_command_has_a_test_module_that_runs_it() -> None:
    assert _commands(build_parser()) == set(TESTED_IN)
    for command, module in TESTED_IN.items():
        source = (HERE / module).read_text()
        words = command.split()
        assert all(f'"{word}"' in source for word in words), (command, module)
