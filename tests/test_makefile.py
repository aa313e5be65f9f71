"""The README's two commands: what ``make demo`` installs, and what ``make test`` prints."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_demo_installs_only_trialstore(tmp_path: Path) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    planned = subprocess.run(
        ["make", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert installs, planned
    assert all("[" not in line for line in installs), installs  # no extras, no test tools
    assert any(line.rstrip().endswith("-e .") for line in installs), installs


def test_summary_lists_failures_not_every_skip(tmp_path: Path) -> None:
    """The project's pytest settings: a run's end lists failures, while skips and xfails are
    only counted (a server-less run has hundreds)."""
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n"
        "def test_skipped():\n    pytest.skip('no server')\n"
        "@pytest.mark.xfail(reason='known')\ndef test_xfail():\n    assert False\n"
        "def test_fails():\n    assert False\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "1 failed, 1 skipped, 1 xfailed" in done.stdout
    assert "FAILED " in done.stdout and "test_sample.py::test_fails" in done.stdout
    assert "SKIPPED" not in done.stdout and "XFAIL" not in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_builds_the_docs_strictly_and_make_docs_installs_only_the_docs_extra(
    tmp_path: Path,
) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)

    def plan(target: str) -> list[str]:
        return subprocess.run(
            ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout.splitlines()

    test_plan = plan("test")
    builds = [line for line in test_plan if "mkdocs build" in line]
    assert builds and all("--strict" in line for line in builds), test_plan
    pytest_run = next(i for i, line in enumerate(test_plan) if "-m pytest" in line)
    assert test_plan.index(builds[0]) < pytest_run  # a broken site fails before the tests
    installs = [line for line in plan("docs") if "pip install" in line and "-e" in line]
    assert installs and all(line.rstrip().endswith("-e '.[docs]'") for line in installs)


def _recipe(target: str) -> list[list[str]]:
    """The commands of ``target`` in the Makefile, each split into words."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        commands.append(line.split())
    return commands


def test_pre_commit_runs_the_checks_of_make_lint_and_typecheck() -> None:
    """Each command of ``make lint`` and ``make typecheck`` is one pre-commit hook: the same
    tool and options, on the files of the same directories (a hook with ``pass_filenames``
    gets the changed files among them; a command without paths is run whole)."""
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    commands = _recipe("lint") + _recipe("typecheck")
    assert len(hooks) == len(commands)
    for words, hook in zip(commands, hooks, strict=True):
        assert words[0].startswith("$(BIN)/"), words
        paths = [w for w in words[1:] if (ROOT / w).is_dir()]
        tool = [words[0].removeprefix("$(BIN)/"), *(w for w in words[1:] if w not in paths)]
        assert hook["entry"].split() == [f".venv/bin/{tool[0]}", *tool[1:]], hook
        if paths:
            assert hook.get("pass_filenames", True), hook
            pattern = re.compile(hook["files"])
            for path in paths:
                assert pattern.match(f"{path}/x.py"), (path, hook)
            assert not pattern.match("docs/x.py"), hook
        else:
            assert hook["pass_filenames"] is False, hook
