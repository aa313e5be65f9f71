"""Helpers of the command-line tests (not collected: no ``test_`` prefix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialstore.cli import main

__all__ = ["error_line", "run", "tree"]


def error_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], *, code: int = 1, command: str = ""
) -> str:
    """Run ``trialstore argv`` in this process; check it exits with ``code`` after printing
    exactly one line, ``trialstore COMMAND: error: ...``, on stderr and nothing on stdout;
    return that line. A traceback would escape ``main`` and fail the test."""
    capsys.readouterr()
    assert main(argv) == code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    command = command or argv[0]
    assert lines[0].startswith(f"trialstore {command}: error: "), err
    assert "Traceback" not in err
    assert out == ""
    return lines[0]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    """Run ``trialstore argv`` in this process; return its exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its content: compare before and after a command to
    see that it created or changed nothing."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }
