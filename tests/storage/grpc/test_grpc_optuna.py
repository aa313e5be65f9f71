"""Wire compatibility of the gRPC proxy (trialstore/storage/grpc) with Optuna 5.0, both ways.

* Optuna's ``GrpcStorageProxy`` (and its study layer) against a trialstore server;
* trialstore's ``GrpcStorageProxy`` against Optuna's ``run_grpc_proxy_server``, run in a
  subprocess so the two libraries' servers never share a process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")
optuna = pytest.importorskip("optuna")

from _grpc_helpers import served  # noqa: E402

from trialstore.distributions import CategoricalDistribution, FloatDistribution  # noqa: E402
from trialstore.exceptions import (  # noqa: E402
    DuplicatedStudyError,
    UpdateFinishedTrialError,
)
from trialstore.storage import InMemoryStorage  # noqa: E402
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import FrozenTrial, TrialState  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def backend() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def server(backend: InMemoryStorage) -> Iterator[GrpcProxyServer]:
    with served(backend) as server:
        yield server


@pytest.fixture
def optuna_client(server: GrpcProxyServer) -> Any:
    client = optuna.storages.GrpcStorageProxy(host="localhost", port=server.port)
    yield client
    client.close()


# -- Optuna's client, trialstore's server --------------------------------------------------


def test_optuna_study_runs_against_a_trialstore_server(
    optuna_client: Any, backend: InMemoryStorage
) -> None:
    study = optuna.create_study(
        study_name="from-optuna",
        storage=optuna_client,
        directions=["minimize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    study.set_user_attr("owner", {"name": "x", "n": [1, 2]})
    study.enqueue_trial({"x": 0.25, "c": "b"})

    def objective(trial: Any) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        c = trial.suggest_categorical("c", ["a", "b"])
        trial.set_user_attr("c", c)
        return x, x * 2

    study.optimize(objective, n_trials=12)
    ours = backend.get_all_trials(backend.get_study_id_from_name("from-optuna"))
    assert [t.number for t in ours] == list(range(12))
    assert ours[0].params == {"x": 0.25, "c": "b"}
    theirs = study.get_trials()
    assert [(t.number, t.state.value, t.values, t.params, t.user_attrs) for t in theirs] == [
        (t.number, int(t.state), t.values, t.params, t.user_attrs) for t in ours
    ]
    assert theirs[3].datetime_start == ours[3].datetime_start
    assert study.user_attrs == {"owner": {"name": "x", "n": [1, 2]}}
    assert backend.get_study_directions(study._study_id) == [
        StudyDirection.MINIMIZE,
        StudyDirection.MAXIMIZE,
    ]
    summaries = optuna.get_all_study_summaries(optuna_client)
    assert [s.study_name for s in summaries] == ["from-optuna"]


def test_optuna_client_sees_optuna_status_codes(optuna_client: Any) -> None:
    study_id = optuna_client.create_new_study([optuna.study.StudyDirection.MINIMIZE], "dup")
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna_client.create_new_study([optuna.study.StudyDirection.MINIMIZE], "dup")
    with pytest.raises(KeyError):
        optuna_client.get_study_name_from_id(study_id + 10)
    trial_id = optuna_client.create_new_trial(study_id)
    optuna_client.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [1.0])
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        optuna_client.set_trial_user_attr(trial_id, "k", 1)
    with pytest.raises(ValueError):  # an index that names no choice: INVALID_ARGUMENT
        optuna_client.set_trial_param(
            optuna_client.create_new_trial(study_id),
            "c",
            2,
            optuna.distributions.CategoricalDistribution(["a", "b"]),
        )


def test_optuna_study_uses_enqueued_values_outside_the_range(
    optuna_client: Any, backend: InMemoryStorage
) -> None:
    """Optuna's study layer writes an enqueued value outside the suggested range as given;
    the server stores it, and both sides read it back."""
    study = optuna.create_study(study_name="out-of-range", storage=optuna_client)
    study.enqueue_trial({"x": 100.0, "n": 3})

    def objective(trial: Any) -> float:
        return float(trial.suggest_float("x", 0, 10) + trial.suggest_int("n", 0, 10, step=2))

    with pytest.warns(UserWarning) as caught:
        study.optimize(objective, n_trials=1)
    assert [str(w.message) for w in caught] == [
        "Fixed parameter x with value 100.0 is out of range for distribution "
        "FloatDistribution(high=10.0, log=False, low=0.0, step=None).",
        "Fixed parameter n with value 3 is out of range for distribution "
        "IntDistribution(high=10, log=False, low=0, step=2).",
    ]
    [trial] = study.get_trials()
    assert trial.state == optuna.trial.TrialState.COMPLETE
    assert trial.params == {"x": 100.0, "n": 3} and trial.value == 103.0
    [stored] = backend.get_all_trials(backend.get_study_id_from_name("out-of-range"))
    assert stored.state == TrialState.COMPLETE
    assert stored.params == {"x": 100.0, "n": 3}


def test_optuna_template_trials_round_trip(optuna_client: Any, backend: InMemoryStorage) -> None:
    study = optuna.create_study(study_name="t", storage=optuna_client)
    trial = optuna.trial.create_trial(
        params={"x": 2.0, "c": "q"},
        distributions={
            "x": optuna.distributions.FloatDistribution(1.0, 3.0),
            "c": optuna.distributions.CategoricalDistribution(["p", "q"]),
        },
        value=0.5,
        intermediate_values={0: float("nan"), 3: float("inf")},
        user_attrs={"u": [1]},
        system_attrs={"s": None},
    )
    study.add_trial(trial)
    [stored] = backend.get_all_trials(study._study_id)
    assert stored.params == {"x": 2.0, "c": "q"}
    assert stored.values == [0.5] and stored.user_attrs == {"u": [1]}
    assert stored.intermediate_values[3] == float("inf")
    [back] = study.get_trials()
    assert back.params == trial.params and back.system_attrs == {"s": None}


# -- trialstore's client, Optuna's server ---------------------------------------------------

_OPTUNA_SERVER = """
import sys, warnings
warnings.simplefilter("ignore")
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
optuna.storages.run_grpc_proxy_server(
    optuna.storages.InMemoryStorage(), host="127.0.0.1", port=int(sys.argv[1])
)
"""


@pytest.fixture(scope="module")
def optuna_server() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-c", _OPTUNA_SERVER, str(port)])
    try:
        GrpcStorageProxy(host="127.0.0.1", port=port).wait_server_ready(timeout=60)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def ts_client(optuna_server: int) -> Iterator[GrpcStorageProxy]:
    client = GrpcStorageProxy(host="127.0.0.1", port=optuna_server, retry_timeout=5)
    yield client
    client.close()


def test_trialstore_client_against_an_optuna_server(ts_client: GrpcStorageProxy) -> None:
    name = f"ts-{time.monotonic_ns()}"
    study_id = ts_client.create_new_study([StudyDirection.MAXIMIZE], name)
    assert ts_client.get_study_id_from_name(name) == study_id
    assert ts_client.get_study_directions(study_id) == [StudyDirection.MAXIMIZE]
    ts_client.set_study_user_attr(study_id, "k", {"a": [1, None]})
    assert ts_client.get_study_user_attrs(study_id) == {"k": {"a": [1, None]}}
    trial_id = ts_client.create_new_trial(study_id)
    ts_client.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    ts_client.set_trial_param(trial_id, "c", 1, CategoricalDistribution(["a", "b"]))
    ts_client.set_trial_intermediate_value(trial_id, 2, float("nan"))
    ts_client.set_trial_user_attr(trial_id, "u", 1)
    assert ts_client.set_trial_state_values(trial_id, TrialState.COMPLETE, [3.0])
    template = FrozenTrial(
        number=0,
        state=TrialState.WAITING,
        value=None,
        datetime_start=None,
        datetime_complete=None,
        params={"x": 0.25},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={},
        system_attrs={"fixed_params": {"x": 0.25}},
        intermediate_values={},
        trial_id=0,
    )
    waiting = ts_client.create_new_trial(study_id, template)
    assert ts_client.set_trial_state_values(waiting, TrialState.RUNNING)
    assert not ts_client.set_trial_state_values(waiting, TrialState.RUNNING)
    trials = ts_client.get_all_trials(study_id)
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.RUNNING]
    assert trials[0].params == {"x": 0.5, "c": "b"} and trials[0].values == [3.0]
    assert trials[0].user_attrs == {"u": 1}
    assert ts_client.get_best_trial(study_id).number == 0
    assert ts_client.get_heartbeat_interval() is None  # Optuna's proxy has no heartbeats
    assert ts_client.get_stale_trial_ids(study_id) == []
    assert name in [s.study_name for s in ts_client.get_all_studies()]
    with pytest.raises(DuplicatedStudyError):
        ts_client.create_new_study([StudyDirection.MAXIMIZE], name)
    with pytest.raises(KeyError):
        ts_client.get_trial(10**9)
    with pytest.raises(UpdateFinishedTrialError):
        ts_client.set_trial_user_attr(trial_id, "u", 2)
    ts_client.set_trial_param(waiting, "x", 2.0, FloatDistribution(0, 1))  # outside: stored
    assert ts_client.get_trial(waiting).params == {"x": 2.0}
    with pytest.raises(ValueError):  # checked by the client before it sends
        ts_client.set_trial_param(waiting, "c", 2, CategoricalDistribution(["a", "b"]))
    with pytest.raises(ValueError, match="log"):  # INVALID_ARGUMENT from Optuna's server
        ts_client.set_trial_param(waiting, "x", 2.0, FloatDistribution(0.1, 3, log=True))
    ts_client.delete_study(study_id)
    with pytest.raises(KeyError):
        ts_client.get_all_trials(study_id)


@pytest.mark.parametrize(
    "first_call",
    [
        "create_new_trial",
        "get_trial",
        "get_all_trials",
        "set_trial_state_values",
        "record_heartbeat",
        "get_stale_trial_ids",
        "fail_stale_trials",
        "get_heartbeat_interval",
    ],
)
def test_a_new_clients_first_call_finds_out_it_talks_to_optuna(
    optuna_server: int, first_call: str
) -> None:
    """A client assumes a trialstore server until an extension call is answered
    UNIMPLEMENTED; whichever call comes first then runs on Optuna's wire."""
    setup = GrpcStorageProxy(host="127.0.0.1", port=optuna_server, retry_timeout=5)
    study_id = setup.create_new_study([StudyDirection.MINIMIZE], f"first-{first_call}")
    trial_id = setup.create_new_trial(study_id)
    client = GrpcStorageProxy(host="127.0.0.1", port=optuna_server, retry_timeout=5)
    calls: dict[str, Any] = {
        "create_new_trial": lambda: client.create_new_trial(study_id) != trial_id,
        "get_trial": lambda: client.get_trial(trial_id).state == TrialState.RUNNING,
        "get_all_trials": lambda: (
            [t._trial_id for t in client.get_all_trials(study_id)] == [trial_id]
        ),
        "set_trial_state_values": lambda: client.set_trial_state_values(
            trial_id, TrialState.COMPLETE, [1.0]
        ),
        "record_heartbeat": lambda: client.record_heartbeat(trial_id) is None,
        "get_stale_trial_ids": lambda: client.get_stale_trial_ids(study_id) == [],
        "fail_stale_trials": lambda: client.fail_stale_trials(study_id) == [],
        "get_heartbeat_interval": lambda: client.get_heartbeat_interval() is None,
    }
    assert calls[first_call]()
    assert client._extensions is False
    assert setup.get_trial(trial_id).number == 0
    setup.close()
    client.close()


