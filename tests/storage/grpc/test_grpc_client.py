"""The gRPC proxy client (trialstore/storage/grpc/_client.py) on its own: what it imports, and
its behaviour over a fake transport (no server)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from google.protobuf.message import Message

from trialstore.distributions import FloatDistribution
from trialstore.study import StudyDirection

pytest.importorskip("grpc")

#: Prints the modules of the server side that a client-only process has loaded: the server
#: module and the health service (``grpc`` itself imports the bare ``grpc_health`` package, not
#: its ``v1`` modules).
_LOADED_SERVER_MODULES = """
import json, sys
{imports}
print(json.dumps(sorted(
    name for name in sys.modules
    if name == "trialstore.storage.grpc._server" or name.startswith("grpc_health.v1")
)))
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import trialstore.storage.grpc._client",
        "from trialstore.storage.grpc import GrpcStorageProxy",
        "from trialstore.storage import get_storage; get_storage('grpc://localhost:1').close()",
    ],
)
def test_a_client_process_does_not_load_the_server(imports: str) -> None:
    """A worker that only talks to a proxy loads neither the server module nor grpc_health
    (thousands of short-lived workers pay every import)."""
    script = _LOADED_SERVER_MODULES.format(imports=imports)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert json.loads(out) == []


def test_the_server_names_still_import_from_the_package() -> None:
    from trialstore.storage.grpc import GrpcProxyServer, run_grpc_proxy_server
    from trialstore.storage.grpc._server import GrpcProxyServer as server_class

    assert GrpcProxyServer is server_class
    assert callable(run_grpc_proxy_server)


# -- over a MockTransport: the client's side of errors, retries and fallbacks ---------------

import grpc  # noqa: E402

from trialstore.exceptions import (  # noqa: E402
    DuplicatedStudyError,
    StorageInternalError,
    UpdateFinishedTrialError,
)
from trialstore.storage.grpc import (  # noqa: E402
    GrpcStorageProxy,
    ProxyAuthenticationError,
    ProxyConnectionError,
)
from trialstore.storage.grpc import _wire as wire  # noqa: E402
from trialstore.storage.grpc._pb import extensions_pb2 as ext  # noqa: E402
from trialstore.storage.grpc._pb import storage_pb2 as pb  # noqa: E402
from trialstore.storage.grpc._transport import FailedCall, MockTransport  # noqa: E402

Code = grpc.StatusCode
MIN = [StudyDirection.MINIMIZE]


class _Sent(NamedTuple):
    method: wire.Method[Any, Any]
    request: Any
    metadata: dict[str, str]


def _client(
    answer: Callable[[wire.Method[Any, Any], Any], Message], **options: Any
) -> tuple[GrpcStorageProxy, list[_Sent]]:
    """A client over a MockTransport whose calls ``answer(method, request)`` answers; also
    the list of calls it sends (one entry per attempt)."""
    sent: list[_Sent] = []

    def handler(method: wire.Method[Any, Any], request: Any, metadata: Any) -> Message:
        sent.append(_Sent(method, request, dict(metadata)))
        return answer(method, request)

    options.setdefault("retry_timeout", 30.0)
    return GrpcStorageProxy._over(MockTransport(handler), port=1, **options), sent


def _in_turn(*outcomes: Message | Exception) -> Callable[[Any, Any], Message]:
    """Answers the calls with ``outcomes`` in order: a message is the reply, an exception is
    raised."""
    queue = list(outcomes)

    def answer(_method: Any, _request: Any) -> Message:
        outcome = queue.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return answer


def _typed(code: grpc.StatusCode, type_name: str, details: str) -> FailedCall:
    """A failure as a trialstore server sends it (exact type in the trailing metadata)."""
    return FailedCall(code, details, ((wire.ERROR_TYPE_KEY, type_name),))


