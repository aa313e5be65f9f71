"""The layers of pyproject.toml hold for modules named in strings too.

import-linter follows ``import`` statements; a module imported by name at run time
(``importlib.import_module("trialstore.x")``, a ``"trialstore.x:Name"`` factory string) is
invisible to it. This test reads every string constant of ``trialstore/`` that names one of
our modules and holds it to the same two rules: no module of a floor above, no private module
(``_name``) of another package.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "trialstore"
_NAMED = re.compile(r"^trialstore(?:\.\w+)+(?::\w+)?$")

tomllib = pytest.importorskip("tomllib")  # the standard library's from Python 3.11


def _floors() -> dict[str, int]:
    """Top-level name -> floor (0: the ground floor), from the layers contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (layers,) = [
        c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"
    ]
    floors: dict[str, int] = {}
    for floor, line in enumerate(reversed(layers)):
        for name in line.split(":"):
            floors[name.strip()] = floor
    return floors


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _named_modules(path: Path) -> list[str]:
    """The modules that string constants of ``path`` name (``trialstore.x.y`` or
    ``trialstore.x.y:Name``)."""
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.value.split(":")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and _NAMED.match(node.value)
    ]


def _violations(module: str, named: str, floors: dict[str, int]) -> list[str]:
    found = []
    own, target = module.split("."), named.split(".")
    if len(own) > 1 and len(target) > 1 and own[1] in floors and target[1] in floors:
        if floors[target[1]] > floors[own[1]]:
            found.append(f"{module} names {named}, a floor above it")
    for depth, part in enumerate(target):
        package = target[:depth]
        if part.startswith("_") and depth > 1 and own[: len(package)] != package:
            found.append(f"{module} names {named}, private to {'.'.join(package)}")
            break
    return found


def test_modules_named_in_strings_keep_the_layers() -> None:
    floors = _floors()
    violations = [
        violation
        for path in sorted(PACKAGE.rglob("*.py"))
        if "_pb" not in path.parts
        for named in _named_modules(path)
        for violation in _violations(_module_of(path), named, floors)
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("module", "named", "broken"),
    [
        ("trialstore.storage._url", "trialstore.study", True),  # a floor above
        ("trialstore.storage._url", "trialstore.storage.rdb._storage", True),  # private
        ("trialstore.cli._main", "trialstore.storage.rdb", False),
        ("trialstore.storage.rdb._storage", "trialstore.storage.rdb._engine", False),
        ("trialstore.storage._url", "trialstore.storage._memory", False),  # its own package
    ],
)
def test_the_rules_catch_what_they_should(module: str, named: str, broken: bool) -> None:
    assert bool(_violations(module, named, _floors())) is broken
