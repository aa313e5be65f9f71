"""Finished trials as columns (trialstore/storage/_columns.py): what is encoded is
built back exactly, merged chunks hold the trials of both, and columns that do not fit
together are refused."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.storage._columns import (
    build_chunk,
    dset_info,
    encode_chunk,
    merge_columns,
)

FLOAT = FloatDistribution(-1.0, 1.0)
INT = IntDistribution(0, 10)
CAT = CategoricalDistribution(["a", None, 2, 2.5, True])
START = datetime.datetime(2026, 12, 7, 10, 0, 0, 123456)


def trial(
    number: int,
    *,
    state: TrialState = TrialState.COMPLETE,
    values: list[float] | None = None,
    params: dict[str, Any] | None = None,
    distributions: dict[str, BaseDistribution] | None = None,
    user_attrs: dict[str, Any] | None = None,
    system_attrs: dict[str, Any] | None = None,
    intermediate_values: dict[int, float] | None = None,
    complete: datetime.datetime | None = START,
) -> FrozenTrial:
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=values,
        datetime_start=START,
        datetime_complete=complete,
        params=params or {},
        distributions=distributions or {},
        user_attrs=user_attrs or {},
        system_attrs=system_attrs or {},
        intermediate_values=intermediate_values or {},
        trial_id=100 + number,
    )


TRIALS = [
    trial(0, values=[0.5], params={"x": 0.25}, distributions={"x": FLOAT}),
    trial(1, values=[math.inf, -math.inf], intermediate_values={0: math.nan, 7: 1.5}),
    trial(2, state=TrialState.FAIL, values=None, complete=None),
    trial(
        3,
        values=[math.nan],
        params={"x": -1.0, "n": 3, "c": None},
        distributions={"x": FLOAT, "n": INT, "c": CAT},
        user_attrs={"note": "é", "list": [1, {"k": None}]},
    ),
    trial(4, state=TrialState.PRUNED, params={"c": True}, distributions={"c": CAT}),
    trial(5, system_attrs={"fixed_params": {"x": 0.1}}, intermediate_values={-3: 2.0}),
    # Parameters that the internal float does not give back as they are: kept as they are.
    trial(6, params={"n": 3.7}, distributions={"n": INT}),
    trial(7, params={"x": 0.5}, distributions={"x": FLOAT, "y": FLOAT}),
    trial(8, params={}, distributions={"x": FLOAT}),
]


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(type(a) is type(b) and a == b)


def encode(trials: list[FrozenTrial]) -> tuple[dict[str, bytes], list[Any]]:
    table: list[dict[str, BaseDistribution]] = []

    def dset_of(distributions: dict[str, BaseDistribution]) -> int:
        for i, known in enumerate(table):
            if list(known.items()) == list(distributions.items()):
                return i
        table.append(dict(distributions))
        return len(table) - 1

    columns = encode_chunk(trials, dset_of)
    return columns, dset_info(table)


def build(columns: dict[str, bytes], dsets: list[Any]) -> list[FrozenTrial]:
    return build_chunk({k: memoryview(v) for k, v in columns.items()}, dsets)


def test_trials_are_built_back_exactly() -> None:
    columns, dsets = encode(TRIALS)
    built = build(columns, dsets)
    assert len(built) == len(TRIALS)
    for got, want in zip(built, TRIALS, strict=True):
        for name in want.__getstate__():
            assert same(getattr(got, name), getattr(want, name)), (want.number, name)
        # Types of the values survive too: an int stays an int, None stays None.
        assert [type(v) for v in got.params.values()] == [type(v) for v in want.params.values()]


def test_built_trials_do_not_share_their_attribute_dicts() -> None:
    columns, dsets = encode([trial(0), trial(1)])
    a, b = build(columns, dsets)
    assert a.user_attrs == b.user_attrs == {}
    assert a.user_attrs is not b.user_attrs
    assert a.system_attrs is not b.system_attrs


def test_merged_columns_hold_the_trials_of_both_chunks() -> None:
    first, dsets = encode(TRIALS)
    second, _ = encode(TRIALS)  # the same table: the same sets in the same order
    merged = {name: merge_columns(name, [first[name], second[name]]) for name in first}
    built = build(merged, dsets)
    assert [t.number for t in built] == [t.number for t in TRIALS] * 2
    empty, _ = encode([])
    assert {name: merge_columns(name, [empty[name], first[name]]) for name in first} == first


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.update(number=c["number"][:-8]),
        lambda c: c.update(param=c["param"][:-8]),
        lambda c: c.update(ivval=c["ivval"] + c["ivval"][:8]),
        lambda c: c.update(time=b"[]"),
        lambda c: c.update(dset=b"\xff" * len(c["dset"])),
        lambda c: c.update(val=c["val"][:-1]),
    ],
    ids=["numbers short", "params short", "values long", "times", "negative", "torn float"],
)
def test_columns_that_do_not_fit_are_refused(damage: Any) -> None:
    columns, dsets = encode(TRIALS)
    damage(columns)
    with pytest.raises((ValueError, IndexError, TypeError, KeyError)):
        build(columns, dsets)