def test_param_batches_against_an_optuna_server(ts_client: GrpcStorageProxy) -> None:
    """Optuna's server has no SetTrialParams: one SetTrialParameter per parameter (not
    atomic: documented), the same errors."""
    study_id = ts_client.create_new_study([StudyDirection.MINIMIZE], f"b-{time.monotonic_ns()}")
    trial_id = ts_client.create_new_trial(study_id)
    dist = FloatDistribution(0, 1)
    ts_client.set_trial_params(trial_id, {"b": (0.5, dist), "a": (0.25, dist)})
    assert ts_client.get_trial(trial_id).params == {"b": 0.5, "a": 0.25}
    ts_client.set_trial_params(trial_id, {})
    assert ts_client.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):
        ts_client.set_trial_params(trial_id, {})
    with pytest.raises(UpdateFinishedTrialError):
        ts_client.set_trial_params(trial_id, {"c": (0.5, dist)})
    with pytest.raises(KeyError):
        ts_client.set_trial_params(10**9, {})


def test_trialstore_study_at_tell_against_an_optuna_server(optuna_server: int) -> None:
    import trialstore

    study = trialstore.create_study(
        study_name=f"at-tell-{time.monotonic_ns()}",
        storage=f"grpc://127.0.0.1:{optuna_server}",
        sampler=trialstore.samplers.RandomSampler(seed=1),
        param_writes="at_tell",
    )
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2 + t.suggest_int("n", 0, 3), 6)
    assert all(set(t.params) == {"x", "n"} for t in study.trials)


def test_trialstore_study_layer_against_an_optuna_server(optuna_server: int) -> None:
    import trialstore

    study = trialstore.create_study(
        study_name=f"layer-{time.monotonic_ns()}",
        storage=f"grpc://127.0.0.1:{optuna_server}",
        sampler=trialstore.samplers.RandomSampler(seed=1),
    )
    study.optimize(lambda t: (t.suggest_float("x", -1, 1)) ** 2, n_trials=10, n_jobs=2)
    assert sorted(t.number for t in study.trials) == list(range(10))
    assert study.best_value >= 0
