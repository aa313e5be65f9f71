"""The gRPC proxy server object (health, URLs, the CLI), restarts with the idempotency table,
and set_trial_params through the proxy."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")

from _grpc_helpers import free_port, served  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from trialstore.distributions import (  # noqa: E402
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
)
from trialstore.exceptions import (  # noqa: E402
    StorageInternalError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage import BaseStorage, InMemoryStorage, get_storage  # noqa: E402
from trialstore.storage.grpc import (  # noqa: E402
    GrpcProxyServer,
    GrpcStorageProxy,
)
from trialstore.storage.grpc._idempotency import IdempotencyTable  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import FrozenTrial, TrialState, create_trial  # noqa: E402

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


# -- server object, health, URLs, CLI --------------------------------------------------------


def test_server_lifecycle(backend: InMemoryStorage) -> None:
    server = GrpcProxyServer(backend, port=0)
    with pytest.raises(RuntimeError):
        _ = server.port
    threading.Thread(target=server.start).start()
    assert server.wait_until_ready(10)
    with pytest.raises(RuntimeError):
        server.start()
    with grpc.insecure_channel(f"localhost:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "optuna.StorageService", "trialstore.StorageExtensions"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        server.stop(grace=1.0)
        assert server.wait_for_termination(0)
    server.stop()  # again: nothing
    with pytest.raises(OSError):
        GrpcProxyServer(backend, host="203.0.113.1", port=0).start()  # not ours


def test_binding_a_non_loopback_address_without_tls_warns(backend: InMemoryStorage) -> None:
    server = GrpcProxyServer(backend, host="0.0.0.0", port=0)
    with pytest.warns(UserWarning, match="without TLS"):
        server.start()
    server.stop(0)


def test_get_storage_urls(server: GrpcProxyServer, tmp_path: Any) -> None:
    storage = get_storage(f"grpc://localhost:{server.port}?timeout=5&retry_timeout=1")
    assert isinstance(storage, GrpcStorageProxy)
    assert storage.create_new_study(MIN, "u") == 0
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    secure = get_storage(f"grpcs://example.test:443?token_file={token_file}")
    assert "s3cret" not in repr(secure) and "tls=True" in repr(secure)
    for bad in ("grpc://localhost", "grpc://localhost:1?colour=red"):
        with pytest.raises(ValueError):
            get_storage(bad)


def test_the_client_pickles_to_another_process(
    server: GrpcProxyServer, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "p")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        ids = pool.starmap(_create_trial, [(client, study_id)] * 4)
    assert sorted(ids) == [t._trial_id for t in client.get_all_trials(study_id)]


def _create_trial(storage: BaseStorage, study_id: int) -> int:
    return storage.create_new_trial(study_id)


@pytest.mark.timeout(60)
def test_cli_serves_until_sigterm(tmp_path: Any) -> None:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("tok-123")
    journal = tmp_path / "j.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trialstore.cli",
            "grpc-proxy",
            "--storage",
            f"journal://{journal}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--token-file",
            str(token),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = GrpcStorageProxy(host="127.0.0.1", port=port, token="tok-123", retry_timeout=20)
        assert client.create_new_study(MIN, "cli") == 0
        assert client.get_study_id_from_name("cli") == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "tok-123" not in stderr
    assert f"127.0.0.1:{port}" in stderr


def test_trialstore_storage_imports_without_grpc() -> None:
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "import trialstore.storage as s\n"
        "try:\n    s.GrpcStorageProxy\nexcept ImportError as e:\n    print('extra' in str(e))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


@pytest.mark.timeout(300)
def test_the_seed_example_runs_with_several_clients_at_once(tmp_path: Any) -> None:
    """examples/grpc_proxy_server.py and three examples/grpc_client.py at the same time."""
    import pathlib

    examples = pathlib.Path(__file__).resolve().parents[3] / "examples"
    if not (examples / "grpc_client.py").exists():
        pytest.skip("the seed's gRPC example scripts are not in this checkout")
    backing = f"journal://{tmp_path / 'served.log'}"
    port = free_port()
    env = {
        **os.environ,
        "TRIALSTORE_EXAMPLE_STORAGE": backing,
        "TRIALSTORE_EXAMPLE_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, str(examples / "grpc_proxy_server.py")], env=env, cwd=tmp_path
    )
    try:
        GrpcStorageProxy(port=port).wait_server_ready(timeout=60)
        clients = [
            subprocess.Popen(
                [sys.executable, str(examples / "grpc_client.py")],
                env=env,
                cwd=tmp_path,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [c.communicate(timeout=240)[1] for c in clients]
        assert [c.returncode for c in clients] == [0, 0, 0], outputs
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    storage = get_storage(backing)
    trials = storage.get_all_trials(storage.get_study_id_from_name("grpc_proxy_multinode"))
    assert [t.number for t in trials] == list(range(150))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all("Trial" in out and "finished with value" in out for out in outputs)


class _ProxyDied(Exception):
    """Stands for a proxy that died before replying (answered as UNAVAILABLE)."""


class _RestartAfterWrite(IdempotencyTable):
    """Runs the first armed write, then fails the call as a proxy SIGKILLed before replying
    would (the client sees UNAVAILABLE and sends it again; the new server does not know its
    request id). ``before=True`` fails the call before running the write instead."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.before = False
        self.on_fail: Any = None

    def run(self, key: str | None, write: Any) -> Any:
        if not self.armed:
            return super().run(key, write)
        self.armed = False
        if not self.before:
            write()
        if self.on_fail is not None:
            self.on_fail()
        raise _ProxyDied("the proxy died before replying")


