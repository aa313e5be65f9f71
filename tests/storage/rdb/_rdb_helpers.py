"""Helpers shared by the RDB storage tests (not collected: no ``test_`` prefix)."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

DIALECTS = ["sqlite", "postgresql", "mysql"]


def database_url(request: pytest.FixtureRequest, dialect: str, tmp_path: Any) -> str:
    """Return a URL of a fresh, empty database of ``dialect`` (server ones via conftest)."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    fixture = {"postgresql": "postgres_url", "mysql": "mysql_url"}[dialect]
    url: str = request.getfixturevalue(fixture)
    return url


def _float_key(value: float | None) -> Any:
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    return value


def trial_key(trial: Any) -> tuple[Any, ...]:
    """Every field of an Optuna or trialstore FrozenTrial, comparable across the libraries
    (NaN-safe; distributions as their JSON text; datetimes to the second on MySQL-made data
    is the caller's business)."""
    from trialstore.distributions import json_to_distribution

    def dist_text(dist: Any) -> str:
        from trialstore.distributions import distribution_to_json

        name = type(dist).__name__
        attrs = dict(dist.__dict__)
        if name == "CategoricalDistribution":
            attrs = {"choices": tuple(dist.choices)}
        import json

        return distribution_to_json(
            json_to_distribution(json.dumps({"name": name, "attributes": attrs}))
        )

    return (
        trial.number,
        int(trial.state),
        None if trial.values is None else [_float_key(v) for v in trial.values],
        trial.datetime_start,
        trial.datetime_complete,
        dict(trial.params),
        {name: dist_text(d) for name, d in trial.distributions.items()},
        trial.user_attrs,
        trial.system_attrs,
        {step: _float_key(v) for step, v in trial.intermediate_values.items()},
    )


def truncate_seconds(value: datetime.datetime | None) -> datetime.datetime | None:
    return None if value is None else value.replace(microsecond=0)
