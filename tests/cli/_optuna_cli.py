"""Running Optuna 5.0's command line (``optuna ...``) from the tests (not collected).

Starting ``optuna`` takes seconds per command, so :func:`optuna_cli` runs a batch of commands
in one Python process: before each, it reloads ``optuna.cli`` (whose ``main`` keeps state
between calls in module globals) and captures file descriptors 1 and 2, so each command's
output and log lines are its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["OptunaResult", "optuna_cli"]

_DRIVER = r"""
import contextlib, importlib, io, json, os, sys, tempfile, warnings
warnings.simplefilter("ignore")
import optuna.cli

def captured(fd, run):
    with tempfile.TemporaryFile(mode="w+b") as file:
        saved = os.dup(fd)
        os.dup2(file.fileno(), fd)
        try:
            result = run()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
        file.seek(0)
        return result, file.read().decode("utf-8", "replace")

def one(argv):
    importlib.reload(optuna.cli)
    sys.argv = ["optuna", *argv]
    try:
        return optuna.cli.main()
    except SystemExit as e:
        return e.code
    except Exception as e:
        return f"{type(e).__name__}: {e}"

results = []
for argv in json.loads(sys.stdin.read()):
    (code, err), out = captured(1, lambda: captured(2, lambda: one(argv)))
    results.append({"code": code, "out": out, "err": err})
sys.stdout.write(json.dumps(results))
"""


@dataclass
class OptunaResult:
    """One command's exit code (an exception's ``"Type: message"`` if it raised one), stdout
    and stderr."""

    code: int | str | None
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code in (0, None)


def optuna_cli(
    commands: Sequence[Sequence[str]], env: Mapping[str, str] | None = None
) -> list[OptunaResult]:
    """Run ``optuna COMMAND...`` for each of ``commands``, in order, in one process.

    ``env`` replaces the environment's ``OPTUNA_STORAGE`` (given: set; absent: unset).
    """
    environment = {k: v for k, v in os.environ.items() if k != "OPTUNA_STORAGE"}
    environment.update(env or {})
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input=json.dumps([list(c) for c in commands]),
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [OptunaResult(**r) for r in json.loads(done.stdout)]
