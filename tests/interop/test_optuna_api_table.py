"""docs/optuna-api.md lists every public name of Optuna 5.0, and says the truth about each.

The names are walked from the installed Optuna: each documented module's ``__all__`` and the
classes and functions it defines, and the public members of the classes a script touches most
(``Study``, ``Trial``, ``FrozenTrial``). A name the table lacks, or lists but Optuna lacks,
fails. A name marked ``here`` must exist in trialstore under the name the README's two textual
replacements give it; a name marked otherwise must not (else the table undersells). The
``to_optuna`` examples of the page run.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

optuna = pytest.importorskip("optuna")
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "optuna-api.md"

#: Optuna 5.0's documented modules (its API reference), walked for names.
MODULES = [
    "optuna",
    "optuna.artifacts",
    "optuna.distributions",
    "optuna.exceptions",
    "optuna.importance",
    "optuna.integration",
    "optuna.logging",
    "optuna.pruners",
    "optuna.samplers",
    "optuna.samplers.nsgaii",
    "optuna.search_space",
    "optuna.storages",
    "optuna.storages.journal",
    "optuna.study",
    "optuna.terminator",
    "optuna.trial",
    "optuna.visualization",
    "optuna.visualization.matplotlib",
]
#: Classes whose public members are listed too, as ``optuna.study.Study`` sections.
CLASSES = ["optuna.study.Study", "optuna.trial.Trial", "optuna.trial.FrozenTrial"]
STATUSES = {"here", "to_optuna", "no"}


def replaced(text: str) -> str:
    """The README's two textual replacements."""
    return text.replace("optuna", "trialstore").replace("storages", "storage")


def module_names(module: ModuleType) -> set[str]:
    names = {n for n in getattr(module, "__all__", ()) if not n.startswith("_")}
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value):
            continue
        defined_in = getattr(value, "__module__", "") or ""
        if (inspect.isclass(value) or inspect.isfunction(value)) and defined_in.startswith(
            module.__name__
        ):
            names.add(name)
    return names


def optuna_names() -> dict[str, set[str]]:
    sections = {name: module_names(importlib.import_module(name)) for name in MODULES}
    for path in CLASSES:
        module_name, _, class_name = path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        sections[path] = {n for n in dir(cls) if not n.startswith("_")}
    return sections


def page_table() -> dict[str, dict[str, str]]:
    """Section (``### `optuna.x` ``) -> name -> status, from the page's tables."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in PAGE.read_text().splitlines():
        heading = re.fullmatch(r"### `([\w.]+)`.*", line)
        if heading:
            current = sections.setdefault(heading.group(1), {})
            continue
        row = re.fullmatch(r"\| `(\w+)` \| (\w+) \|.*", line)
        if row and current is not None:
            name, status = row.groups()
            assert status in STATUSES, line
            assert name not in current, f"{name} listed twice"
            current[name] = status
    return sections


def resolves_in_trialstore(section: str, name: str) -> bool:
    target = replaced(section)
    module_name, owner = target, None
    if section in CLASSES:
        module_name, _, owner = target.rpartition(".")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError:
        return False
    if owner is not None:
        found = getattr(found, owner, None)
    return found is not None and hasattr(found, replaced(name))


def test_every_name_is_listed_and_nothing_else() -> None:
    table = page_table()
    walked = optuna_names()
    assert set(table) == set(walked)
    for section, names in walked.items():
        assert set(table[section]) == names, section


def test_each_status_is_true() -> None:
    wrong = []
    for section, rows in page_table().items():
        for name, status in rows.items():
            if (status == "here") != resolves_in_trialstore(section, name):
                wrong.append(f"{section}.{name}: {status}")
    assert wrong == []


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_to_optuna_examples_run(tmp_path: Path) -> None:
    import trialstore
    from trialstore.storage import InMemoryStorage

    def objective(trial: Any) -> float:
        return float(trial.suggest_float("x", -5, 5) ** 2 + trial.suggest_float("y", 0, 1))

    storage = InMemoryStorage()
    study = trialstore.create_study(study_name="demo", storage=storage)
    study.optimize(objective, n_trials=20)
    namespace: dict[str, Any] = {
        "storage": storage,
        "objective": objective,
        "tmp_path": tmp_path,
        "__file__": str(PAGE),  # the examples' own script
    }
    blocks = _blocks()
    assert len(blocks) >= 5
    for block in blocks:
        needs = re.match(r"# needs: ([\w.]+)", block)
        if needs:
            try:
                importlib.import_module(needs.group(1))
            except ImportError:
                continue
        exec(compile(block, str(PAGE), "exec"), namespace)
