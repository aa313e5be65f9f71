"""Converting between trialstore objects and the proxy's protobuf messages (private).

Every encoding of the wire is here, used by both the client and the server.

Optuna's wire conventions: directions MINIMIZE=0 and MAXIMIZE=1 (not Python's values), trial
states equal to Python's, datetimes as ``%Y-%m-%d %H:%M:%S.%f`` text (``""`` for none), params
as internal floats, distributions and attribute values as JSON text, an empty values list for
none. :class:`TrialExtras` carries what those conventions lose (map order, timezones) between
trialstore peers, and ``values_given`` tells an empty list from none in a state write.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Sequence
from typing import Any

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import BaseDistribution, distribution_to_json, json_to_distribution
from trialstore.storage.grpc._idempotency import CREATE_REQUEST_ATTR
from trialstore.storage.grpc._pb import extensions_pb2, storage_pb2
from trialstore.version import __version__

__all__ = [
    "DATETIME_FORMAT",
    "attr_value_from_wire",
    "attr_value_to_wire",
    "attrs_from_wire",
    "attrs_to_wire",
    "directions_from_wire",
    "directions_to_wire",
    "distribution_from_wire",
    "distribution_to_wire",
    "exact_trial",
    "heartbeat_from_wire",
    "params_from_wire",
    "params_to_wire",
    "server_info_to_wire",
    "state_from_wire",
    "state_values_from_wire",
    "state_values_to_wire",
    "study_from_proto",
    "study_to_proto",
    "trial_from_proto",
    "trial_to_proto",
]

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

_TO_WIRE_DIRECTION = {
    StudyDirection.MINIMIZE: storage_pb2.MINIMIZE,
    StudyDirection.MAXIMIZE: storage_pb2.MAXIMIZE,
}
_FROM_WIRE_DIRECTION: dict[int, StudyDirection] = {
    int(wire): direction for direction, wire in _TO_WIRE_DIRECTION.items()
}


def directions_to_wire(directions: Iterable[StudyDirection]) -> list[storage_pb2.StudyDirection]:
    """Return wire enum values (MINIMIZE=0, MAXIMIZE=1); the caller has validated them."""
    return [_TO_WIRE_DIRECTION[StudyDirection(d)] for d in directions]


def directions_from_wire(directions: Iterable[int]) -> list[StudyDirection]:
    """Return StudyDirections.

    Raises:
        ValueError: a value other than MINIMIZE (0) or MAXIMIZE (1).
    """
    result = []
    for wire in directions:
        if wire not in _FROM_WIRE_DIRECTION:
            raise ValueError(
                f"directions: wire value {wire!r} is not allowed; allowed: 0 (MINIMIZE), "
                "1 (MAXIMIZE)."
            )
        result.append(_FROM_WIRE_DIRECTION[wire])
    return result


def state_from_wire(state: int) -> TrialState:
    """Return the TrialState of a wire value.

    Raises:
        ValueError: not a TrialState value.
    """
    try:
        return TrialState(state)
    except ValueError:
        raise ValueError(f"state: wire value {state!r} is not a TrialState (0..4).") from None


def attr_value_to_wire(value: Any) -> str:
    """Return an attribute value as JSON text; the caller has validated it."""
    return json.dumps(value)


def attr_value_from_wire(text: str) -> Any:
    """Return the value of one attribute's JSON text (a ``value`` field).

    Raises:
        ValueError: not JSON text (the message names the field ``value``).
    """
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"value: not JSON text: {text[:200]!r}") from None


def attrs_to_wire(attrs: dict[str, Any]) -> dict[str, str]:
    """Return the attributes with JSON-text values."""
    return {key: attr_value_to_wire(value) for key, value in attrs.items()}


def attrs_from_wire(attrs: Any, order: Sequence[str] = ()) -> dict[str, Any]:
    """Return the attributes with parsed values, in ``order`` when it names every key.

    Raises:
        ValueError: a value is not JSON text.
    """
    keys = list(order) if len(order) == len(attrs) and set(order) == set(attrs) else list(attrs)
    result = {}
    for key in keys:
        text = attrs[key]
        try:
            result[key] = json.loads(text)
        except ValueError:
            raise ValueError(f"value of attribute {key!r} is not JSON text: {text!r}") from None
    return result


def distribution_to_wire(distribution: BaseDistribution) -> str:
    """Return a distribution as JSON text (Optuna's form)."""
    return distribution_to_json(distribution)


def distribution_from_wire(text: str) -> BaseDistribution:
    """Return the distribution that JSON text (trialstore's or any Optuna version's) holds.

    Raises:
        ValueError: not a distribution's JSON text.
    """
    return json_to_distribution(text)


def params_to_wire(
    trial_id: int, params: Iterable[tuple[str, float, BaseDistribution]]
) -> extensions_pb2.SetTrialParamsRequest:
    """Return a batch of (name, internal value, distribution), in its order, as one request;
    the caller has validated it."""
    return extensions_pb2.SetTrialParamsRequest(
        trial_id=trial_id,
        params=[
            extensions_pb2.TrialParam(
                param_name=name,
                param_value_internal=internal,
                distribution=distribution_to_wire(distribution),
            )
            for name, internal, distribution in params
        ],
    )


def params_from_wire(
    request: extensions_pb2.SetTrialParamsRequest,
) -> dict[str, tuple[float, BaseDistribution]]:
    """Return the batch of a request as ``{name: (internal value, distribution)}``, in its
    order.

    Raises:
        ValueError: a name given twice (a mapping cannot hold it), or a distribution that is
            not a distribution's JSON text.
    """
    params: dict[str, tuple[float, BaseDistribution]] = {}
    for param in request.params:
        if param.param_name in params:
            raise ValueError(f"params: parameter {param.param_name!r} is given twice.")
        params[param.param_name] = (
            param.param_value_internal,
            distribution_from_wire(param.distribution),
        )
    return params


def state_values_to_wire(
    trial_id: int, state: TrialState, values: Sequence[float] | None
) -> extensions_pb2.SetTrialStateValuesRequest:
    """Return a state write in trialstore's form; its ``request`` field is Optuna's form
    (which cannot tell an empty list of values from none). The caller has validated it."""
    return extensions_pb2.SetTrialStateValuesRequest(
        request=storage_pb2.SetTrialStateValuesRequest(
            trial_id=trial_id,
            state=int(state),  # type: ignore[arg-type]
            values=values or [],
        ),
        values_given=values is not None,
    )


def state_values_from_wire(
    request: storage_pb2.SetTrialStateValuesRequest, values_given: bool | None = None
) -> tuple[TrialState, list[float] | None]:
    """Return the state and values of a state write. ``values_given`` comes with
    trialstore's form; None: Optuna's form, where no values means none.

    Raises:
        ValueError: not a TrialState value.
    """
    state = state_from_wire(request.state)
    if values_given is None:
        return state, list(request.values) or None
    return state, list(request.values) if values_given else None


def server_info_to_wire(
    instance_id: str, heartbeat_interval: float | None, grace_period: float | None
) -> extensions_pb2.GetServerInfoReply:
    """Return a server's settings (None: heartbeats off) with this package's version."""
    return extensions_pb2.GetServerInfoReply(
        server_version=__version__,
        instance_id=instance_id,
        heartbeat_enabled=heartbeat_interval is not None,
        heartbeat_interval=heartbeat_interval or 0.0,
        grace_period=grace_period or 0.0,
    )


def heartbeat_from_wire(
    info: extensions_pb2.GetServerInfoReply | None,
) -> tuple[float | None, float | None]:
    """Return (heartbeat interval, grace period) of a server's settings; (None, None) when
    heartbeats are off or there are no settings (an Optuna server)."""
    if info is None or not info.heartbeat_enabled:
        return None, None
    return info.heartbeat_interval, info.grace_period


def _datetime_to_wire(value: datetime.datetime | None) -> str:
    return "" if value is None else value.strftime(DATETIME_FORMAT)


def _datetime_from_wire(field: str, text: str, iso: str = "") -> datetime.datetime | None:
    try:
        if iso:
            return datetime.datetime.fromisoformat(iso)
        return datetime.datetime.strptime(text, DATETIME_FORMAT) if text else None
    except ValueError:
        raise ValueError(f"{field}: not a datetime: {iso or text!r}") from None


def _public_system_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` without the create's request id the server keeps in each trial it creates."""
    if CREATE_REQUEST_ATTR not in attrs:
        return attrs
    return {key: value for key, value in attrs.items() if key != CREATE_REQUEST_ATTR}


def trial_to_proto(trial: FrozenTrial) -> storage_pb2.Trial:
    """Return Optuna's wire form of ``trial``."""
    return storage_pb2.Trial(
        trial_id=trial._trial_id,
        number=trial.number,
        state=int(trial.state),  # type: ignore[arg-type]
        values=trial.values or [],
        datetime_start=_datetime_to_wire(trial.datetime_start),
        datetime_complete=_datetime_to_wire(trial.datetime_complete),
        params={
            name: dist.to_internal_repr(trial.params[name])
            for name, dist in trial.distributions.items()
        },
        distributions={
            name: distribution_to_json(dist) for name, dist in trial.distributions.items()
        },
        user_attributes=attrs_to_wire(trial.user_attrs),
        system_attributes=attrs_to_wire(_public_system_attrs(trial.system_attrs)),
        intermediate_values=trial.intermediate_values,
    )


def exact_trial(trial: FrozenTrial) -> extensions_pb2.ExactTrial:
    """Return ``trial`` on the wire together with what Optuna's form loses."""
    start, complete = trial.datetime_start, trial.datetime_complete
    return extensions_pb2.ExactTrial(
        trial=trial_to_proto(trial),
        extras=extensions_pb2.TrialExtras(
            param_order=list(trial.distributions),
            user_attribute_order=list(trial.user_attrs),
            system_attribute_order=list(_public_system_attrs(trial.system_attrs)),
            datetime_start="" if start is None else start.isoformat(),
            datetime_complete="" if complete is None else complete.isoformat(),
            values_given=trial.values is not None,
        ),
    )


def trial_from_proto(
    proto: storage_pb2.Trial, extras: extensions_pb2.TrialExtras | None = None
) -> FrozenTrial:
    """Return the FrozenTrial that ``proto`` (plus ``extras`` from a trialstore peer) carries.

    Raises:
        ValueError: a field cannot be decoded (bad state, datetime, distribution or JSON text,
            a param without a distribution or one its distribution cannot represent).
    """
    if extras is None:
        extras = extensions_pb2.TrialExtras()
    names = list(proto.distributions)
    if len(extras.param_order) == len(names) and set(extras.param_order) == set(names):
        names = list(extras.param_order)
    if set(proto.params) != set(names):
        raise ValueError("template_trial: params and distributions must have the same keys.")
    distributions = {name: json_to_distribution(proto.distributions[name]) for name in names}
    params = {}
    for name, dist in distributions.items():
        try:
            params[name] = dist.to_external_repr(proto.params[name])
        except (ValueError, IndexError, TypeError, OverflowError):
            raise ValueError(
                f"param {name!r}: internal value {proto.params[name]!r} cannot be "
                f"represented by {dist!r}."
            ) from None
    return FrozenTrial(
        number=proto.number,
        state=state_from_wire(proto.state),
        value=None,
        values=list(proto.values) if proto.values or extras.values_given else None,
        datetime_start=_datetime_from_wire(
            "datetime_start", proto.datetime_start, extras.datetime_start
        ),
        datetime_complete=_datetime_from_wire(
            "datetime_complete", proto.datetime_complete, extras.datetime_complete
        ),
        params=params,
        distributions=distributions,
        user_attrs=attrs_from_wire(proto.user_attributes, extras.user_attribute_order),
        system_attrs=attrs_from_wire(proto.system_attributes, extras.system_attribute_order),
        intermediate_values=dict(proto.intermediate_values),
        trial_id=proto.trial_id,
    )


def study_to_proto(study: FrozenStudy) -> storage_pb2.Study:
    """Return Optuna's wire form of ``study``."""
    return storage_pb2.Study(
        study_id=study._study_id,
        study_name=study.study_name,
        directions=directions_to_wire(study.directions),
        user_attributes=attrs_to_wire(study.user_attrs),
        system_attributes=attrs_to_wire(study.system_attrs),
    )


def study_from_proto(proto: storage_pb2.Study) -> FrozenStudy:
    """Return the FrozenStudy that ``proto`` carries.

    Raises:
        ValueError: a direction or attribute cannot be decoded.
    """
    return FrozenStudy(
        study_name=proto.study_name,
        direction=None,
        directions=directions_from_wire(proto.directions),
        user_attrs=attrs_from_wire(proto.user_attributes),
        system_attrs=attrs_from_wire(proto.system_attributes),
        study_id=proto.study_id,
    )
