"""The distribution a study stored first for a parameter name (that of the lowest trial id
carrying it, deleted trials included): remembered from a fresh first read of the study when
no deleted trial may have carried the name first, else asked of the database about the trials
the reads did not see finished only (``StudyCache.name_scope``); either way the answer of a
walk of the whole study."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from _rdb_helpers import DIALECTS, database_url

from trialstore.conformance._base import make_template
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    json_to_distribution,
)
from trialstore.storage.rdb import RDBStorage, _cache, _dml, _names
from trialstore.storage.rdb._tables import trial_params, trials
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState


@pytest.fixture(params=DIALECTS)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return database_url(request, request.param, tmp_path)


def _dist(high: float) -> FloatDistribution:
    return FloatDistribution(0.0, high)


def _walked(url: str, study_id: int, name: str) -> BaseDistribution | None:
    """The distribution of the lowest trial of the study carrying ``name``, by a walk."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        text = connection.execute(
            sa.select(trial_params.c.distribution_json)
            .join(trials, trials.c.trial_id == trial_params.c.trial_id)
            .where(trials.c.study_id == study_id, trial_params.c.param_name == name)
            .order_by(trials.c.trial_id)
            .limit(1)
        ).scalar()
    engine.dispose()
    return None if text is None else json_to_distribution(text)


def _asked(storage: RDBStorage, study_id: int, name: str) -> BaseDistribution | None:
    """What ``known_distribution`` answers for a name this object does not remember."""
    storage._cache.distributions.pop(study_id, None)
    return storage._run(
        lambda c: storage._writes.known_distribution(c, study_id, name), mode="none"
    )


def _trial(storage: RDBStorage, study_id: int, params: dict[str, float], finish: bool) -> int:
    trial_id = storage.create_new_trial(study_id)
    for name, high in params.items():
        storage.set_trial_param(trial_id, name, 0.0, _dist(high))
    if finish:
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
    return trial_id


def test_a_fresh_first_read_remembers_the_first_distributions(url: str) -> None:
    writer = RDBStorage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    _trial(writer, study_id, {"a": 1}, True)
    _trial(writer, study_id, {"a": 2, "b": 2}, False)
    _trial(writer, study_id, {"b": 3, "c": 3}, True)
    reader = RDBStorage(url)
    reader.get_all_trials(study_id, deepcopy=False)
    assert reader._cache.distributions[study_id] == {"a": _dist(1), "b": _dist(2), "c": _dist(3)}
    reader.close()
    writer.close()


def test_names_first_carried_above_a_deletion_are_asked_for(url: str) -> None:
    """A deleted trial, which reads leave out, may have carried a name first: such names are
    not remembered, and the database's answer is the deleted trial's distribution."""
    writer = RDBStorage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    _trial(writer, study_id, {"a": 1}, True)
    deleted = _trial(writer, study_id, {"x": 2, "b": 2}, True)
    _trial(writer, study_id, {"x": 3, "a": 3, "c": 3}, True)
    writer.delete_trials(study_id, [deleted])
    reader = RDBStorage(url)
    reader.get_all_trials(study_id, deepcopy=False)
    assert reader._cache.distributions[study_id] == {"a": _dist(1)}
    for name, expected in (("x", _dist(2)), ("b", _dist(2)), ("c", _dist(3)), ("z", None)):
        assert _asked(reader, study_id, name) == expected == _walked(url, study_id, name)
    reader.close()
    writer.close()


