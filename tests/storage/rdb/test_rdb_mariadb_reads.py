"""RDBStorage on MariaDB: one row per trial (_read_folded), with the same trials as the
plain read, also for large trials and reads cut short by the server."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import optuna
import pytest

from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.storage.rdb import RDBStorage, _fast_paths, _read
from trialstore.study import StudyDirection
from trialstore.trial import FrozenTrial, TrialState

SECRET = "s3cr3t-pw"

optuna.logging.set_verbosity(optuna.logging.ERROR)


# -- MariaDB: one row per trial (_read_folded) -------------------------------------------------


def _varied_study(storage: RDBStorage) -> int:
    """A study holding every kind of stored value: each distribution, whole and special
    floats, non-ASCII names, nested attributes, unfinished trials."""
    rnd = random.Random(7)
    study_id = storage.create_new_study(
        [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE], "varied"
    )
    dists: list[tuple[BaseDistribution, Callable[[], float]]] = [  # with internal values
        (FloatDistribution(-1e300, 1e300), lambda: rnd.choice([rnd.uniform(-1e300, 1e300), 2.0])),
        (FloatDistribution(1e-9, 1.0, log=True), lambda: min(1.0, 10 ** rnd.uniform(-9, 0))),
        (FloatDistribution(0, 10, step=0.5), lambda: rnd.randint(0, 20) * 0.5),
        (IntDistribution(-5, 5), lambda: rnd.randint(-5, 5)),
        (IntDistribution(1, 1024, log=True), lambda: rnd.randint(1, 1024)),
        (CategoricalDistribution([None, 1, 2.5, "a", True]), lambda: rnd.randrange(5)),
    ]  # fmt: skip
    specials = [math.inf, -math.inf, math.nan, 0.1 + 0.2, 1e-300, 5e-324, 3.0]
    for i in range(150):
        trial_id = storage.create_new_trial(study_id)
        for j in rnd.sample(range(len(dists)), k=rnd.randint(0, len(dists))):
            dist, draw = dists[j]
            storage.set_trial_param(trial_id, f"p{j}-é✓", draw(), dist)
        for step in range(rnd.randint(0, 3)):
            storage.set_trial_intermediate_value(trial_id, step, rnd.choice(specials))
        if rnd.random() < 0.5:
            storage.set_trial_user_attr(trial_id, "nested ü", {"a": [1, 2.5, None, "x\n"]})
            storage.set_trial_system_attr(trial_id, "s", [True, 1e-300])
        if i % 5:
            finite = [v for v in specials if not math.isnan(v)]
            values = [rnd.choice(finite), rnd.choice(finite)]
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, values)
    return study_id


def test_mariadb_reads_one_row_per_trial_with_the_same_trials(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On MariaDB with PyMySQL, a study's first read is one row of JSON text per trial, read
    in batches as they arrive; every value reads back as the row-per-value read gives it
    (types and special floats included)."""
    from trialstore.storage.rdb import _read_folded

    study_id = _varied_study(RDBStorage(mysql_url))
    monkeypatch.setattr(_fast_paths, "FOLDED_BATCH", 16)  # 10 batches, the study row in one
    folded_reads: list[int] = []
    build = _read_folded.build_trials

    def recording_build(rows: Any) -> Any:
        folded_reads.append(1)
        return build(rows)

    monkeypatch.setattr(_read_folded, "build_trials", recording_build)
    folded = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(folded._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    got = folded.get_all_trials(study_id, deepcopy=False)
    assert folded_reads
    monkeypatch.setattr(_fast_paths, "mariadb_with_pymysql", lambda dialect: False)
    expected = RDBStorage(mysql_url).get_all_trials(study_id, deepcopy=False)
    assert len(folded_reads) == 1
    assert len(got) == 150
    assert [repr(t) for t in got] == [repr(t) for t in expected]


def _first_read_counting_row_reads(url: str, study_id: int) -> tuple[list[FrozenTrial], int]:
    """A fresh storage's read of the study, and how many reads row by row it made."""
    union_reads = 0
    build = _read.build_trials

    def recording_build(rows: Any) -> Any:
        nonlocal union_reads
        union_reads += 1
        return build(rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_read, "build_trials", recording_build)
        return RDBStorage(url).get_all_trials(study_id), union_reads


def test_mariadb_read_cut_short_by_the_server_reads_row_by_row(mysql_url: str) -> None:
    """A trial's array over ``group_concat_max_len`` (1 MiB) is cut by the server with a
    warning (JSON_ARRAYAGG). The read is done again row by row, and nothing is lost."""
    storage = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "big attrs")
    trial_id = storage.create_new_trial(study_id)
    attrs = {f"k{i:02}": "x" * 60_000 for i in range(20)}  # 20 x 60 kB (TEXT holds 64 kB)
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    got, union_reads = _first_read_counting_row_reads(mysql_url, study_id)
    assert union_reads
    assert {t._trial_id: t.user_attrs for t in got} == {trial_id: attrs}


def test_mariadb_reads_large_trials_one_row_each(mysql_url: str) -> None:
    """64 trials of 20 kB each (1.3 MB together) come through the first read's rows of one
    trial each, with no read row by row."""
    storage = RDBStorage(mysql_url)
    if not _fast_paths.mariadb_with_pymysql(storage._engine.dialect):
        pytest.skip("the MySQL test server is not MariaDB")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "large trials")
    expected = {}
    for i in range(64):
        trial_id = storage.create_new_trial(study_id)
        expected[trial_id] = {"k": chr(ord("a") + i % 26) * 20_000}
        storage.set_trial_user_attr(trial_id, "k", expected[trial_id]["k"])
    got, union_reads = _first_read_counting_row_reads(mysql_url, study_id)
    assert not union_reads
    assert {t._trial_id: t.user_attrs for t in got} == expected
