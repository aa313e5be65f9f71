"""Conformance: what the state machine draws (private): parameters and their internal values,
attribute keys and values, numbers, and ``create_new_trial`` templates, each valid or with a
flaw every storage rejects."""

from __future__ import annotations

import datetime
import math
from typing import Any

from hypothesis import strategies as st

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

__all__ = [
    "CONTENT_FLAWS",
    "PALETTE",
    "STATE_FLAWS",
    "bad_numbers",
    "coin",
    "draw_attr_value",
    "draw_key",
    "draw_template",
    "good_floats",
    "invalid_internal",
    "json_values",
    "nan_values",
    "valid_internal",
]

#: Distributions per parameter name. Within a name, some pairs are incompatible.
PALETTE: dict[str, list[BaseDistribution]] = {
    "x": [
        FloatDistribution(0.0, 1.0),
        FloatDistribution(-5.0, 5.0, step=0.5),
        FloatDistribution(1e-3, 10.0, log=True),
        IntDistribution(0, 10),
    ],
    "n": [
        IntDistribution(1, 9),
        IntDistribution(0, 100, step=5),
        IntDistribution(1, 64, log=True),
        CategoricalDistribution([1, 2, 3]),
    ],
    "c": [
        CategoricalDistribution(["a", "b", None]),
        CategoricalDistribution([True, "1", 2.5]),
        CategoricalDistribution(["a", "b"]),
    ],
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
non_json_values = st.sampled_from(
    [{1, 2}, b"bytes", {(1, 2): 3}, [1, object()], {"k": {"n": 1j}}, object()]
)
good_keys = st.sampled_from(["a", "b", "", "key é"])
bad_keys = st.sampled_from([1, None, "k" * 513])
nan_values = st.floats(allow_nan=True, allow_infinity=True)
good_floats = st.floats(allow_nan=False)  # infinities included
bad_numbers = st.sampled_from([math.nan, "1.0", None, True, [1.0], 1j])


def valid_internal(dist: BaseDistribution) -> st.SearchStrategy[float]:
    """Internal values every storage keeps: inside the distribution (on its grid) or, for
    Float and Int, outside it (off the grid, beyond the bounds, non-integral for Int)."""
    if isinstance(dist, CategoricalDistribution):
        return st.integers(0, len(dist.choices) - 1).map(float)
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    if isinstance(dist, FloatDistribution):
        if dist.step is not None:
            count = round((dist.high - dist.low) / dist.step)
            inside = st.integers(0, count).map(lambda k: dist.low + k * dist.step)  # type: ignore[operator]
        else:
            inside = st.floats(dist.low, dist.high)
    else:
        count = (dist.high - dist.low) // dist.step
        grid = st.integers(0, count).map(lambda k: dist.low + k * dist.step)
        inside = grid | grid.map(float)
    if dist.log:  # log scale: Float > 0, Int >= 1
        smallest = 1.0 if isinstance(dist, IntDistribution) else 5e-324
        outside = st.floats(smallest, 1e6) | st.integers(1, 10**6)
    else:
        outside = st.floats(-1e6, 1e6) | st.integers(-(10**6), 10**6)
    edges = [dist.high + 1.0, dist.high * 2.0 + 1.0]
    if not dist.log:
        edges.append(dist.low - 1.0)
    if isinstance(dist, IntDistribution) or dist.step is not None:
        edges.append(dist.low + (dist.step or 1) / 2)
    return inside | outside | st.sampled_from(edges)


def invalid_internal(dist: BaseDistribution) -> st.SearchStrategy[Any]:
    """Internal values every storage rejects: not a finite real number, or one the
    distribution cannot represent."""
    if isinstance(dist, CategoricalDistribution):
        unrepresentable = [float(len(dist.choices)), -1.0, 0.5]
    elif isinstance(dist, FloatDistribution) and dist.log:
        unrepresentable = [0.0, -1.0, -dist.low]
    elif isinstance(dist, IntDistribution) and dist.log:
        unrepresentable = [0.0, 0.5, -1.0]
    else:
        unrepresentable = []
    return st.sampled_from(
        [*unrepresentable, math.nan, math.inf, -math.inf, 10**400, "0", None, True]
    )


def coin(data: st.DataObject, percent: int, label: str = "coin") -> bool:
    """Draw True with about ``percent`` % probability."""
    return data.draw(st.integers(0, 99), label=label) < percent


def draw_key(data: st.DataObject) -> Any:
    """An attribute key, bad in about 15 % of draws."""
    return data.draw(bad_keys if coin(data, 15, "bad key?") else good_keys, label="key")


def draw_attr_value(data: st.DataObject) -> Any:
    """An attribute value, not JSON-serializable in about 15 % of draws."""
    bad = coin(data, 15, "non-JSON value?")
    return data.draw(non_json_values if bad else json_values, label="value")


#: Template flaws in the state and what it requires (datetimes, values).
STATE_FLAWS = (
    "state",
    "no datetime_complete",
    "datetime_complete",
    "no datetime_start",
    "nan value",
    "value count",
)
#: Template flaws in the contents (params, attributes, intermediate values).
CONTENT_FLAWS = (
    "param unrepresentable",
    "not a distribution",
    "attr",
    "attr key",
    "step",
    "intermediate",
)


def _break_state(
    data: st.DataObject,
    template: FrozenTrial,
    flaw: str,
    start: datetime.datetime,
    n_directions: int,
) -> None:
    """Give ``template`` the flaw ``flaw`` (one of ``STATE_FLAWS``)."""
    if flaw == "state":
        bad_state: Any = data.draw(st.sampled_from(["COMPLETE", None, True, 9]))
        template.state = bad_state
    elif flaw == "no datetime_complete":
        template.datetime_complete = None
    elif flaw == "datetime_complete":
        template.datetime_complete = start
    elif flaw == "no datetime_start":
        template.datetime_start = None
    elif flaw == "nan value":
        template.values = [math.nan] * n_directions
    elif flaw == "value count":
        template.values = [1.0] * data.draw(st.sampled_from([0, n_directions + 1]))


def _break_contents(data: st.DataObject, template: FrozenTrial, flaw: str) -> None:
    """Give ``template`` the flaw ``flaw`` (one of ``CONTENT_FLAWS``)."""
    params, distributions = template.params, template.distributions
    if flaw == "param unrepresentable":
        dist, external = data.draw(
            st.sampled_from(
                [
                    (FloatDistribution(0.0, 1.0), math.nan),
                    (FloatDistribution(0.0, 1.0), math.inf),
                    (FloatDistribution(1e-3, 10.0, log=True), -1.0),
                    (IntDistribution(1, 64, log=True), 0),
                    (CategoricalDistribution(["a", "b"]), "z"),
                ]
            ),
            label="unrepresentable param",
        )
        template.params = {**params, "x": external}
        template.distributions = {**distributions, "x": dist}
    elif flaw == "not a distribution":
        template.params = {**params, "z": 0.5}
        template.distributions = {**distributions, "z": "FloatDistribution"}  # type: ignore[dict-item]
    elif flaw == "attr":
        template.user_attrs = {"bad": data.draw(non_json_values)}
    elif flaw == "attr key":
        template.system_attrs = {"k" * 513: 1}
    elif flaw == "step":
        template.intermediate_values = {data.draw(st.sampled_from([-1, 2**31])): 1.0}
    elif flaw == "intermediate":
        template.intermediate_values = {1: data.draw(st.sampled_from(["1", None]))}  # type: ignore[dict-item]


def draw_template(data: st.DataObject, n_directions: int) -> Any:
    """A ``create_new_trial`` template for a study of ``n_directions`` objectives: a valid
    FrozenTrial of any state in most draws, else one with a flaw every storage rejects (see
    ``STATE_FLAWS`` and ``CONTENT_FLAWS``) or not a FrozenTrial at all."""
    state = data.draw(st.sampled_from(list(TrialState)), label="template state")
    start = datetime.datetime(2023, 4, 5, 6, 7, 8, data.draw(st.integers(0, 999_999)))
    if coin(data, 20, "aware datetimes?"):
        start = start.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-3)))
    finished = state.is_finished()
    values = (
        data.draw(st.lists(good_floats, min_size=n_directions, max_size=n_directions))
        if state == TrialState.COMPLETE or data.draw(st.booleans())
        else None
    )
    params: dict[str, Any] = {}
    distributions: dict[str, Any] = {}
    for name in data.draw(st.lists(st.sampled_from(sorted(PALETTE)), unique=True)):
        dist = data.draw(st.sampled_from(PALETTE[name]))
        params[name] = dist.to_external_repr(data.draw(valid_internal(dist)))
        distributions[name] = dist
    if coin(data, 20, "distributions in another order?"):
        distributions = dict(reversed(distributions.items()))
    template = FrozenTrial(
        number=data.draw(st.integers(-5, 5)),
        state=state,
        value=None,
        values=values,
        datetime_start=None if state == TrialState.WAITING else start,
        datetime_complete=start + datetime.timedelta(seconds=1.5) if finished else None,
        params=params,
        distributions=distributions,
        user_attrs=data.draw(st.dictionaries(st.sampled_from(["a", "b"]), json_values)),
        system_attrs=data.draw(st.dictionaries(st.sampled_from(["a", "c"]), json_values)),
        intermediate_values=data.draw(
            st.dictionaries(st.integers(0, 2**31 - 1), nan_values, max_size=3)
        ),
        trial_id=data.draw(st.integers(-5, 5)),
    )
    flaw = data.draw(
        st.sampled_from(["none"] * 24 + [*STATE_FLAWS, *CONTENT_FLAWS, "not a trial"]),
        label="template flaw",
    )
    if flaw in STATE_FLAWS:
        _break_state(data, template, flaw, start, n_directions)
    elif flaw in CONTENT_FLAWS:
        _break_contents(data, template, flaw)
    elif flaw == "not a trial":
        return data.draw(st.sampled_from([{"state": TrialState.RUNNING}, 1, "trial"]))
    return template
