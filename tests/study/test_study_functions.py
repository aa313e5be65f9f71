"""create_study, load_study, delete_study, copy_study and the listing functions."""

from __future__ import annotations

import pytest

import trialstore
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage import InMemoryStorage
from trialstore.study import StudyDirection, StudySummary
from trialstore.trial import TrialState, create_trial


def test_create_study_defaults_to_minimize_in_memory() -> None:
    study = trialstore.create_study()
    assert study.direction == StudyDirection.MINIMIZE
    assert study.directions == [StudyDirection.MINIMIZE]
    assert study.study_name.startswith("no-name-")
    assert isinstance(study.sampler, trialstore.samplers.TPESampler)
    assert isinstance(study.pruner, trialstore.pruners.MedianPruner)


def test_create_study_directions_and_errors() -> None:
    study = trialstore.create_study(directions=["minimize", "maximize"])
    assert study.directions == [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]
    with pytest.raises(RuntimeError):
        _ = study.direction
    with pytest.raises(ValueError, match="only one"):
        trialstore.create_study(direction="minimize", directions=["minimize"])
    with pytest.raises(ValueError):
        trialstore.create_study(direction="up")
    with pytest.raises(ValueError):
        trialstore.create_study(directions=[])


def test_create_study_duplicate_and_load_if_exists() -> None:
    storage = InMemoryStorage()
    first = trialstore.create_study(storage=storage, study_name="s", direction="maximize")
    with pytest.raises(DuplicatedStudyError):
        trialstore.create_study(storage=storage, study_name="s")
    again = trialstore.create_study(storage=storage, study_name="s", load_if_exists=True)
    assert again._study_id == first._study_id
    assert again.direction == StudyDirection.MAXIMIZE


def test_load_study_by_name_and_sole_study() -> None:
    storage = InMemoryStorage()
    with pytest.raises(KeyError):
        trialstore.load_study(study_name="missing", storage=storage)
    trialstore.create_study(storage=storage, study_name="only")
    assert trialstore.load_study(study_name=None, storage=storage).study_name == "only"
    trialstore.create_study(storage=storage, study_name="second")
    with pytest.raises(ValueError):
        trialstore.load_study(study_name=None, storage=storage)
    assert trialstore.load_study(study_name="second", storage=storage).study_name == "second"


def test_delete_study() -> None:
    storage = InMemoryStorage()
    trialstore.create_study(storage=storage, study_name="gone")
    trialstore.delete_study(study_name="gone", storage=storage)
    assert trialstore.get_all_study_names(storage) == []
    with pytest.raises(KeyError):
        trialstore.delete_study(study_name="gone", storage=storage)


def test_copy_study_copies_attrs_and_every_trial() -> None:
    source, target = InMemoryStorage(), InMemoryStorage()
    study = trialstore.create_study(storage=source, study_name="src", direction="maximize")
    study.set_user_attr("owner", "me")
    study.set_system_attr("sys", [1, 2])
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.5})
    trialstore.copy_study(
        from_study_name="src", from_storage=source, to_storage=target, to_study_name="dst"
    )
    copied = trialstore.load_study(study_name="dst", storage=target)
    assert copied.direction == StudyDirection.MAXIMIZE
    assert copied.user_attrs == {"owner": "me"}
    assert copied.system_attrs == {"sys": [1, 2]}
    original = study.trials
    assert [(t.number, t.state, t.values, t.params) for t in copied.trials] == [
        (t.number, t.state, t.values, t.params) for t in original
    ]
    with pytest.raises(DuplicatedStudyError):
        trialstore.copy_study(
            from_study_name="src", from_storage=source, to_storage=target, to_study_name="dst"
        )


def test_summaries_and_names() -> None:
    storage = InMemoryStorage()
    a = trialstore.create_study(storage=storage, study_name="a")
    a.add_trial(create_trial(value=3.0))
    a.add_trial(create_trial(value=1.0))
    a.add_trial(create_trial(state=TrialState.FAIL))
    trialstore.create_study(storage=storage, study_name="b", directions=["minimize"] * 2)
    assert trialstore.get_all_study_names(storage) == ["a", "b"]
    summaries = trialstore.get_all_study_summaries(storage)
    assert all(isinstance(s, StudySummary) for s in summaries)
    sa, sb = summaries
    assert (sa.study_name, sa.n_trials, sa.direction) == ("a", 3, StudyDirection.MINIMIZE)
    assert sa.best_trial is not None and sa.best_trial.value == 1.0
    assert sa.datetime_start is not None
    assert (sb.study_name, sb.n_trials, sb.best_trial, sb.datetime_start) == ("b", 0, None, None)
    no_best = trialstore.get_all_study_summaries(storage, include_best_trial=False)
    assert no_best[0].best_trial is None


def test_study_accepts_url_string() -> None:
    with pytest.raises(ValueError, match="scheme"):
        trialstore.create_study(storage="nosuchscheme://x")
