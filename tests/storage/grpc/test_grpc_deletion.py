"""Deleting trials through the gRPC proxy (trialstore/storage/grpc): the error on the wire, the
DeleteTrials call, what a client's sync learns of deletions (also of those made in the backend
by another process), and what Optuna's client sees. The conformance suite through the proxy
is in test_grpc_conformance.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

grpc = pytest.importorskip("grpc")
optuna = pytest.importorskip("optuna")

from _grpc_helpers import served  # noqa: E402

from trialstore.exceptions import TrialDeletedError  # noqa: E402
from trialstore.storage import BaseStorage, InMemoryStorage, get_storage  # noqa: E402
from trialstore.storage._trial_cache import Fetched  # noqa: E402
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy  # noqa: E402
from trialstore.storage.grpc._pb import extensions_pb2 as ext  # noqa: E402
from trialstore.storage.grpc._pb import storage_pb2 as pb  # noqa: E402
from trialstore.study import StudyDirection  # noqa: E402
from trialstore.trial import TrialState  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

MIN = [StudyDirection.MINIMIZE]


@pytest.fixture
def backend() -> InMemoryStorage:
    return InMemoryStorage()


@pytest.fixture
def server(backend: InMemoryStorage) -> Iterator[GrpcProxyServer]:
    with served(backend) as server:
        yield server


@pytest.fixture
def client(server: GrpcProxyServer) -> Iterator[GrpcStorageProxy]:
    client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
    yield client
    client.close()


def _finished(storage: BaseStorage, study_id: int, n: int) -> list[int]:
    ids = []
    for i in range(n):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        ids.append(trial_id)
    return ids


def _syncs(client: GrpcStorageProxy) -> list[tuple[int, int, list[int] | None]]:
    """Each sync of the client's cache from now on: (cursor, trials fetched, the deleted
    numbers the reply carried, None for none)."""
    seen: list[tuple[int, int, list[int] | None]] = []
    fetch = client._fetch_trials

    def spy(study_id: int, view: Any) -> Fetched:
        cursor = view.cursor()
        fetched = fetch(study_id, view)
        numbers = list(fetched.deleted_numbers) if fetched.every else None
        seen.append((cursor, len(fetched.trials), numbers))
        return fetched

    client._trials._fetch_trials = spy
    return seen


def test_trial_deleted_error_crosses_the_wire_as_itself(
    backend: InMemoryStorage, server: GrpcProxyServer, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "s")
    trial_id = client.create_new_trial(study_id)
    client.delete_trials(study_id, [trial_id])
    with pytest.raises(TrialDeletedError) as through_proxy:
        client.get_trial(trial_id)
    with pytest.raises(TrialDeletedError) as direct:
        backend.get_trial(trial_id)
    assert str(through_proxy.value) == str(direct.value)
    with pytest.raises(TrialDeletedError):
        client.set_trial_user_attr(trial_id, "k", 1)
    with pytest.raises(TrialDeletedError):
        client.delete_trials(study_id, [trial_id])
    with grpc.insecure_channel(f"localhost:{server.port}") as channel:
        call = channel.unary_unary("/optuna.StorageService/GetTrial")
        with pytest.raises(grpc.RpcError) as raw:
            call(pb.GetTrialRequest(trial_id=trial_id).SerializeToString(), timeout=10)
    assert raw.value.code() == grpc.StatusCode.NOT_FOUND  # Optuna's code for a missing trial
    assert dict(raw.value.trailing_metadata())["trialstore-error-type"] == "TrialDeletedError"


def test_a_sync_learns_of_deletions_once_and_reads_on_from_the_top(
    backend: InMemoryStorage, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "s")
    ids = _finished(backend, study_id, 6)
    assert len(client.get_all_trials(study_id)) == 6
    backend.delete_trials(study_id, [ids[1], ids[5]])  # in the middle, and the highest
    syncs = _syncs(client)
    assert [t.number for t in client.get_all_trials(study_id)] == [0, 2, 3, 4]
    assert client.get_best_trial(study_id)._trial_id == ids[0]
    new = backend.create_new_trial(study_id)
    assert [t.number for t in client.get_all_trials(study_id)] == [0, 2, 3, 4, 6]
    assert syncs == [(ids[5], 0, [1, 5]), (ids[5], 0, None), (ids[5], 1, None)]
    # a client that never held them: its first reply tells the gaps, then nothing
    fresh = GrpcStorageProxy(host="localhost", port=client._port, retry_timeout=5.0)
    syncs = _syncs(fresh)
    assert len(fresh.get_all_trials(study_id)) == 5
    assert len(fresh.get_all_trials(study_id)) == 5
    assert syncs == [(-1, 5, [1, 5]), (new, 1, None)]
    fresh.close()


def test_the_numbers_of_a_clients_own_trials_are_forgotten_with_them(
    backend: InMemoryStorage, client: GrpcStorageProxy
) -> None:
    study_id = client.create_new_study(MIN, "s")
    ids = [client.create_new_trial(study_id) for _ in range(3)]
    backend.delete_trials(study_id, ids[:2])
    client.get_all_trials(study_id)  # learns of the deletion
    with pytest.raises(TrialDeletedError):
        client.get_trial_number_from_id(ids[0])
    with pytest.raises(TrialDeletedError):
        client.get_trial(ids[1])  # asked; and learnt from the error
    with pytest.raises(TrialDeletedError):
        client.get_trial_number_from_id(ids[1])
    assert client.get_trial_number_from_id(ids[2]) == 2


_DELETE_IN_ANOTHER_PROCESS = """
import sys
from trialstore.storage import get_storage
storage = get_storage(sys.argv[1])
study_id = storage.get_study_id_from_name("s")
storage.delete_trials(study_id, [int(i) for i in sys.argv[2:]])
storage.close()
"""


@pytest.mark.parametrize("scheme", ["journal", "sqlite"])
def test_deletions_made_in_the_backend_by_another_process_reach_the_clients(
    scheme: str, tmp_path: Path
) -> None:
    url = {"journal": f"journal:///{tmp_path}/j.log", "sqlite": f"sqlite:///{tmp_path}/d.db"}
    storage = get_storage(url[scheme])
    study_id = storage.create_new_study(MIN, "s")
    ids = _finished(storage, study_id, 4)
    with served(storage) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
        cached = client.get_all_trials(study_id)
        assert len(cached) == 4
        subprocess.run(
            [sys.executable, "-c", _DELETE_IN_ANOTHER_PROCESS, url[scheme], str(ids[0])],
            check=True,
            timeout=120,
        )
        assert [t._trial_id for t in client.get_all_trials(study_id)] == ids[1:]
        with pytest.raises(TrialDeletedError):
            client.get_trial(ids[0])
        client.close()
    storage.close()


def test_an_optuna_client_does_not_see_deleted_trials(
    backend: InMemoryStorage, server: GrpcProxyServer
) -> None:
    """Optuna's client gets no deleted trial from our server (its GetTrials leaves them out,
    GetTrial raises KeyError), but it keeps the finished trials it read before a deletion:
    its cache never forgets a finished trial (a known difference, in compatibility.md)."""
    study_id = backend.create_new_study(MIN, "s")
    ids = _finished(backend, study_id, 4)
    before = optuna.storages.GrpcStorageProxy(host="localhost", port=server.port)
    assert len(before.get_all_trials(study_id)) == 4
    backend.delete_trials(study_id, ids[:2])
    after = optuna.storages.GrpcStorageProxy(host="localhost", port=server.port)
    assert [t.number for t in after.get_all_trials(study_id)] == [2, 3]
    with pytest.raises(KeyError):
        after.get_trial(ids[0])
    assert len(before.get_all_trials(study_id)) == 4  # Optuna's cache keeps them
    before.close()
    after.close()


def _hide_delete_trials(monkeypatch: pytest.MonkeyPatch) -> None:
    from trialstore.storage.grpc._service import Service

    original = Service.handlers

    def without(self: Any) -> Any:
        return [h for h in original(self) if h.method.name != "DeleteTrials"]

    monkeypatch.setattr(Service, "handlers", without)


@pytest.mark.parametrize("why", ["an older server", "a backend that cannot delete"])
def test_a_server_that_cannot_delete_raises_not_implemented(
    why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoDeletion(InMemoryStorage):
        delete_trials = BaseStorage.delete_trials

    if why == "an older server":
        _hide_delete_trials(monkeypatch)
    storage: BaseStorage = InMemoryStorage() if why == "an older server" else NoDeletion()
    with served(storage) as server:
        client = GrpcStorageProxy(host="localhost", port=server.port, retry_timeout=5.0)
        study_id = client.create_new_study(MIN, "s")
        trial_id = client.create_new_trial(study_id)
        for _ in range(2):
            with pytest.raises(NotImplementedError):
                client.delete_trials(study_id, [trial_id])
        assert client.get_trial(trial_id).state == TrialState.RUNNING
        client.close()


def test_get_trials_requests_read_as_optunas_and_back() -> None:
    """The extension GetTrials request has Optuna's fields under Optuna's numbers: an older
    server reads a new client's request (without what it knows of deletions), and a new
    server reads an older client's (which knows of none)."""
    ours = ext.GetTrialsRequest(
        study_id=3,
        included_trial_ids=[5, 9],
        trial_id_greater_than=11,
        known_numbers=12,
        known_deleted=2,
    )
    theirs = pb.GetTrialsRequest.FromString(ours.SerializeToString())
    assert (theirs.study_id, list(theirs.included_trial_ids), theirs.trial_id_greater_than) == (
        3,
        [5, 9],
        11,
    )
    older = pb.GetTrialsRequest(study_id=3, included_trial_ids=[5], trial_id_greater_than=1)
    read = ext.GetTrialsRequest.FromString(older.SerializeToString())
    assert (read.study_id, list(read.included_trial_ids), read.trial_id_greater_than) == (
        3,
        [5],
        1,
    )
    assert (read.known_numbers, read.known_deleted) == (0, 0)


def test_a_number_a_client_claims_to_know_bounds_the_reply_only_if_it_was_deleted(
    backend: InMemoryStorage, client: GrpcStorageProxy
) -> None:
    from trialstore.storage.grpc import _wire as wire

    study_id = backend.create_new_study(MIN, "s")
    ids = _finished(backend, study_id, 4)
    backend.delete_trials(study_id, [ids[1], ids[3]])

    def deleted_numbers(known_numbers: int) -> list[int]:
        request = ext.GetTrialsRequest(study_id=study_id, known_numbers=known_numbers)
        reply = client._call(wire.EXT_GET_TRIALS, request)
        assert reply.deleted_numbers_sent
        return list(reply.deleted_numbers)

    assert deleted_numbers(0) == [1]  # the server sees no trial above 2
    assert deleted_numbers(4) == [1, 3]  # number 3 was deleted: the client held it
    assert deleted_numbers(2**40) == [1]  # no such number: not taken
