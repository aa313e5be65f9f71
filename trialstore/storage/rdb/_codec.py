"""Conversions between stored rows and trialstore values (private).

Datetimes are stored as naive UTC and handed out as naive local time; ±inf (and NaN for
intermediate values) are stored as NULL plus a type tag; distributions as Optuna's JSON text;
attributes as JSON text. These are Optuna's conventions.
"""

from __future__ import annotations

import datetime
import functools
import math
import time

from trialstore._core import StudyDirection, TrialState
from trialstore.distributions import BaseDistribution, json_to_distribution

__all__ = [
    "DIRECTION_BY_NAME",
    "STATE_BY_NAME",
    "UNFINISHED_STATE_NAMES",
    "from_stored_datetime",
    "from_stored_intermediate",
    "from_stored_value",
    "parse_distribution",
    "to_stored_datetime",
    "to_stored_intermediate",
    "to_stored_value",
]

STATE_BY_NAME = {state.name: state for state in TrialState}
DIRECTION_BY_NAME = {direction.name: direction for direction in StudyDirection}
UNFINISHED_STATE_NAMES = (TrialState.RUNNING.name, TrialState.WAITING.name)

_UTC = datetime.timezone.utc
_LOCAL_IS_UTC = time.timezone == 0 and time.altzone == 0


def to_stored_datetime(value: datetime.datetime | None) -> datetime.datetime | None:
    """Naive local (or aware) -> naive UTC."""
    if value is None:
        return None
    if _LOCAL_IS_UTC and value.tzinfo is None:
        return value
    return value.astimezone(_UTC).replace(tzinfo=None)


def from_stored_datetime(value: datetime.datetime | str | None) -> datetime.datetime | None:
    """Naive UTC -> naive local."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's text, read raw: fromisoformat is fast
        value = datetime.datetime.fromisoformat(value)
    if _LOCAL_IS_UTC and value.tzinfo is None:
        return value
    return value.replace(tzinfo=_UTC).astimezone().replace(tzinfo=None)


def to_stored_value(value: float) -> tuple[float | None, str]:
    """An objective value -> (column value, value_type)."""
    if value == math.inf:
        return None, "INF_POS"
    if value == -math.inf:
        return None, "INF_NEG"
    return value, "FINITE"


def from_stored_value(value: float | None, value_type: str) -> float:
    if value_type == "INF_POS":
        return math.inf
    if value_type == "INF_NEG":
        return -math.inf
    return float(value) if value is not None else math.nan


def to_stored_intermediate(value: float) -> tuple[float | None, str]:
    """An intermediate value -> (column value, intermediate_value_type)."""
    if math.isnan(value):
        return None, "NAN"
    return to_stored_value(value)


def from_stored_intermediate(value: float | None, value_type: str) -> float:
    if value_type == "NAN":
        return math.nan
    return from_stored_value(value, value_type)


@functools.lru_cache(maxsize=4096)
def parse_distribution(distribution_json: str) -> BaseDistribution:
    """Return the distribution of a stored JSON text (memoised: distributions are values)."""
    return json_to_distribution(distribution_json)
