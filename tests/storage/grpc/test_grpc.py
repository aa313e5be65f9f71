"""The gRPC proxy (trialstore/storage/grpc): errors, bad input, retries, cache, heartbeats.

The conformance suite through the proxy is in test_grpc_conformance.py, Optuna wire
compatibility in test_grpc_optuna.py, TLS and tokens in test_grpc_security.py.
"""

from __future__ import annotations

import copy
import datetime
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")

from _grpc_helpers import free_port, raw_call, served, trailing_error_type  # noqa: E402

from trialstore.distributions import (  # noqa: E402
    FloatDistribution,
)
from trialstore.exceptions import (  # noqa: E402
    DuplicatedStudyError,
    StorageInternalError,
    UpdateFinishedTrialError,
)
from trialstore.storage import InMemoryStorage  # noqa: E402
from trialstore.storage.grpc import (  # noqa: E402
    GrpcProxyServer,
    GrpcStorageProxy,
    ProxyConnectionError,
)
from trialstore.storage.grpc import _convert as convert_module  # noqa: E402
from trialstore.storage.grpc._idempotency import CREATE_REQUEST_ATTR, IdempotencyTable  # noqa: E402
from trialstore.storage.grpc._pb import storage_pb2 as pb  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import FrozenTrial, TrialState  # noqa: E402

MIN = [StudyDirection.MINIMIZE]
DIST = FloatDistribution(0.0, 1.0)


@pytest.fixture
def backend() -> InMemoryStorage:
    return InMemoryStorage(heartbeat_interval=0.2, grace_period=0.5)


@pytest.fixture
def server(backend: InMemoryStorage) -> Iterator[GrpcProxyServer]:
    with served(backend) as server:
        yield server


@pytest.fixture
def client(server: GrpcProxyServer) -> Iterator[GrpcStorageProxy]:
    client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
    yield client
    client.close()


# -- errors: same type, same message -------------------------------------------------------


def _outcome(call: Any) -> tuple[type[BaseException], str]:
    try:
        call()
    except Exception as e:
        return type(e), str(e)
    raise AssertionError("expected an exception")