@pytest.mark.parametrize(
    ("failure", "expected", "message"),
    [
        (_typed(Code.NOT_FOUND, "KeyError", "No study 3."), KeyError, "No study 3."),
        (
            _typed(Code.ALREADY_EXISTS, "DuplicatedStudyError", "taken"),
            DuplicatedStudyError,
            "taken",
        ),
        (_typed(Code.INVALID_ARGUMENT, "ValueError", "bad"), ValueError, "bad"),
        (_typed(Code.UNKNOWN, "RuntimeError", "boom"), RuntimeError, "boom"),
        # Optuna's server: no type, the status code decides.
        (FailedCall(Code.FAILED_PRECONDITION, "done"), UpdateFinishedTrialError, "done"),
        (FailedCall(Code.UNAUTHENTICATED, "no"), ProxyAuthenticationError, "no"),
        (FailedCall(Code.RESOURCE_EXHAUSTED, "big"), ValueError, "message too large"),
        (FailedCall(Code.INTERNAL, "odd"), StorageInternalError, "GetStudyNameFromId"),
    ],
)
def test_a_failed_call_raises_its_storage_exception_without_a_retry(
    failure: FailedCall, expected: type[Exception], message: str
) -> None:
    client, sent = _client(_in_turn(failure))
    with pytest.raises(expected, match=message):
        client.get_study_name_from_id(3)
    assert len(sent) == 1


@pytest.mark.parametrize("number", [-1, 2**63, 2**70, 0.0, True], ids=repr)
def test_a_number_that_names_no_trial_gets_every_backend_s_key_error(number: Any) -> None:
    """Checked before the lookup is sent (it may not fit the wire), after the study: the
    message and the precedence of the in-memory and journal backends."""
    client, sent = _client(_in_turn(pb.GetStudyNameFromIdReply(study_name="s")))
    with pytest.raises(KeyError) as info:
        client.get_trial_id_from_study_id_trial_number(4, number)
    assert info.value.args == (f"No trial with number {number!r} in study 4.",)
    assert [s.method for s in sent] == [wire.GET_STUDY_NAME_FROM_ID]

    missing_study = _typed(Code.NOT_FOUND, "KeyError", "'No study with id 5.'")
    client, sent = _client(_in_turn(missing_study))
    with pytest.raises(KeyError, match="No study with id 5"):
        client.get_trial_id_from_study_id_trial_number(5, number)


@pytest.mark.parametrize("code", [Code.UNAVAILABLE, Code.CANCELLED, Code.DEADLINE_EXCEEDED])
def test_a_write_cut_off_is_sent_again_with_its_request_id(code: grpc.StatusCode) -> None:
    client, sent = _client(
        _in_turn(FailedCall(code), FailedCall(code), pb.SetStudyUserAttributeReply())
    )
    client.set_study_user_attr(4, "k", [1, 2])
    assert [s.method for s in sent] == [wire.SET_STUDY_USER_ATTRIBUTE] * 3
    ids = {s.metadata[wire.REQUEST_ID_KEY] for s in sent}
    assert len(ids) == 1 and len(ids.pop()) == 32  # one uuid4 for every attempt
    assert [s.metadata.get(wire.RESENT_KEY) for s in sent] == [None, "1", "1"]
    assert {s.request.SerializeToString() for s in sent} == {
        pb.SetStudyUserAttributeRequest(study_id=4, key="k", value="[1, 2]").SerializeToString()
    }


def test_each_write_gets_its_own_request_id_and_a_read_none() -> None:
    client, sent = _client(
        _in_turn(
            pb.SetStudyUserAttributeReply(),
            pb.SetStudyUserAttributeReply(),
            FailedCall(Code.UNAVAILABLE),
            pb.GetStudyUserAttributesReply(user_attributes={"k": "1"}),
        )
    )
    client.set_study_user_attr(4, "k", 1)
    client.set_study_user_attr(4, "k", 1)
    assert client.get_study_user_attrs(4) == {"k": 1}
    first, second = (s.metadata[wire.REQUEST_ID_KEY] for s in sent[:2])
    assert first != second
    assert all(wire.REQUEST_ID_KEY not in s.metadata for s in sent[2:])
    assert all(wire.RESENT_KEY not in s.metadata for s in sent)


def test_a_server_unreachable_beyond_the_retry_budget_is_a_connection_error() -> None:
    client, sent = _client(_in_turn(FailedCall(Code.UNAVAILABLE, "down")), retry_timeout=0)
    with pytest.raises(ProxyConnectionError, match=r"localhost:1 .*GetAllStudies.*down"):
        client.get_all_studies()
    assert len(sent) == 1


