"""Wire encodings of the gRPC proxy (trialstore/storage/grpc/_convert.py) that the end-to-end
tests reach only in part."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("grpc")

from trialstore.distributions import CategoricalDistribution, FloatDistribution
from trialstore.storage.grpc import _convert as conv
from trialstore.storage.grpc._pb import storage_pb2 as pb
from trialstore.trial import TrialState


@pytest.mark.parametrize("values", [None, [], [1.5, -2.0]])
def test_state_values_keep_none_apart_from_no_values(values: list[float] | None) -> None:
    exact = conv.state_values_to_wire(7, TrialState.COMPLETE, values)
    decoded = pb.SetTrialStateValuesRequest.FromString(exact.request.SerializeToString())
    assert decoded.trial_id == 7
    assert conv.state_values_from_wire(decoded, exact.values_given) == (
        TrialState.COMPLETE,
        values,
    )
    # Optuna's form: no values is none.
    assert conv.state_values_from_wire(decoded) == (TrialState.COMPLETE, values or None)


def test_a_state_outside_trial_state_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="state: wire value 9"):
        conv.state_values_from_wire(pb.SetTrialStateValuesRequest(state=9))  # type: ignore[arg-type]


def test_params_keep_their_order_and_distributions() -> None:
    batch = [
        ("y", 1.0, CategoricalDistribution(["a", "b"])),
        ("x", 0.25, FloatDistribution(0.0, 1.0)),
    ]
    request = conv.params_to_wire(3, batch)
    assert request.trial_id == 3
    assert conv.params_from_wire(request) == {name: (v, d) for name, v, d in batch}
    assert list(conv.params_from_wire(request)) == ["y", "x"]


def test_a_parameter_given_twice_is_a_value_error() -> None:
    dist = FloatDistribution(0.0, 1.0)
    request = conv.params_to_wire(3, [("x", 0.1, dist), ("x", 0.2, dist)])
    with pytest.raises(ValueError, match="parameter 'x' is given twice"):
        conv.params_from_wire(request)


@pytest.mark.parametrize(("interval", "grace"), [(None, None), (2.0, 10.0)])
def test_heartbeat_settings_cross_the_wire(interval: Any, grace: Any) -> None:
    """A storage reports both settings or neither (heartbeats off)."""
    info = conv.server_info_to_wire("id", interval, grace)
    assert info.instance_id == "id" and info.server_version
    assert conv.heartbeat_from_wire(info) == (interval, grace)
    assert conv.heartbeat_from_wire(None) == (None, None)  # an Optuna server: off


def test_an_attribute_value_that_is_not_json_names_the_field() -> None:
    assert conv.attr_value_from_wire(conv.attr_value_to_wire({"a": [1, None]})) == {"a": [1, None]}
    with pytest.raises(ValueError, match="value: not JSON text"):
        conv.attr_value_from_wire("{nope")