def _restarting_proxies(monkeypatch: pytest.MonkeyPatch) -> _RestartAfterWrite:
    """Make the servers started next use a _RestartAfterWrite table (returned)."""
    from trialstore.storage.grpc import _server as server_module
    from trialstore.storage.grpc import _service as service_module
    from trialstore.storage.grpc._errors import status_for as real_status_for

    table = _RestartAfterWrite()
    monkeypatch.setattr(server_module, "IdempotencyTable", lambda capacity: table)

    def status_for(error: BaseException) -> Any:
        if isinstance(error, _ProxyDied):
            return grpc.StatusCode.UNAVAILABLE, "", str(error)
        return real_status_for(error)

    monkeypatch.setattr(service_module, "status_for", status_for)
    return table


@pytest.mark.parametrize(
    ("state", "values", "before", "expected"),
    [
        (TrialState.COMPLETE, [1.5], False, True),  # ours: same state and values
        (TrialState.FAIL, None, False, StorageInternalError),  # cannot be told apart
        (TrialState.COMPLETE, [1.5], True, UpdateFinishedTrialError),  # another one's FAIL
        (TrialState.RUNNING, None, False, StorageInternalError),  # a claim: unknown
    ],
)
def test_a_write_resent_to_a_restarted_proxy_reports_what_it_knows(
    state: TrialState,
    values: list[float] | None,
    before: bool,
    expected: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finish or claim whose proxy died before replying is sent again; the new proxy runs it
    again and finds the trial finished (or taken). The client must not report that as the
    first attempt's failure (found by the stress suite: a finish that took effect was reported
    as UpdateFinishedTrialError after a proxy SIGKILL)."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent")
        initial = TrialState.WAITING if state == TrialState.RUNNING else TrialState.RUNNING
        template = FrozenTrial(
            number=-1, state=initial, value=None, values=None,
            datetime_start=None if initial == TrialState.WAITING else datetime.datetime.now(),
            datetime_complete=None, params={}, distributions={}, user_attrs={},
            system_attrs={}, intermediate_values={}, trial_id=-1,
        )  # fmt: skip
        trial_id = client.create_new_trial(study_id, template)
        if before:  # another process fails the trial while our first attempt is lost
            table.on_fail = lambda: backend.set_trial_state_values(trial_id, TrialState.FAIL)
        table.armed, table.before = True, before
        if expected is True:
            assert client.set_trial_state_values(trial_id, state, values) is True
        else:
            with pytest.raises(expected):
                client.set_trial_state_values(trial_id, state, values)
        client.close()