@pytest.mark.parametrize("max_in_list", [1, 500])
def test_the_database_is_asked_about_what_the_reads_did_not_see_finished(
    url: str, max_in_list: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a first read, another process gives a name to a trial that was unfinished then
    (below the first trial the read saw carrying it), deletes a trial the read saw finished,
    claims a WAITING trial and creates new trials with new names: each name's answer is the
    walk's, before and after the reader's next read."""
    monkeypatch.setattr(_cache, "MAX_IN_LIST", max_in_list)
    writer = RDBStorage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    _trial(writer, study_id, {"a": 1}, True)
    running = _trial(writer, study_id, {}, False)
    _trial(writer, study_id, {"b": 2}, True)
    gone_before = _trial(writer, study_id, {"d": 3}, True)
    gone_after = _trial(writer, study_id, {"e": 4}, True)
    waiting = writer.create_new_trial(study_id, make_template(TrialState.WAITING))
    writer.delete_trials(study_id, [gone_before])
    reader = RDBStorage(url)
    reader.get_all_trials(study_id, deepcopy=False)
    listed = [running, waiting]
    expected = (waiting, listed) if max_in_list > 1 else (running - 1, [])
    assert reader._cache.name_scope(study_id, "b")[:2] == expected

    writer.set_trial_param(running, "b", 0.0, _dist(10))
    writer.set_trial_state_values(running, TrialState.COMPLETE, [0.0])
    writer.delete_trials(study_id, [gone_after])
    assert writer.set_trial_state_values(waiting, TrialState.RUNNING)
    writer.set_trial_param(waiting, "g", 0.0, _dist(5))
    last = _trial(writer, study_id, {"f": 6, "a": 6}, True)
    names = ("a", "b", "d", "e", "f", "g", "none")
    for _ in range(2):
        for name in names:
            assert _asked(reader, study_id, name) == _walked(url, study_id, name), name
        reader.get_all_trials(study_id, deepcopy=False)
    assert _walked(url, study_id, "b") == _dist(10)
    floor, unfinished, known = reader._cache.name_scope(study_id, "a")
    assert known is not None and known[1] == _dist(1)
    assert (floor, unfinished) == (last, [waiting])
    reader.close()
    writer.close()


def test_a_name_new_to_a_process_is_checked_against_another_process_s(url: str) -> None:
    writer = RDBStorage(url)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE], "s")
    _trial(writer, study_id, {"a": 1}, True)
    reader = RDBStorage(url)
    reader.get_all_trials(study_id, deepcopy=False)
    trial_id = writer.create_new_trial(study_id)
    writer.set_trial_param(trial_id, "z", 0, CategoricalDistribution(("p", "q")))
    mine = reader.create_new_trial(study_id)
    with pytest.raises(ValueError, match="different distribution kind"):
        reader.set_trial_param(mine, "z", 0.5, _dist(1))
    with pytest.raises(ValueError, match="different distribution kind"):
        reader.set_trial_params(mine, {"y": (0.5, _dist(1)), "z": (0.5, _dist(1))})
    reader.set_trial_param(mine, "z", 1, CategoricalDistribution(("p", "q")))
    reader.close()
    writer.close()


def test_without_the_table_of_deletions(tmp_path: Any) -> None:
    """The statement of a database without trialstore's table of deletions (made by Optuna)
    names no such table and asks about the other trials alone."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    storage = RDBStorage(url)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    first = _trial(storage, study_id, {"a": 1}, True)
    _trial(storage, study_id, {"a": 2}, True)
    storage.close()
    statement = _dml.statements_for("sqlite", deletions=False).known_distribution
    assert "trialstore_deleted_trials" not in str(statement)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        for floor, ids, expected in (
            (-1, [], first),
            (first, [], first + 1),
            (first, [first], first),
        ):
            params = {"study_id": study_id, "name": "a", "floor": floor, "ids": ids}
            assert connection.execute(statement, params).all()[0][0] == expected
    engine.dispose()


def _frozen(trial_id: int, state: TrialState, params: dict[str, float]) -> FrozenTrial:
    finished = state.is_finished()
    now = datetime.datetime(2026, 1, 1)
    return FrozenTrial(
        number=trial_id,
        state=state,
        value=0.0 if state == TrialState.COMPLETE else None,
        datetime_start=None if state == TrialState.WAITING else now,
        datetime_complete=now if finished else None,
        params={name: 0.0 for name in params},
        distributions={name: _dist(high) for name, high in params.items()},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=trial_id,
    )


def test_reads_in_any_order_leave_the_same_scope() -> None:
    """A read's trials need not come by id (a first read may join trials from several
    sources): the lowest carriers, the unfinished ids and the floor are the same."""
    done, running = TrialState.COMPLETE, TrialState.RUNNING
    read = [
        _frozen(0, done, {"a": 1}),
        _frozen(1, running, {"b": 1}),
        _frozen(2, done, {"a": 2, "b": 2}),
        _frozen(3, done, {"b": 3, "c": 3}),
        _frozen(4, TrialState.WAITING, {}),
        _frozen(5, done, {"c": 5, "d": 5}),
    ]
    expected = _names.NameScope(
        5,
        frozenset({1, 4}),
        {"a": (0, _dist(1)), "b": (2, _dist(2)), "c": (3, _dist(3)), "d": (5, _dist(5))},
    )
    for order in (read, read[::-1], read[3:] + read[:3]):
        assert _names.scope_after_read(None, -1, (), order) == expected
        assert _names.first_distributions(order, [4]) == {
            "a": _dist(1),
            "b": _dist(1),
            "c": _dist(3),
        }
    again = _names.scope_after_read(expected, 5, {1, 4}, [_frozen(1, done, {"b": 9, "e": 9})])
    assert again == _names.NameScope(
        5, frozenset(), {**expected.first, "b": (1, _dist(9)), "e": (1, _dist(9))}
    )
    assert _names.scope_after_read(expected, 6, {1, 4}, []) is None  # trial 6 unread
    assert _names.scope_after_read(None, 0, (), read) is None  # trial 0 unread
