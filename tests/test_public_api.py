"""Every public module declares ``__all__``, and every name in it exists and is documented."""

from __future__ import annotations

import importlib
import importlib.resources
import inspect
import pkgutil

import pytest

import trialstore


def _public_modules() -> list[str]:
    names = ["trialstore"]
    for info in pkgutil.walk_packages(trialstore.__path__, prefix="trialstore."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        if ".alembic" in info.name:  # migration scripts run by Alembic, not an API
            continue
        names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _public_modules())
def test_public_module_has_complete_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__, f"{module_name} has no module docstring"
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{module_name} has no __all__"
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ has duplicates"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"
        obj = getattr(module, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith(
            "trialstore"
        ):
            assert obj.__doc__, f"{module_name}.{name} has no docstring"


def test_py_typed_is_shipped() -> None:
    assert importlib.resources.files("trialstore").joinpath("py.typed").is_file()
