"""Study.trials_dataframe: the same frame as Optuna 5.0's for the same stored study."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

pd = pytest.importorskip("pandas")
optuna = pytest.importorskip("optuna")

import trialstore  # noqa: E402
from trialstore.distributions import FloatDistribution, distribution_to_json  # noqa: E402
from trialstore.interop.optuna import to_optuna  # noqa: E402
from trialstore.storage import BaseStorage, InMemoryStorage, get_storage  # noqa: E402
from trialstore.trial import TrialState, create_trial  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

#: Every field a column can be made from, except ``distributions`` (whose cells are each
#: library's own distribution objects: compared separately).
FIELDS = (
    "_trial_id",
    "number",
    "state",
    "value",
    "values",
    "datetime_start",
    "datetime_complete",
    "duration",
    "params",
    "user_attrs",
    "system_attrs",
    "intermediate_values",
    "last_step",
    "constraints",
)


def _build(storage: BaseStorage, n_objectives: int) -> trialstore.Study:
    """A study with a trial in every state, params and attributes some trials lack,
    intermediate values, constraints, an enqueued trial and an added one."""
    study = trialstore.create_study(
        storage=storage,
        study_name="frame",
        directions=["minimize", "maximize"][:n_objectives],
        sampler=trialstore.samplers.RandomSampler(seed=0),
    )

    def values(v: float) -> float | list[float]:
        return v if n_objectives == 1 else [v, -v]

    trial = study.ask()
    x = trial.suggest_float("x", -1, 1)
    trial.suggest_categorical("c", ["a", None])
    trial.set_user_attr("note", "first")
    if n_objectives == 1:
        trial.report(0.5, 0)
        trial.report(0.25, 3)
    trial.set_constraint("budget", -1.0)
    study.tell(trial, values(x))

    trial = study.ask()
    trial.suggest_int("n", 1, 8, log=True)
    trial.set_user_attr("tags", [1, 2])
    study.tell(trial, state=TrialState.FAIL)

    trial = study.ask()
    trial.suggest_float("x", -1, 1)
    if n_objectives == 1:
        trial.report(1.5, 2)
    study.tell(trial, state=TrialState.PRUNED)

    study.ask()  # stays RUNNING
    study.enqueue_trial({"x": 0.5}, user_attrs={"queued": True})
    study.add_trial(
        create_trial(
            values=[math.inf] * n_objectives,
            params={"x": 0.75},
            distributions={"x": FloatDistribution(-1, 1)},
            user_attrs={"note": "added"},
            constraints={"budget": 2.0},
        )
    )
    return study


def _optuna_view(study: trialstore.Study) -> Any:
    return optuna.load_study(study_name=study.study_name, storage=to_optuna(study._storage))


@pytest.mark.parametrize("multi_index", [False, True])
@pytest.mark.parametrize("attrs", [None, FIELDS], ids=["default", "fields"])
@pytest.mark.parametrize("named", [False, True], ids=["unnamed", "named"])
@pytest.mark.parametrize("n_objectives", [1, 2])
def test_frame_is_optunas(
    n_objectives: int, named: bool, attrs: tuple[str, ...] | None, multi_index: bool
) -> None:
    study = _build(InMemoryStorage(), n_objectives)
    if named:
        study.set_metric_names(["loss", "gain"][:n_objectives])
    kwargs: dict[str, Any] = {"multi_index": multi_index}
    if attrs is not None:
        kwargs["attrs"] = attrs
    frame = study.trials_dataframe(**kwargs)
    expected = _optuna_view(study).trials_dataframe(**kwargs)
    pd.testing.assert_frame_equal(frame, expected)  # columns, order, dtypes, cells
    assert len(frame) == 6


def test_columns_order_and_dtypes_of_a_named_multi_objective_study() -> None:
    study = _build(InMemoryStorage(), 2)
    study.set_metric_names(["loss", "gain"])
    frame = study.trials_dataframe()
    assert list(frame.columns) == [
        "number",
        "values_loss",
        "values_gain",
        "datetime_start",
        "datetime_complete",
        "duration",
        "params_c",
        "params_n",
        "params_x",
        "user_attrs_note",
        "user_attrs_queued",
        "user_attrs_tags",
        "system_attrs_constraints:budget",
        "system_attrs_fixed_params",
        "state",
    ]
    assert list(frame["state"]) == ["COMPLETE", "FAIL", "PRUNED", "RUNNING", "WAITING", "COMPLETE"]
    assert frame["number"].dtype == "int64"
    assert frame["values_loss"].dtype == "float64"
    assert frame["datetime_start"].dtype.kind == "M"
    assert frame["duration"].dtype.kind == "m"
    assert frame["values_gain"].isna().tolist() == [False, True, True, True, True, False]
    multi = study.trials_dataframe(multi_index=True)
    assert list(multi["values"].columns) == ["loss", "gain"]
    assert ("number", "") in multi.columns


def test_value_becomes_value_name_with_one_named_objective() -> None:
    study = _build(InMemoryStorage(), 1)
    assert "value" in study.trials_dataframe().columns
    study.set_metric_names(["loss"])
    columns = list(study.trials_dataframe(attrs=("number", "value", "intermediate_values")))
    assert columns == [
        "number",
        "value_loss",
        "intermediate_values_0",
        "intermediate_values_2",
        "intermediate_values_3",
    ]


def test_frame_matches_optunas_own_storage_after_a_copy(tmp_path: Path) -> None:
    # The study in a trialstore journal file against a copy in Optuna's own in-memory
    # storage: the frames agree without sharing a storage.
    study = _build(get_storage(f"journal://{tmp_path}/frame.log"), 2)
    optuna_storage = optuna.storages.InMemoryStorage()
    optuna.copy_study(
        from_study_name="frame",
        from_storage=to_optuna(study._storage),
        to_storage=optuna_storage,
    )
    copied = optuna.load_study(study_name="frame", storage=optuna_storage)
    for multi_index in (False, True):
        pd.testing.assert_frame_equal(
            study.trials_dataframe(multi_index=multi_index),
            copied.trials_dataframe(multi_index=multi_index),
        )


def test_distributions_column_holds_each_trials_distribution() -> None:
    study = _build(InMemoryStorage(), 1)
    frame = study.trials_dataframe(attrs=("number", "distributions"))
    expected = _optuna_view(study).trials_dataframe(attrs=("number", "distributions"))
    assert (
        list(frame.columns)
        == list(expected.columns)
        == [
            "number",
            "distributions_c",
            "distributions_n",
            "distributions_x",
        ]
    )
    for column in frame.columns[1:]:
        ours = [None if d is None or d != d else distribution_to_json(d) for d in frame[column]]
        theirs = [
            None if d is None or d != d else optuna.distributions.distribution_to_json(d)
            for d in expected[column]
        ]
        assert ours == theirs
    assert frame["distributions_x"][0] == FloatDistribution(-1, 1)


def test_study_without_trials_gives_an_empty_frame() -> None:
    study = trialstore.create_study(directions=["minimize", "minimize"])
    frame = study.trials_dataframe()
    assert frame.empty and list(frame.columns) == []
    assert frame.equals(_optuna_view(study).trials_dataframe())


@pytest.mark.parametrize("n_objectives", [1, 2])
def test_trials_without_values_still_have_value_columns(n_objectives: int) -> None:
    study = trialstore.create_study(directions=["minimize"] * n_objectives)
    study.enqueue_trial({"x": 1})
    frame = study.trials_dataframe(attrs=("number", "value"))
    expected = ["number", "value"] if n_objectives == 1 else ["number", "values_0", "values_1"]
    assert list(frame.columns) == expected
    assert frame.iloc[0, 1:].isna().all()
    pd.testing.assert_frame_equal(
        frame, _optuna_view(study).trials_dataframe(attrs=("number", "value"))
    )


def test_attrs_without_any_column_give_rows_without_columns() -> None:
    # (Optuna 5.0 raises TypeError from pandas here.)
    study = trialstore.create_study()
    study.enqueue_trial({})
    study.enqueue_trial({})
    for multi_index in (False, True):
        frame = study.trials_dataframe(attrs=("params",), multi_index=multi_index)
        assert frame.shape == (2, 0)
    assert study.trials_dataframe(attrs=()).shape == (2, 0)


@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        (("number", "nonexistent"), "'nonexistent' is not a trial field"),
        (("report",), "'report' is not a trial field"),
        ("params", "attrs must be a tuple"),
        (None, "attrs must be a tuple"),
    ],
)
def test_bad_attrs_raise_value_error(attrs: Any, match: str) -> None:
    study = trialstore.create_study()
    study.enqueue_trial({})
    with pytest.raises(ValueError, match=match):
        study.trials_dataframe(attrs=attrs)


def test_missing_pandas_raises_import_error_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    study = trialstore.create_study()
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'trialstore\[pandas\]'"):
        study.trials_dataframe()
