"""Optuna's own reusable storage suite on ``to_optuna(...)`` of every trialstore backend.

``optuna.testing.pytest_storages.StorageTestCase`` is Optuna 5.0's test case for storages; each
test runs here, unmodified, once per backend and once per gRPC proxy over a backend (see
``conftest.py``).
"""

from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from optuna.storages import BaseStorage as OptunaBaseStorage  # noqa: E402
from optuna.testing.pytest_storages import StorageTestCase  # noqa: E402

from trialstore.interop.optuna import to_optuna  # noqa: E402


@pytest.fixture
def storage(ts_backend_or_proxy) -> OptunaBaseStorage:  # type: ignore[no-untyped-def]
    return to_optuna(ts_backend_or_proxy())


class TestOptunaStorageSuite(StorageTestCase):
    """Optuna's storage test case, unchanged."""


def test_set_trial_param_checks_trial_before_arguments(storage: OptunaBaseStorage) -> None:
    """Through Optuna's interface, a finished or missing trial is reported before arguments
    trialstore rejects (a value the distribution cannot represent, an incompatible
    distribution, a negative step), as Optuna's storages do."""
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    log_dist = optuna.distributions.FloatDistribution(1.0, 10.0, log=True)
    choices = optuna.distributions.CategoricalDistribution(["a", "b"])
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.25, dist)
    storage.set_trial_param(trial_id, "c", 1, choices)
    assert storage.get_trial(trial_id).params == {"x": 0.25, "c": "b"}
    with pytest.raises(ValueError):
        storage.set_trial_param(trial_id, "c", 2, choices)  # names no choice
    storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [0.0])
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_param(trial_id, "x", 0.5, log_dist)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_param(trial_id, "c", 2, choices)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.WAITING)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_intermediate_value(trial_id, -1, 0.0)
    with pytest.raises(KeyError):
        storage.set_trial_param(trial_id + 1, "x", 5.0, dist)
    assert storage.get_trial(trial_id).params == {"x": 0.25, "c": "b"}