def test_any_write_resent_to_a_restarted_proxy_that_then_fails_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attribute written by a proxy that died before replying, then the trial finished by
    another process: the repeated write fails, but the first one took effect, so the client
    must not report UpdateFinishedTrialError (found by the stress suite)."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-attr")
        trial_id = client.create_new_trial(study_id)
        table.on_fail = lambda: backend.set_trial_state_values(trial_id, TrialState.FAIL)
        table.armed = True
        with pytest.raises(StorageInternalError, match="may have taken effect") as info:
            client.set_trial_user_attr(trial_id, "k", 1)
        assert not isinstance(info.value, UpdateFinishedTrialError)
        assert backend.get_trial(trial_id).user_attrs == {"k": 1}
        client.close()


def test_a_deletion_resent_to_a_restarted_proxy_is_of_unknown_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt deleted the trials in a proxy that died before replying; the
    repeated one finds them deleted: the client cannot tell whose deletion it was."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-delete")
        trial_id = client.create_new_trial(study_id)
        table.armed = True
        with pytest.raises(StorageInternalError, match="may have taken effect"):
            client.delete_trials(study_id, [trial_id])
        with pytest.raises(TrialDeletedError):
            backend.get_trial(trial_id)
        client.close()


@pytest.mark.parametrize("with_template", [False, True])
def test_a_create_cut_off_by_a_dying_proxy_finds_its_trial_when_sent_again(
    with_template: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trial stored by a proxy that died before replying: the create, sent again to the
    restarted proxy (which no longer knows the request id), must return that trial instead of
    making a second one (found by the stress suite: one extra trial per proxy SIGKILL)."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-create")
        template = None
        if with_template:  # as enqueue_trial makes one
            template = FrozenTrial(
                number=-1, state=TrialState.WAITING, value=None, datetime_start=None,
                datetime_complete=None, params={"x": 0.5}, distributions={"x": DIST},
                user_attrs={"u": 1}, system_attrs={"s": 2}, intermediate_values={},
                trial_id=-1,
            )  # fmt: skip
        table.armed = True
        trial_id = client.create_new_trial(study_id, template)
        stored = backend.get_all_trials(study_id)
        assert [t._trial_id for t in stored] == [trial_id]
        seen = client.get_trial(trial_id)
        assert seen.system_attrs == ({"s": 2} if with_template else {})  # the id is hidden
        if with_template:
            assert (seen.state, seen.params, seen.user_attrs) == (
                TrialState.WAITING, {"x": 0.5}, {"u": 1}
            )  # fmt: skip
        assert client.create_new_trial(study_id) != trial_id  # a new create is new
        assert len(backend.get_all_trials(study_id)) == 2
        client.close()


def test_a_create_or_list_cut_off_by_a_dying_proxy_finds_its_trial_when_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CreateTrialOrListWaiting creates as CreateNewTrial does: sent again to a restarted
    proxy, it returns the first attempt's trial instead of making a second one."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-ask")
        table.armed = True
        trial_id = client.create_trial_or_list_waiting(study_id)
        assert isinstance(trial_id, int)
        assert not table.armed, "the call was not cut off"
        assert [t._trial_id for t in backend.get_all_trials(study_id)] == [trial_id]
        assert client.get_trial_number_from_id(trial_id) == 0
        assert client.get_trial(trial_id).system_attrs == {}  # the request id is hidden
        client.close()