def test_each_storage_error_arrives_with_its_type_and_message(
    backend: InMemoryStorage, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    client.set_trial_param(trial_id, "x", 0.5, DIST)
    client.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    multi = client.create_new_study(MIN * 2, "multi")
    calls = {
        "duplicate": lambda s: s.create_new_study(MIN, "s"),
        "missing study": lambda s: s.get_study_name_from_id(study_id + 100),
        "missing name": lambda s: s.get_study_id_from_name("nope"),
        "missing trial": lambda s: s.get_trial(trial_id + 100),
        "missing number": lambda s: s.get_trial_id_from_study_id_trial_number(study_id, 7),
        "finished": lambda s: s.set_trial_user_attr(trial_id, "k", 1),
        "finished state": lambda s: s.set_trial_state_values(trial_id, TrialState.FAIL),
        "bad values": lambda s: s.set_trial_state_values(
            s.create_new_trial(study_id), TrialState.COMPLETE, [1.0, 2.0]
        ),
        "incompatible": lambda s: s.set_trial_param(
            s.create_new_trial(study_id), "x", 2.0, FloatDistribution(1.0, 3.0, log=True)
        ),
        "best of several": lambda s: s.get_best_trial(multi),
        "no best": lambda s: s.get_best_trial(s.create_new_study(MIN, f"e-{uuid.uuid4()}")),
    }
    expected_types = {
        "duplicate": DuplicatedStudyError,
        "finished": UpdateFinishedTrialError,
        "finished state": UpdateFinishedTrialError,
        "best of several": RuntimeError,
    }
    for name, call in calls.items():
        through_proxy = _outcome(lambda call=call: call(client))
        direct = _outcome(lambda call=call: call(backend))
        assert through_proxy == direct, name
        assert issubclass(through_proxy[0], expected_types.get(name, (KeyError, ValueError))), name


def test_server_side_errors_carry_the_exact_type_in_trailing_metadata(
    server: GrpcProxyServer, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    client.set_trial_state_values(trial_id, TrialState.FAIL)
    request = pb.SetTrialUserAttributeRequest(trial_id=trial_id, key="k", value="1")
    error = raw_call(server, "SetTrialUserAttribute", request.SerializeToString())
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # Optuna's code
    assert trailing_error_type(error) == "UpdateFinishedTrialError"
    assert error.details() == "Trial#0 has already finished and can not be updated."


def test_an_unexpected_backend_exception_becomes_storage_internal_error() -> None:
    class Broken(InMemoryStorage):
        def get_all_studies(self) -> Any:
            raise ZeroDivisionError("boom")

    with served(Broken()) as server:
        client = GrpcStorageProxy(port=server.port)
        with pytest.raises(StorageInternalError, match="ZeroDivisionError: boom"):
            client.get_all_studies()
        assert client.create_new_study(MIN) == 0  # still serving


# -- bad input: the documented error, and the server keeps serving ---------------------------


@pytest.mark.parametrize(
    ("method", "payload", "code", "error_type"),
    [
        ("CreateNewStudy", b"\xff\xff\xff", grpc.StatusCode.INTERNAL, None),  # not protobuf
        (
            "CreateNewStudy",
            pb.CreateNewStudyRequest(directions=[7], study_name="x").SerializeToString(),  # type: ignore[list-item]
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "CreateNewStudy",
            pb.CreateNewStudyRequest(study_name="no directions").SerializeToString(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "SetStudyUserAttribute",
            pb.SetStudyUserAttributeRequest(
                study_id=0, key="k", value="{not json"
            ).SerializeToString(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "SetTrialParameter",
            pb.SetTrialParameterRequest(
                trial_id=0, param_name="x", param_value_internal=0.5, distribution='{"name": "X"}'
            ).SerializeToString(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "SetTrialStateValues",
            pb.SetTrialStateValuesRequest(trial_id=0, state=9).SerializeToString(),  # type: ignore[arg-type]
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "CreateNewTrial",
            pb.CreateNewTrialRequest(
                study_id=0, template_trial=pb.Trial(state=pb.COMPLETE, datetime_start="yesterday")
            ).SerializeToString(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ValueError",
        ),
        (
            "GetTrial",
            pb.GetTrialRequest(trial_id=12345).SerializeToString(),
            grpc.StatusCode.NOT_FOUND,
            "KeyError",
        ),
        (
            "GetTrials",
            pb.GetTrialsRequest(study_id=-5).SerializeToString(),
            grpc.StatusCode.NOT_FOUND,
            "KeyError",
        ),
    ],
)
def test_malformed_requests_get_the_documented_status(
    server: GrpcProxyServer,
    client: GrpcStorageProxy,
    backend: InMemoryStorage,
    method: str,
    payload: bytes,
    code: Any,
    error_type: str | None,
) -> None:
    study_id = client.create_new_study(MIN, "s")
    client.create_new_trial(study_id)
    before = [backend.get_all_trials(study_id), backend.get_all_studies()]
    error = raw_call(server, method, payload)
    assert isinstance(error, grpc.RpcError)
    assert error.code() == code
    assert trailing_error_type(error) == error_type
    assert [backend.get_all_trials(study_id), backend.get_all_studies()] == before
    assert client.create_new_trial(study_id) == 1  # the server keeps serving


def test_oversized_requests_raise_value_error_and_the_server_keeps_serving(
    backend: InMemoryStorage,
) -> None:
    with served(backend, max_message_bytes=64 * 1024) as server:
        client = GrpcStorageProxy(port=server.port)
        study_id = client.create_new_study(MIN, "s")
        with pytest.raises(ValueError, match="too large"):
            client.set_study_user_attr(study_id, "big", "x" * 100_000)
        assert client.get_study_user_attrs(study_id) == {}
        client.set_study_user_attr(study_id, "small", "x" * 1000)
        assert client.get_study_user_attrs(study_id) == {"small": "x" * 1000}


def test_big_replies_are_not_limited(client: GrpcStorageProxy) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    for i in range(6):
        client.set_trial_user_attr(trial_id, f"k{i}", "x" * 1_000_000)
    assert len(client.get_all_trials(study_id)[0].user_attrs) == 6


def test_ids_that_do_not_fit_the_wire_raise_key_error(client: GrpcStorageProxy) -> None:
    for bad in (2**70, "0", 1.0, None):
        with pytest.raises(KeyError):
            client.get_trial(bad)  # type: ignore[arg-type]
        with pytest.raises(KeyError):
            client.get_all_trials(bad)  # type: ignore[arg-type]


# -- connection errors, retries, idempotency -----------------------------------------------


@pytest.mark.timeout(30)
def test_a_server_that_is_down_gives_a_connection_error_after_the_retry_budget() -> None:
    port = free_port()
    client = GrpcStorageProxy(host="127.0.0.1", port=port, retry_timeout=0.5)
    with pytest.raises(ProxyConnectionError, match=f"127.0.0.1:{port} unreachable") as info:
        client.get_all_studies()
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, StorageInternalError)


def test_retried_writes_with_one_request_id_run_once(
    server: GrpcProxyServer, client: GrpcStorageProxy, backend: InMemoryStorage
) -> None:
    study_id = client.create_new_study(MIN, "s")
    request = pb.CreateNewTrialRequest(study_id=study_id, template_trial_is_none=True)
    metadata = (("trialstore-request-id", "abc"),)
    replies = [
        raw_call(server, "CreateNewTrial", request.SerializeToString(), metadata=metadata)
        for _ in range(3)
    ]
    assert len(set(replies)) == 1
    assert len(backend.get_all_trials(study_id)) == 1
    claim = pb.SetTrialStateValuesRequest(trial_id=0, state=pb.COMPLETE, values=[1.0])
    finishes = [
        raw_call(server, "SetTrialStateValues", claim.SerializeToString(), metadata=metadata)
        for _ in range(2)
    ]
    # One id per method: the second finish answers like the first instead of raising.
    assert [pb.SetTrialStateValuesReply.FromString(r).trial_updated for r in finishes] == [
        True,
        True,
    ]


def test_idempotency_table_runs_concurrent_duplicates_once_and_is_bounded() -> None:
    table = IdempotencyTable(capacity=3)
    runs: list[int] = []
    gate = threading.Event()

    def write() -> int:
        gate.wait(5)
        runs.append(1)
        return len(runs)

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(table.run("k", write))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert results == [1] * 8 and runs == [1]
    for key in "abcd":
        table.run(key, lambda: 0)
    assert len(table) == 3
    assert table.run("k", write) == 2  # evicted: runs again
    with pytest.raises(KeyError):
        table.run("e", lambda: {"y": 0}["x"])
    with pytest.raises(KeyError):  # remembered error
        table.run("e", lambda: 0)


@pytest.mark.timeout(60)
def test_calls_during_a_restart_are_retried_and_never_duplicate_a_trial() -> None:
    backend = InMemoryStorage()
    port = free_port()
    first = GrpcProxyServer(backend, host="127.0.0.1", port=port)
    first.start()
    client = GrpcStorageProxy(host="127.0.0.1", port=port, retry_timeout=30.0)
    study_id = client.create_new_study(MIN, "s")
    created: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                trial_id = client.create_new_trial(study_id)
                client.set_trial_param(trial_id, "x", 0.5, DIST)
                client.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
                created.append(trial_id)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    while len(created) < 20:
        time.sleep(0.01)
    first.stop(grace=2.0)
    time.sleep(0.5)  # the workers now retry against a closed port
    second = GrpcProxyServer(backend, host="127.0.0.1", port=port)
    second.start()
    n_before = len(created)
    while len(created) < n_before + 20:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    second.stop()
    assert errors == []
    trials = backend.get_all_trials(study_id)
    assert sorted(created) == [t._trial_id for t in trials]  # no extra, none lost
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state == TrialState.COMPLETE for t in trials)


# -- cache ---------------------------------------------------------------------------------


def test_the_number_of_a_created_trial_comes_with_the_create(
    client: GrpcStorageProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study's ask needs the new trial's number: it must not cost a second call."""
    study_id = client.create_new_study(MIN, "s")
    other_study = client.create_new_study(MIN, "t")
    client.create_new_trial(other_study)
    ids = [client.create_new_trial(study_id) for _ in range(3)]
    sent: list[str] = []
    original = client._send

    def counting(method: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(method.name)
        return original(method, *args, **kwargs)

    monkeypatch.setattr(client, "_send", counting)
    assert [client.get_trial_number_from_id(i) for i in ids] == [0, 1, 2]
    assert sent == []
    client.delete_study(study_id)
    with pytest.raises(KeyError):  # forgotten with its study
        client.get_trial_number_from_id(ids[0])


def test_only_new_and_unfinished_trials_cross_the_wire(
    client: GrpcStorageProxy, monkeypatch: pytest.MonkeyPatch, server: GrpcProxyServer
) -> None:
    decoded: list[int] = []
    original = convert_module.trial_from_proto

    def counting(proto: Any, extras: Any = None) -> FrozenTrial:
        decoded.append(proto.trial_id)
        return original(proto, extras)

    monkeypatch.setattr(convert_module, "trial_from_proto", counting)  # the client's conv
    other = GrpcStorageProxy(port=server.port)  # another worker
    study_id = client.create_new_study(MIN, "s")
    finished = []
    for _ in range(30):
        trial_id = other.create_new_trial(study_id)
        other.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
        finished.append(trial_id)
    running = other.create_new_trial(study_id)
    assert len(client.get_all_trials(study_id)) == 31
    assert sorted(decoded) == [*finished, running]
    decoded.clear()
    assert len(client.get_all_trials(study_id)) == 31
    assert decoded == [running]  # the unfinished one only
    decoded.clear()
    new = other.create_new_trial(study_id)
    other.set_trial_state_values(running, TrialState.COMPLETE, [0.0])
    trials = client.get_all_trials(study_id)
    assert sorted(decoded) == [running, new]
    assert trials[30].state == TrialState.COMPLETE and len(trials) == 32


def test_cached_snapshots_are_not_changed_by_later_writes(client: GrpcStorageProxy) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    shared = client.get_all_trials(study_id, deepcopy=False)[0]
    copied = client.get_all_trials(study_id)[0]
    client.set_trial_user_attr(trial_id, "k", 1)
    client.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert shared.user_attrs == {} and copied.user_attrs == {}
    assert client.get_all_trials(study_id)[0].user_attrs == {"k": 1}


def test_exact_trials_keep_param_order_and_datetimes(
    client: GrpcStorageProxy, backend: InMemoryStorage
) -> None:
    study_id = client.create_new_study(MIN, "s")
    names = ["z", "a", "m", "b", "y", "c", "q", "d"]
    tz = datetime.timezone(datetime.timedelta(hours=9))
    template = FrozenTrial(
        number=0,
        state=TrialState.COMPLETE,
        value=1.0,
        datetime_start=datetime.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=tz),
        datetime_complete=datetime.datetime(2025, 1, 2, 3, 4, 6, 7, tzinfo=tz),
        params=dict.fromkeys(names, 0.5),
        distributions=dict.fromkeys(names, DIST),
        user_attrs={n: 1 for n in names},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )
    trial_id = client.create_new_trial(study_id, template)
    trial = client.get_trial(trial_id)
    assert list(trial.params) == names and list(trial.user_attrs) == names
    stored = copy.deepcopy(backend.get_trial(trial_id))
    assert set(stored.system_attrs) == {CREATE_REQUEST_ATTR}  # kept by the server, hidden
    stored.system_attrs.clear()
    assert trial == stored
    assert client.get_all_trials(study_id) == [stored]


def test_a_study_deleted_by_another_client_is_gone_from_the_cache(
    client: GrpcStorageProxy, server: GrpcProxyServer
) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    client.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert len(client.get_all_trials(study_id)) == 1
    assert client.get_study_name_from_id(study_id) == "s"
    GrpcStorageProxy(port=server.port).delete_study(study_id)
    with pytest.raises(KeyError):
        client.get_all_trials(study_id)
    with pytest.raises(KeyError):
        client.get_trial(trial_id)
    with pytest.raises(KeyError):
        client.get_trial_params(trial_id)
    with pytest.raises(KeyError):
        client.get_study_name_from_id(study_id)


# -- heartbeats ------------------------------------------------------------------------------

_WORKER = """
import sys, time
from trialstore.storage import get_storage
storage = get_storage(sys.argv[1])
study_id = storage.get_study_id_from_name("hb")
trial_id = storage.create_new_trial(study_id)
print(trial_id, flush=True)
while True:
    storage.record_heartbeat(trial_id)
    time.sleep(storage.get_heartbeat_interval())
"""


@pytest.mark.timeout(60)
def test_a_client_killed_mid_trial_gets_its_trial_failed_after_the_grace_period(
    server: GrpcProxyServer, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "hb")
    assert client.get_heartbeat_interval() == 0.2 and client.get_grace_period() == 0.5
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, f"grpc://localhost:{server.port}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdout is not None
    trial_id = int(worker.stdout.readline())
    time.sleep(0.8)  # longer than the grace period: beating keeps it alive
    assert client.fail_stale_trials(study_id) == []
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 10
    failed: list[int] = []
    while not failed and time.monotonic() < deadline:
        time.sleep(0.1)
        failed = client.fail_stale_trials(study_id)
    assert failed == [trial_id]
    assert client.get_trial(trial_id).state == TrialState.FAIL