def test_a_write_sent_again_that_then_fails_is_of_unknown_outcome() -> None:
    """The first attempt may have created the study in a server that died before replying;
    the repeated one finds it: not the caller's DuplicatedStudyError."""
    duplicated = _typed(Code.ALREADY_EXISTS, "DuplicatedStudyError", "taken")
    client, sent = _client(_in_turn(FailedCall(Code.UNAVAILABLE), duplicated))
    with pytest.raises(StorageInternalError, match="sent again") as info:
        client.create_new_study(MIN, "s")
    assert isinstance(info.value.__cause__, DuplicatedStudyError)
    assert [s.method for s in sent] == [wire.CREATE_NEW_STUDY] * 2
    client, sent = _client(_in_turn(duplicated))  # not sent again: the error as it is
    with pytest.raises(DuplicatedStudyError):
        client.create_new_study(MIN, "s")
    assert len(sent) == 1


def _optuna_server(
    *plain_outcomes: Message | Exception,
) -> Callable[[wire.Method[Any, Any], Any], Message]:
    """Optuna's server: UNIMPLEMENTED for every extension method; ``plain_outcomes`` in
    turn for the others."""
    plain = _in_turn(*plain_outcomes)

    def answer(method: wire.Method[Any, Any], request: Any) -> Message:
        if method.service == wire.EXTENSION_SERVICE:
            raise FailedCall(Code.UNIMPLEMENTED, "Method not found!")
        return plain(method, request)

    return answer


def test_against_optuna_s_server_the_client_falls_back_once_and_remembers() -> None:
    client, sent = _client(
        _optuna_server(pb.CreateNewTrialReply(trial_id=7), pb.CreateNewTrialReply(trial_id=8))
    )
    assert client.create_new_trial(2) == 7
    assert client.create_new_trial(2) == 8
    assert [s.method for s in sent] == [
        wire.EXT_CREATE_NEW_TRIAL,
        wire.CREATE_NEW_TRIAL,
        wire.CREATE_NEW_TRIAL,
    ]
    assert client.get_heartbeat_interval() is None  # no GetServerInfo: known to be Optuna's
    assert len(sent) == 3


def test_a_plain_create_cut_off_is_not_sent_again_unless_it_never_left() -> None:
    """On Optuna's wire a create sent again could make a second trial: only a create that
    could not connect at all is retried."""
    client, sent = _client(_optuna_server(FailedCall(Code.UNAVAILABLE, "Socket closed")))
    with pytest.raises(StorageInternalError, match="may or may not have been created"):
        client.create_new_trial(2)
    assert [s.method for s in sent] == [wire.EXT_CREATE_NEW_TRIAL, wire.CREATE_NEW_TRIAL]

    never_sent = FailedCall(Code.UNAVAILABLE, "failed to connect to all addresses")
    client, sent = _client(_optuna_server(never_sent, pb.CreateNewTrialReply(trial_id=5)))
    assert client.create_new_trial(2) == 5
    assert [s.method for s in sent][1:] == [wire.CREATE_NEW_TRIAL] * 2


def test_an_extension_method_the_server_lacks_is_asked_once() -> None:
    """A trialstore server from before SetTrialParams: one SetTrialParameter per
    parameter, and the client does not ask for SetTrialParams again."""
    dist = FloatDistribution(0.0, 1.0)

    def answer(method: wire.Method[Any, Any], _request: Any) -> Message:
        if method is wire.EXT_SET_TRIAL_PARAMS:
            raise FailedCall(Code.UNIMPLEMENTED)
        reply: Message = method.reply()
        return reply

    client, sent = _client(answer)
    client.set_trial_params(1, {"x": (0.5, dist), "y": (0.25, dist)})
    client.set_trial_params(1, {"z": (0.75, dist)})
    assert [s.method for s in sent] == [
        wire.EXT_SET_TRIAL_PARAMS,
        wire.SET_TRIAL_PARAMETER,
        wire.SET_TRIAL_PARAMETER,
        wire.SET_TRIAL_PARAMETER,
    ]
    assert [s.request.param_name for s in sent[1:]] == ["x", "y", "z"]


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_the_token_goes_with_every_call(token: str | None) -> None:
    client, sent = _client(
        _in_turn(ext.GetServerInfoReply(), pb.GetAllStudiesReply()), token=token
    )
    client.get_heartbeat_interval()
    client.get_all_studies()
    expected = None if token is None else f"Bearer {token}"
    assert [s.metadata.get(wire.AUTH_KEY) for s in sent] == [expected, expected]


def test_the_mock_transport_refuses_a_reply_of_the_wrong_type() -> None:
    client, _ = _client(_in_turn(pb.GetTrialReply()))
    with pytest.raises(TypeError, match="GetAllStudiesReply"):
        client.get_all_studies()