@pytest.mark.parametrize(
    ("values", "before", "expected"),
    [
        ([1.5], False, True),  # ours: same state and values
        ([1.5], True, UpdateFinishedTrialError),  # another one's FAIL came first
    ],
)
def test_params_and_finish_resent_to_a_restarted_proxy_is_told_apart(
    values: list[float], before: bool, expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SetTrialParamsAndStateValues whose proxy died before replying: sent again, its batch
    meets the finished trial; the client decides as for a repeated finish."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        trial_id = client.create_new_trial(client.create_new_study(MIN, "resent-finish"))
        if before:
            table.on_fail = lambda: backend.set_trial_state_values(trial_id, TrialState.FAIL)
        table.armed, table.before = True, before
        batch = {"x": (0.5, DIST)}
        if expected is True:
            assert client.set_trial_params_and_state_values(
                trial_id, batch, TrialState.COMPLETE, values
            )
            trial = backend.get_trial(trial_id)
            assert trial.params == {"x": 0.5} and trial.values == values
        else:
            with pytest.raises(expected):
                client.set_trial_params_and_state_values(
                    trial_id, batch, TrialState.COMPLETE, values
                )
        client.close()


def test_a_create_cut_off_by_a_dying_optuna_proxy_reports_an_unknown_outcome(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Against Optuna's server (no request ids: here the plain service of ours) the first
    attempt's trial cannot be found: the client reports the unknown outcome instead of
    creating a second trial."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        client._extensions = False  # talk as to an Optuna server
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-create")
        table.armed = True
        with pytest.raises(StorageInternalError, match="may or may not have been created"):
            client.create_new_trial(study_id)
        assert len(backend.get_all_trials(study_id)) == 1
        client.close()


# -- set_trial_params ------------------------------------------------------------------------


def test_a_param_batch_is_one_call_with_the_backends_errors(
    client: GrpcStorageProxy, backend: InMemoryStorage
) -> None:
    study_id = client.create_new_study(MIN, "batch")
    trial_id = client.create_new_trial(study_id)
    client.set_trial_params(trial_id, {"b": (0.5, DIST), "a": (0.25, DIST)})
    assert list(backend.get_trial(trial_id).params) == ["b", "a"]
    other = client.create_new_trial(study_id)
    with pytest.raises(ValueError, match="'a'") as info:
        client.set_trial_params(other, {"c": (0.5, DIST), "a": (1.0, IntDistribution(0, 1))})
    assert type(info.value) is ValueError
    assert backend.get_trial(other).params == {}
    client.set_trial_state_values(other, TrialState.FAIL)
    for params in ({}, {"c": (0.5, DIST)}):
        with pytest.raises(UpdateFinishedTrialError, match="Trial#1 "):
            client.set_trial_params(other, params)
    with pytest.raises(KeyError):
        client.set_trial_params(10**6, {})


def test_a_param_batch_with_a_repeated_name_is_rejected_by_the_server(
    server: GrpcProxyServer, client: GrpcStorageProxy, backend: InMemoryStorage
) -> None:
    from trialstore.storage.grpc._pb import extensions_pb2 as ext

    trial_id = client.create_new_trial(client.create_new_study(MIN, "dup"))
    param = ext.TrialParam(
        param_name="x", param_value_internal=0.5, distribution=distribution_to_json(DIST)
    )
    request = ext.SetTrialParamsRequest(trial_id=trial_id, params=[param, param])
    with grpc.insecure_channel(f"localhost:{server.port}") as channel:
        call = channel.unary_unary("/trialstore.StorageExtensions/SetTrialParams")
        with pytest.raises(grpc.RpcError) as info:
            call(request.SerializeToString(), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "given twice" in info.value.details()
    assert backend.get_trial(trial_id).params == {}


def test_a_param_batch_resent_to_a_restarted_proxy_is_harmless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt stored the batch, then its proxy died before replying: the batch is
    sent again and stored again, with the same values (no error, no duplicate)."""
    backend = InMemoryStorage()
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        trial_id = client.create_new_trial(client.create_new_study(MIN, "resent-batch"))
        table.armed = True
        client.set_trial_params(trial_id, {"x": (0.5, DIST), "y": (0.25, DIST)})
        assert not table.armed, "the batch was not cut off"
        assert backend.get_trial(trial_id).params == {"x": 0.5, "y": 0.25}
        client.close()


def _without_methods(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Make the servers started afterwards answer UNIMPLEMENTED to these extension methods
    (as a trialstore server from before they existed does)."""
    from trialstore.storage.grpc._service import Service
    from trialstore.storage.grpc._wire import EXTENSION_SERVICE

    original = Service.handlers

    def without(self: Any) -> Any:
        return [
            h
            for h in original(self)
            if h.method.service != EXTENSION_SERVICE or h.method.name not in names
        ]

    monkeypatch.setattr(Service, "handlers", without)


def test_a_server_without_set_trial_params_gets_one_call_per_param(
    backend: InMemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trialstore server from before SetTrialParams (UNIMPLEMENTED): the client falls back
    to SetTrialParameter per parameter, and stops asking."""
    _without_methods(monkeypatch, "SetTrialParams")
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
        trial_id = client.create_new_trial(client.create_new_study(MIN, "old-server"))
        client.set_trial_params(trial_id, {"x": (0.5, DIST), "y": (0.25, DIST)})
        assert client._unimplemented == {"SetTrialParams"}
        client.set_trial_params(trial_id, {"z": (0.75, DIST)})
        assert list(backend.get_trial(trial_id).params) == ["x", "y", "z"]
        client.close()


def test_a_server_without_the_combined_writes_gets_their_single_calls(
    backend: InMemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trialstore server from before CreateTrialOrListWaiting and
    SetTrialParamsAndStateValues: the client uses the BaseStorage defaults (listing + create;
    batch + finish), with the same results."""
    _without_methods(monkeypatch, "CreateTrialOrListWaiting", "SetTrialParamsAndStateValues")
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
        study_id = client.create_new_study(MIN, "old-server-2")
        first = client.create_trial_or_list_waiting(study_id)
        assert isinstance(first, int) and client.get_trial_number_from_id(first) == 0
        waiting = client.create_new_trial(study_id, create_trial(state=TrialState.WAITING))
        assert client.create_trial_or_list_waiting(study_id) == [waiting]
        done = client.set_trial_params_and_state_values(
            first, {"x": (0.5, DIST)}, TrialState.COMPLETE, [1.0]
        )
        assert done is True
        hidden = {"CreateTrialOrListWaiting", "SetTrialParamsAndStateValues"}
        assert client._unimplemented == hidden
        trial = backend.get_trial(first)
        assert trial.params == {"x": 0.5} and trial.state == TrialState.COMPLETE
        client.close()


def test_a_new_client_asks_nothing_before_its_first_call() -> None:
    """No GetServerInfo round trip before a client's first call (a client assumes a
    trialstore server): a short-lived client's trial is three calls."""
    from trialstore.storage.grpc._transport import ChannelTransport, MockTransport

    calls: list[str] = []
    backend = InMemoryStorage()
    study_id = backend.create_new_study([StudyDirection.MINIMIZE], "s")
    with served(backend) as server:
        channel = ChannelTransport(f"localhost:{server.port}")

        def forward(method: Any, request: Any, metadata: Any) -> Any:
            calls.append(method.path)
            return channel.call(method, request, timeout=30, metadata=metadata)

        client = GrpcStorageProxy._over(MockTransport(forward), port=server.port)
        trial_id = client.create_new_trial(study_id)
        dist = FloatDistribution(0, 1)
        client.set_trial_params_and_state_values(
            trial_id, {"x": (0.5, dist)}, TrialState.COMPLETE, [1.0]
        )
        assert client.get_trial(trial_id).params == {"x": 0.5}
        assert calls == [
            "/trialstore.StorageExtensions/CreateNewTrial",
            "/trialstore.StorageExtensions/SetTrialParamsAndStateValues",
            "/trialstore.StorageExtensions/GetTrial",
        ]
        assert client.get_heartbeat_interval() is None  # asked now, once
        assert calls[3:] == ["/trialstore.StorageExtensions/GetServerInfo"]
        client.get_grace_period()
        assert len(calls) == 4
        client.close()
        channel.close()


def test_fail_stale_trials_resent_to_a_restarted_proxy_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fail_stale_trials call whose proxy failed a stale trial and died before replying is
    sent again; the new proxy fails nothing more and lists nothing. The client must not
    report that list as the trials this call failed (found by the gRPC full tier: two
    trials failed by a first attempt were listed by no call)."""
    backend = InMemoryStorage(heartbeat_interval=0.01, grace_period=0.05)
    table = _restarting_proxies(monkeypatch)
    with served(backend) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=10.0)
        study_id = client.create_new_study([StudyDirection.MINIMIZE], "resent-stale")
        trial_id = client.create_new_trial(study_id)
        client.record_heartbeat(trial_id)
        time.sleep(0.1)
        table.armed = True
        with pytest.raises(StorageInternalError, match="first attempt failed are not known"):
            client.fail_stale_trials(study_id)
        assert backend.get_trial(trial_id).state == TrialState.FAIL
        assert client.fail_stale_trials(study_id) == []  # a call that is not resent: exact
        client.close()
