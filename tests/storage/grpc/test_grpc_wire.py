"""The proxy's method table (trialstore/storage/grpc/_wire.py) against the .proto services and
the server's handlers (_service.py)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("grpc")

from trialstore.storage import InMemoryStorage
from trialstore.storage.grpc import _wire as wire
from trialstore.storage.grpc._idempotency import IdempotencyTable
from trialstore.storage.grpc._pb import extensions_pb2, storage_pb2


@pytest.mark.parametrize(
    ("service", "methods"),
    [
        (storage_pb2.DESCRIPTOR.services_by_name["StorageService"], wire.STORAGE_METHODS),
        (extensions_pb2.DESCRIPTOR.services_by_name["StorageExtensions"], wire.EXTENSION_METHODS),
    ],
    ids=["storage", "extensions"],
)
def test_the_method_table_is_the_proto_service(service: Any, methods: Any) -> None:
    """Every rpc of the .proto, in its order, with its request and reply messages (a wrong
    message type would still serialize, into bytes the peer reads as something else)."""
    assert [
        (m.service, m.name, m.request.DESCRIPTOR.full_name, m.reply.DESCRIPTOR.full_name)
        for m in methods
    ] == [
        (service.full_name, m.name, m.input_type.full_name, m.output_type.full_name)
        for m in service.methods
    ]


def test_the_server_answers_every_method_once() -> None:
    from trialstore.storage.grpc._service import Service

    service = Service(InMemoryStorage(), IdempotencyTable())
    served = [handler.method for handler in service.handlers()]
    assert served == [*wire.STORAGE_METHODS, *wire.EXTENSION_METHODS]


def test_paths() -> None:
    assert wire.CREATE_NEW_TRIAL.path == "/optuna.StorageService/CreateNewTrial"
    assert wire.EXT_CREATE_NEW_TRIAL.path == "/trialstore.StorageExtensions/CreateNewTrial"


def test_reads_carry_no_request_id() -> None:
    """Only writes are made idempotent; a read sent again simply reads again."""
    reads = {m.path for m in (*wire.STORAGE_METHODS, *wire.EXTENSION_METHODS) if not m.write}
    assert reads == {
        "/optuna.StorageService/GetStudyIdFromName",
        "/optuna.StorageService/GetStudyNameFromId",
        "/optuna.StorageService/GetStudyDirections",
        "/optuna.StorageService/GetStudyUserAttributes",
        "/optuna.StorageService/GetStudySystemAttributes",
        "/optuna.StorageService/GetAllStudies",
        "/optuna.StorageService/GetTrialIdFromStudyIdTrialNumber",
        "/optuna.StorageService/GetTrial",
        "/optuna.StorageService/GetTrials",
        "/trialstore.StorageExtensions/GetServerInfo",
        "/trialstore.StorageExtensions/RecordHeartbeat",
        "/trialstore.StorageExtensions/GetStaleTrialIds",
        "/trialstore.StorageExtensions/GetTrial",
        "/trialstore.StorageExtensions/GetTrials",
    }
