"""trialstore/distributions.py: construction rules, Optuna-identical JSON text, compatibility.

Optuna 5.0 is the reference for the JSON text and for which arguments are accepted.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from typing import Any

import optuna.distributions as od
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)

FLOAT_CASES: list[dict[str, Any]] = [
    {"low": 0.0, "high": 1.0},
    {"low": 0, "high": 1},
    {"low": -1e308, "high": 1e308},
    {"low": 0.5, "high": 0.5},
    {"low": 1e-5, "high": 1.0, "log": True},
    {"low": 1, "high": 1000, "log": True},
    {"low": -1.0, "high": 1.0, "step": 0.1},
    {"low": 0.0, "high": 1.05, "step": 0.1},
    {"low": 0, "high": 10, "step": 3},
    {"low": 1.0, "high": 2.0, "step": 0.3},
    {"low": 0.1, "high": 0.7, "step": 0.2},
    {"low": -5, "high": 5, "step": 2.5},
    {"low": 0.0, "high": 1e-9, "step": 1e-10},
    {"low": 3.0, "high": 3.0, "step": 1.0},
]
INT_CASES: list[dict[str, Any]] = [
    {"low": 0, "high": 10},
    {"low": -5, "high": 5, "step": 2},
    {"low": 0, "high": 10, "step": 3},
    {"low": 1, "high": 100, "log": True},
    {"low": 3, "high": 3},
    {"low": -(2**62), "high": 2**62},
    {"low": 0, "high": 1, "step": 5},
    {"low": 1.0, "high": 8.0},
]
CATEGORICAL_CASES: list[Sequence[Any]] = [
    ["a", "b"],
    [None],
    [1, 2.5, None, True, "x", False, 0],
    ["é", "日本", 'quote"s', "back\\slash", "🎉"],
    [1e308, -1e-308, 0.1],
    [math.inf, -math.inf],
    [math.nan],
    (1, 2, 3),
]


def _both(kind: str, kwargs: dict[str, Any]) -> tuple[BaseDistribution, Any]:
    ours = {"float": FloatDistribution, "int": IntDistribution}[kind](**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = {"float": od.FloatDistribution, "int": od.IntDistribution}[kind](**kwargs)
    return ours, theirs


@pytest.mark.parametrize("kwargs", FLOAT_CASES, ids=repr)
def test_float_json_is_optunas(kwargs: dict[str, Any]) -> None:
    ours, theirs = _both("float", kwargs)
    assert distribution_to_json(ours) == od.distribution_to_json(theirs)


@pytest.mark.parametrize("kwargs", INT_CASES, ids=repr)
def test_int_json_is_optunas(kwargs: dict[str, Any]) -> None:
    ours, theirs = _both("int", kwargs)
    assert distribution_to_json(ours) == od.distribution_to_json(theirs)


@pytest.mark.parametrize("choices", CATEGORICAL_CASES, ids=repr)
def test_categorical_json_is_optunas(choices: list[Any]) -> None:
    ours = CategoricalDistribution(choices)
    theirs = od.CategoricalDistribution(choices)
    assert distribution_to_json(ours) == od.distribution_to_json(theirs)


def test_json_text_shape() -> None:
    assert distribution_to_json(FloatDistribution(0, 1)) == (
        '{"name": "FloatDistribution", "attributes": '
        '{"step": null, "low": 0.0, "high": 1.0, "log": false}}'
    )
    assert distribution_to_json(IntDistribution(1, 9, step=2)) == (
        '{"name": "IntDistribution", "attributes": {"log": false, "step": 2, "low": 1, "high": 9}}'
    )
    assert distribution_to_json(CategoricalDistribution(["a", 1])) == (
        '{"name": "CategoricalDistribution", "attributes": {"choices": ["a", 1]}}'
    )


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    low=finite | st.integers(-1000, 1000),
    high=finite | st.integers(-1000, 1000),
    log=st.booleans(),
    step=st.none() | st.floats(1e-3, 100) | st.integers(1, 10) | st.floats(-1, 0),
)
def test_float_agrees_with_optuna(low: float, high: float, log: bool, step: float | None) -> None:
    kwargs: dict[str, Any] = {"low": low, "high": high, "log": log, "step": step}
    try:
        ours: BaseDistribution | None = FloatDistribution(**kwargs)
    except ValueError:
        ours = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = od.FloatDistribution(**kwargs)
    except ValueError:
        theirs = None
    assert (ours is None) == (theirs is None), kwargs
    if ours is not None and theirs is not None:
        assert distribution_to_json(ours) == od.distribution_to_json(theirs)
        assert ours.single() == theirs.single()
        for value in (low, high, (low + high) / 2, low + (step or 1), high + 1):
            assert ours._contains(float(value)) == theirs._contains(float(value)), value


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    low=st.integers(-100, 100),
    high=st.integers(-100, 100),
    log=st.booleans(),
    step=st.integers(-1, 7),
)
def test_int_agrees_with_optuna(low: int, high: int, log: bool, step: int) -> None:
    kwargs: dict[str, Any] = {"low": low, "high": high, "log": log, "step": step}
    try:
        ours: BaseDistribution | None = IntDistribution(**kwargs)
    except ValueError:
        ours = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = od.IntDistribution(**kwargs)
    except ValueError:
        theirs = None
    assert (ours is None) == (theirs is None), kwargs
    if ours is not None and theirs is not None:
        assert distribution_to_json(ours) == od.distribution_to_json(theirs)
        assert ours.single() == theirs.single()
        for value in range(low - 2, high + 3):
            assert ours._contains(float(value)) == theirs._contains(float(value)), value


@pytest.mark.parametrize(
    "dist",
    [
        *(FloatDistribution(**kw) for kw in FLOAT_CASES),
        *(IntDistribution(**kw) for kw in INT_CASES),
        *(CategoricalDistribution(c) for c in CATEGORICAL_CASES),
    ],
    ids=repr,
)
def test_json_round_trip_both_ways(dist: BaseDistribution) -> None:
    text = distribution_to_json(dist)
    assert json_to_distribution(text) == dist
    assert distribution_to_json(json_to_distribution(text)) == text
    theirs = od.json_to_distribution(text)
    assert od.distribution_to_json(theirs) == text


@pytest.mark.parametrize(
    ("name", "args", "ours"),
    [
        ("UniformDistribution", (0.0, 1.0), FloatDistribution(0.0, 1.0)),
        ("LogUniformDistribution", (1e-3, 1.0), FloatDistribution(1e-3, 1.0, log=True)),
        ("DiscreteUniformDistribution", (0.0, 1.0, 0.25), FloatDistribution(0.0, 1.0, step=0.25)),
        ("IntUniformDistribution", (0, 10, 2), IntDistribution(0, 10, step=2)),
        ("IntLogUniformDistribution", (1, 32), IntDistribution(1, 32, log=True)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_reads_optunas_pre_3_names(
    name: str, args: tuple[Any, ...], ours: BaseDistribution
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = od.distribution_to_json(getattr(od, name)(*args))
    assert json.loads(text)["name"] == name
    assert json_to_distribution(text) == ours


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"attributes": {}}',
        '{"name": "NoSuchDistribution", "attributes": {}}',
        '{"name": "FloatDistribution", "attributes": {"low": 1.0}}',
        '{"name": "FloatDistribution", "attributes": {"low": 2.0, "high": 1.0}}',
        '{"name": "FloatDistribution", "attributes": []}',
        '{"name": "CategoricalDistribution", "attributes": {"choices": []}}',
        '{"name": "IntDistribution", "attributes": {"low": 0, "high": 1, "bogus": 1}}',
        '{"name": ["FloatDistribution"], "attributes": {}}',
        '{"name": "UniformDistribution", "attributes": {"low": 0.0}}',
        '{"name": "DiscreteUniformDistribution", "attributes": {"low": 0.0, "high": 1.0}}',
    ],
)
def test_bad_json_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        json_to_distribution(text)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: FloatDistribution(2.0, 1.0), "low"),
        (lambda: FloatDistribution(math.nan, 1.0), "low"),
        (lambda: FloatDistribution(0.0, math.inf), "high"),
        (lambda: FloatDistribution("0", 1.0), "low"),  # type: ignore[arg-type]  # the wrong type on purpose
        (lambda: FloatDistribution(0.0, 1.0, log=True), "low"),
        (lambda: FloatDistribution(1.0, 2.0, log=True, step=0.5), "step"),
        (lambda: FloatDistribution(0.0, 1.0, step=0), "step"),
        (lambda: FloatDistribution(0.0, 1.0, step=-0.5), "step"),
        (lambda: IntDistribution(2, 1), "low"),
        (lambda: IntDistribution(0.5, 1), "low"),  # type: ignore[arg-type]  # the wrong type on purpose
        (lambda: IntDistribution(0, "1"), "high"),  # type: ignore[arg-type]  # the wrong type on purpose
        (lambda: IntDistribution(0, 10, step=0), "step"),
        (lambda: IntDistribution(0, 10, step=1.5), "step"),  # type: ignore[arg-type]  # the wrong type on purpose
        (lambda: IntDistribution(0, 10, log=True), "low"),
        (lambda: IntDistribution(1, 10, log=True, step=2), "step"),
        (lambda: CategoricalDistribution([]), "choices"),
        (lambda: CategoricalDistribution("ab"), "choices"),
        (lambda: CategoricalDistribution([[1]]), "choice"),  # type: ignore[list-item]  # the wrong type on purpose
        (lambda: CategoricalDistribution([{"a": 1}]), "choice"),  # type: ignore[list-item]  # the wrong type on purpose
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_arguments_raise_value_error_naming_the_field(make: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()


def test_representations() -> None:
    float_dist = FloatDistribution(0.0, 10.0)
    assert float_dist.to_internal_repr(3) == 3.0
    assert type(float_dist.to_external_repr(3.0)) is float
    int_dist = IntDistribution(0, 10)
    assert int_dist.to_external_repr(3.0) == 3
    assert type(int_dist.to_external_repr(3.0)) is int
    cat = CategoricalDistribution([None, True, 1, 1.5, "1"])
    assert [cat.to_internal_repr(c) for c in (None, True, 1, 1.5, "1")] == [0, 1, 2, 3, 4]
    assert [cat.to_external_repr(i) for i in range(5)] == [None, True, 1, 1.5, "1"]
    with pytest.raises(ValueError):
        cat.to_internal_repr("missing")
    for dist in (float_dist, int_dist):
        with pytest.raises(ValueError):
            dist.to_internal_repr("x")
        with pytest.raises(ValueError):
            dist.to_internal_repr(math.nan)
    with pytest.raises(ValueError):
        FloatDistribution(1, 2, log=True).to_internal_repr(-1.0)


def test_equality_and_hash() -> None:
    assert FloatDistribution(0, 1) == FloatDistribution(0.0, 1.0)
    assert hash(FloatDistribution(0, 1)) == hash(FloatDistribution(0.0, 1.0))
    assert FloatDistribution(0, 1) != FloatDistribution(0, 1, step=0.5)
    assert FloatDistribution(0, 1) != IntDistribution(0, 1)
    assert CategoricalDistribution(["a", "b"]) == CategoricalDistribution(("a", "b"))
    assert CategoricalDistribution([math.nan]) == CategoricalDistribution([math.nan])
    assert CategoricalDistribution(["a", "b"]) != CategoricalDistribution(["b", "a"])
    assert len({IntDistribution(0, 3), IntDistribution(0, 3), IntDistribution(0, 4)}) == 2


@pytest.mark.parametrize(
    ("old", "new", "compatible"),
    [
        (FloatDistribution(0, 1), FloatDistribution(5, 10, step=1), True),
        (FloatDistribution(0.1, 1), FloatDistribution(0.1, 1, log=True), False),
        (IntDistribution(0, 1), IntDistribution(0, 100, step=5), True),
        (IntDistribution(1, 2), IntDistribution(1, 2, log=True), False),
        (FloatDistribution(0, 1), IntDistribution(0, 1), False),
        (CategoricalDistribution(["a"]), CategoricalDistribution(["a"]), True),
        (CategoricalDistribution(["a", "b"]), CategoricalDistribution(["b", "a"]), False),
        (CategoricalDistribution(["a"]), CategoricalDistribution(["a", "b"]), False),
        (CategoricalDistribution([1]), CategoricalDistribution([1.0]), True),
    ],
    ids=repr,
)
def test_compatibility_agrees_with_optuna(
    old: BaseDistribution, new: BaseDistribution, compatible: bool
) -> None:
    def optuna_compatible() -> bool:
        try:
            od.check_distribution_compatibility(
                od.json_to_distribution(distribution_to_json(old)),
                od.json_to_distribution(distribution_to_json(new)),
            )
        except ValueError:
            return False
        return True

    assert optuna_compatible() == compatible
    if compatible:
        check_distribution_compatibility(old, new)
    else:
        with pytest.raises(ValueError):
            check_distribution_compatibility(old, new)


def test_huge_integer_bound_raises_value_error() -> None:
    with pytest.raises(ValueError, match="high"):
        FloatDistribution(0, 10**400)


_PROBES = [0.0, -0.0, 0.5, 0.999, 1.0, 1.5, 2.0, -1.0, -0.5, 1e-300, 5e-324, 1e300, -1e300]
_PROBES += [math.nan, math.inf, -math.inf]


@pytest.mark.parametrize(
    "dist",
    [
        FloatDistribution(0.0, 1.0),
        FloatDistribution(0.1, 1.0, log=True),
        FloatDistribution(0.0, 1.0, step=0.25),
        IntDistribution(0, 10),
        IntDistribution(1, 10, log=True),
        IntDistribution(2, 10, log=True),
        IntDistribution(0, 10, step=3),
    ],
    ids=repr,
)
def test_representable_is_a_finite_value_whose_external_value_converts_back(
    dist: FloatDistribution | IntDistribution,
) -> None:
    """The shortcut each class takes equals BaseDistribution's definition: finite, and the
    external value converts back (to_internal_repr); the range plays no part."""
    for value in _PROBES:
        assert dist._representable(value) == BaseDistribution._representable(dist, value), value
        if math.isfinite(value) and not dist.log:
            assert dist._representable(value), value


def test_representable_categorical_index_names_one_choice() -> None:
    dist = CategoricalDistribution(["a", None, 2.5])
    assert [dist._representable(v) for v in (0.0, 1.0, 2.0, 2)] == [True] * 4
    for value in (3.0, -1.0, 0.5, 1e300, *_PROBES[-3:]):
        assert not dist._representable(value), value
        assert not dist._contains(value), value
