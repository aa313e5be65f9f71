"""Study.metric_names / set_metric_names, and that Optuna 5.0 reads and writes the same names."""

from __future__ import annotations

from typing import Any

import pytest

import trialstore
from trialstore.storage import InMemoryStorage


def test_names_are_none_until_set_and_a_later_call_replaces_them() -> None:
    study = trialstore.create_study(directions=["minimize", "maximize"])
    assert study.metric_names is None
    study.set_metric_names(["loss", "accuracy"])
    assert study.metric_names == ["loss", "accuracy"]
    study.set_metric_names(("a", "b"))  # type: ignore[arg-type]
    assert study.metric_names == ["a", "b"]
    # The property returns a new list each time.
    names = study.metric_names
    assert names is not None
    names.append("x")
    assert study.metric_names == ["a", "b"]


def test_names_are_seen_by_another_study_object_on_the_storage() -> None:
    storage = InMemoryStorage()
    trialstore.create_study(storage=storage, study_name="s").set_metric_names(["loss"])
    assert trialstore.load_study(study_name="s", storage=storage).metric_names == ["loss"]


@pytest.mark.parametrize(
    ("names", "match"),
    [
        (["only-one"], r"one name per objective \(2\), got 1"),
        (["a", "b", "c"], r"one name per objective \(2\), got 3"),
        ([], r"one name per objective \(2\), got 0"),
        ("ab", "must be a list of str"),
        (None, "must be a list of str"),
        (["a", 1], "must hold str values only, got 1"),
    ],
)
def test_bad_names_raise_value_error_and_store_nothing(names: Any, match: str) -> None:
    study = trialstore.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["kept", "names"])
    with pytest.raises(ValueError, match=match):
        study.set_metric_names(names)
    assert study.metric_names == ["kept", "names"]


def test_optuna_reads_and_writes_the_same_names() -> None:
    optuna = pytest.importorskip("optuna")
    from trialstore.interop.optuna import to_optuna

    storage = InMemoryStorage()
    study = trialstore.create_study(
        storage=storage, study_name="s", directions=["minimize", "maximize"]
    )
    study.set_metric_names(["loss", "accuracy"])
    optuna_study = optuna.load_study(study_name="s", storage=to_optuna(storage))
    assert optuna_study.metric_names == ["loss", "accuracy"]
    with pytest.warns(optuna.exceptions.ExperimentalWarning):
        optuna_study.set_metric_names(["error", "score"])
    assert study.metric_names == ["error", "score"]
    assert study.system_attrs == {"study:metric_names": ["error", "score"]}
