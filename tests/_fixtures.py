"""Files written by real Optuna releases, kept in ``tests/fixtures/optuna/`` (see its README).

Tests never open a fixture in place: :func:`optuna_fixture` copies it into a test's own
directory first, so that no test can change the repository's copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["OPTUNA_FIXTURES", "optuna_fixture"]

OPTUNA_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "optuna"


def optuna_fixture(name: str, directory: Path, *, mode: int = 0o644) -> Path:
    """Copy the fixture ``name`` into ``directory`` with permissions ``mode``; return the copy.

    Raises:
        FileNotFoundError: no fixture of that name (a missing fixture fails, never skips).
    """
    target = directory / name
    shutil.copyfile(OPTUNA_FIXTURES / name, target)
    target.chmod(mode)
    return target
