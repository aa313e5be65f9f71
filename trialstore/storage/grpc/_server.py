"""The proxy server: :class:`GrpcProxyServer` and :func:`run_grpc_proxy_server`."""

from __future__ import annotations

import logging
import signal
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Generic, NamedTuple, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from trialstore.storage.base import BaseStorage
from trialstore.storage.grpc import _convert as conv
from trialstore.storage.grpc import _wire as wire
from trialstore.storage.grpc._args import (
    check_count,
    check_host,
    check_port,
    check_seconds,
    target,
)
from trialstore.storage.grpc._errors import status_for
from trialstore.storage.grpc._idempotency import CREATE_REQUEST_ATTR, IdempotencyTable
from trialstore.storage.grpc._pb import extensions_pb2 as ext
from trialstore.storage.grpc._pb import storage_pb2 as pb
from trialstore.storage.grpc._security import TokenInterceptor, is_loopback
from trialstore.storage.grpc._wire import EXTENSION_SERVICE, STORAGE_SERVICE
from trialstore.trial import FrozenTrial, TrialState, create_trial

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "GrpcProxyServer",
    "run_grpc_proxy_server",
]

_logger = logging.getLogger("trialstore.storage.grpc")

#: Largest request the server accepts by default (gRPC's own default); larger ones get
#: RESOURCE_EXHAUSTED. Replies are not limited.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)


class _Call(NamedTuple):
    """What the metadata of a call says: its request id (None: a read, or a write not sent
    with one) and whether it is a repeat of an attempt whose outcome the client did not
    learn."""

    request_id: str | None
    resent: bool


_READ = _Call(request_id=None, resent=False)


@dataclass(frozen=True)
class _Handler(Generic[Req, Rep]):
    """One method the server answers: the method on the wire (service, name, request and
    reply types, whether it is a write) and the function that answers a request."""

    method: wire.Method[Req, Rep]
    answer: Callable[[Req, _Call], Rep]


def _handler(
    method: wire.Method[Req, Rep], answer: Callable[[Req, _Call], Rep]
) -> _Handler[Any, Any]:
    """The handler of ``method``; mypy checks ``answer`` against the method's message types
    here (in a list of ``_Handler[Any, Any]``, a bare ``_Handler(...)`` is not checked)."""
    return _Handler(method, answer)


class _Service:
    """The handlers of both services over one storage."""

    def __init__(self, storage: BaseStorage, idempotency: IdempotencyTable) -> None:
        self._storage = storage
        self._idempotency = idempotency
        self.instance_id = str(uuid.uuid4())

    # -- dispatch ---------------------------------------------------------------------------

    def handlers(self) -> list[_Handler[Any, Any]]:
        """One handler per method of both services, in the order of ``wire``'s tables."""
        return [
            # optuna.StorageService
            _handler(wire.CREATE_NEW_STUDY, self._create_new_study),
            _handler(wire.DELETE_STUDY, self._delete_study),
            _handler(wire.SET_STUDY_USER_ATTRIBUTE, self._set_study_user_attr),
            _handler(wire.SET_STUDY_SYSTEM_ATTRIBUTE, self._set_study_system_attr),
            _handler(wire.GET_STUDY_ID_FROM_NAME, self._get_study_id_from_name),
            _handler(wire.GET_STUDY_NAME_FROM_ID, self._get_study_name_from_id),
            _handler(wire.GET_STUDY_DIRECTIONS, self._get_study_directions),
            _handler(wire.GET_STUDY_USER_ATTRIBUTES, self._get_study_user_attrs),
            _handler(wire.GET_STUDY_SYSTEM_ATTRIBUTES, self._get_study_system_attrs),
            _handler(wire.GET_ALL_STUDIES, self._get_all_studies),
            _handler(wire.CREATE_NEW_TRIAL, self._create_new_trial),
            _handler(wire.SET_TRIAL_PARAMETER, self._set_trial_param),
            _handler(wire.GET_TRIAL_ID_FROM_STUDY_ID_TRIAL_NUMBER, self._get_trial_id),
            _handler(wire.SET_TRIAL_STATE_VALUES, self._set_trial_state_values),
            _handler(wire.SET_TRIAL_INTERMEDIATE_VALUE, self._set_trial_intermediate_value),
            _handler(wire.SET_TRIAL_USER_ATTRIBUTE, self._set_trial_user_attr),
            _handler(wire.SET_TRIAL_SYSTEM_ATTRIBUTE, self._set_trial_system_attr),
            _handler(wire.GET_TRIAL, self._get_trial),
            _handler(wire.GET_TRIALS, self._get_trials),
            # trialstore.StorageExtensions
            _handler(wire.EXT_GET_SERVER_INFO, self._get_server_info),
            _handler(wire.EXT_RECORD_HEARTBEAT, self._record_heartbeat),
            _handler(wire.EXT_GET_STALE_TRIAL_IDS, self._get_stale_trial_ids),
            _handler(wire.EXT_FAIL_STALE_TRIALS, self._fail_stale_trials),
            _handler(wire.EXT_CREATE_NEW_TRIAL, self._create_marked_trial),
            _handler(wire.EXT_GET_TRIAL, self._get_exact_trial),
            _handler(wire.EXT_GET_TRIALS, self._get_exact_trials),
            _handler(wire.EXT_SET_TRIAL_STATE_VALUES, self._set_exact_state_values),
            _handler(wire.EXT_SET_TRIAL_PARAMS, self._set_trial_params),
            _handler(wire.EXT_CREATE_TRIAL_OR_LIST_WAITING, self._create_trial_or_list_waiting),
            _handler(
                wire.EXT_SET_TRIAL_PARAMS_AND_STATE_VALUES,
                self._set_trial_params_and_state_values,
            ),
        ]

    def method_handlers(self) -> list[grpc.GenericRpcHandler]:
        """The gRPC handlers of :meth:`handlers`, one generic handler per service."""
        services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for handler in self.handlers():
            method = handler.method
            services.setdefault(method.service, {})[method.name] = self._wrap(handler)
        return [
            grpc.method_handlers_generic_handler(service, methods)
            for service, methods in services.items()
        ]

    def _wrap(self, handler: _Handler[Any, Any]) -> grpc.RpcMethodHandler:
        """The gRPC handler of one method: a write runs once per request id (see
        ``_idempotency``); an exception becomes its status (see ``_errors``)."""
        method, answer = handler.method, handler.answer
        idempotency = self._idempotency

        def call(request: Message, context: grpc.ServicerContext) -> Message:
            try:
                if method.write:
                    call_info = _call_metadata(context)
                    key = None
                    if call_info.request_id is not None:
                        key = f"{method.path}:{call_info.request_id}"
                    reply: Message = idempotency.run(key, lambda: answer(request, call_info))
                else:
                    reply = answer(request, _READ)
            except Exception as e:
                code, type_name, message = status_for(e)
                if type_name == "StorageInternalError":
                    _logger.warning("%s failed: %s", method.path, message)
                context.set_trailing_metadata(((wire.ERROR_TYPE_KEY, type_name),))
                context.abort(code, message)  # raises
            return reply

        return grpc.unary_unary_rpc_method_handler(
            call,
            request_deserializer=method.request.FromString,
            response_serializer=method.reply.SerializeToString,
        )

    # -- optuna.StorageService --------------------------------------------------------------

    def _create_new_study(
        self, request: pb.CreateNewStudyRequest, _call: _Call
    ) -> pb.CreateNewStudyReply:
        directions = conv.directions_from_wire(request.directions)
        study_id = self._storage.create_new_study(directions, request.study_name)
        return pb.CreateNewStudyReply(study_id=study_id)

    def _delete_study(self, request: pb.DeleteStudyRequest, _call: _Call) -> pb.DeleteStudyReply:
        self._storage.delete_study(request.study_id)
        return pb.DeleteStudyReply()

    def _set_study_user_attr(
        self, request: pb.SetStudyUserAttributeRequest, _call: _Call
    ) -> pb.SetStudyUserAttributeReply:
        value = conv.attr_value_from_wire(request.value)
        self._storage.set_study_user_attr(request.study_id, request.key, value)
        return pb.SetStudyUserAttributeReply()

    def _set_study_system_attr(
        self, request: pb.SetStudySystemAttributeRequest, _call: _Call
    ) -> pb.SetStudySystemAttributeReply:
        value = conv.attr_value_from_wire(request.value)
        self._storage.set_study_system_attr(request.study_id, request.key, value)
        return pb.SetStudySystemAttributeReply()

    def _get_study_id_from_name(
        self, request: pb.GetStudyIdFromNameRequest, _call: _Call
    ) -> pb.GetStudyIdFromNameReply:
        study_id = self._storage.get_study_id_from_name(request.study_name)
        return pb.GetStudyIdFromNameReply(study_id=study_id)

    def _get_study_name_from_id(
        self, request: pb.GetStudyNameFromIdRequest, _call: _Call
    ) -> pb.GetStudyNameFromIdReply:
        name = self._storage.get_study_name_from_id(request.study_id)
        return pb.GetStudyNameFromIdReply(study_name=name)

    def _get_study_directions(
        self, request: pb.GetStudyDirectionsRequest, _call: _Call
    ) -> pb.GetStudyDirectionsReply:
        directions = self._storage.get_study_directions(request.study_id)
        return pb.GetStudyDirectionsReply(directions=conv.directions_to_wire(directions))

    def _get_study_user_attrs(
        self, request: pb.GetStudyUserAttributesRequest, _call: _Call
    ) -> pb.GetStudyUserAttributesReply:
        attrs = self._storage.get_study_user_attrs(request.study_id)
        return pb.GetStudyUserAttributesReply(user_attributes=conv.attrs_to_wire(attrs))

    def _get_study_system_attrs(
        self, request: pb.GetStudySystemAttributesRequest, _call: _Call
    ) -> pb.GetStudySystemAttributesReply:
        attrs = self._storage.get_study_system_attrs(request.study_id)
        return pb.GetStudySystemAttributesReply(system_attributes=conv.attrs_to_wire(attrs))

    def _get_all_studies(
        self, _request: pb.GetAllStudiesRequest, _call: _Call
    ) -> pb.GetAllStudiesReply:
        studies = self._storage.get_all_studies()
        return pb.GetAllStudiesReply(studies=[conv.study_to_proto(s) for s in studies])

    def _create_new_trial(
        self, request: pb.CreateNewTrialRequest, _call: _Call
    ) -> pb.CreateNewTrialReply:
        """A plain create (Optuna's clients): without a request id, a create sent again
        after its server died makes a second trial."""
        template = None
        if not request.template_trial_is_none:
            template = conv.trial_from_proto(request.template_trial)
        trial_id = self._storage.create_new_trial(request.study_id, template)
        return pb.CreateNewTrialReply(trial_id=trial_id)

    def _set_trial_param(
        self, request: pb.SetTrialParameterRequest, _call: _Call
    ) -> pb.SetTrialParameterReply:
        self._storage.set_trial_param(
            request.trial_id,
            request.param_name,
            request.param_value_internal,
            conv.distribution_from_wire(request.distribution),
        )
        return pb.SetTrialParameterReply()

    def _get_trial_id(
        self, request: pb.GetTrialIdFromStudyIdTrialNumberRequest, _call: _Call
    ) -> pb.GetTrialIdFromStudyIdTrialNumberReply:
        trial_id = self._storage.get_trial_id_from_study_id_trial_number(
            request.study_id, request.trial_number
        )
        return pb.GetTrialIdFromStudyIdTrialNumberReply(trial_id=trial_id)

    def _set_trial_state_values(
        self, request: pb.SetTrialStateValuesRequest, _call: _Call
    ) -> pb.SetTrialStateValuesReply:
        state, values = conv.state_values_from_wire(request)
        updated = self._storage.set_trial_state_values(request.trial_id, state, values)
        return pb.SetTrialStateValuesReply(trial_updated=updated)

    def _set_trial_intermediate_value(
        self, request: pb.SetTrialIntermediateValueRequest, _call: _Call
    ) -> pb.SetTrialIntermediateValueReply:
        self._storage.set_trial_intermediate_value(
            request.trial_id, request.step, request.intermediate_value
        )
        return pb.SetTrialIntermediateValueReply()

    def _set_trial_user_attr(
        self, request: pb.SetTrialUserAttributeRequest, _call: _Call
    ) -> pb.SetTrialUserAttributeReply:
        value = conv.attr_value_from_wire(request.value)
        self._storage.set_trial_user_attr(request.trial_id, request.key, value)
        return pb.SetTrialUserAttributeReply()

    def _set_trial_system_attr(
        self, request: pb.SetTrialSystemAttributeRequest, _call: _Call
    ) -> pb.SetTrialSystemAttributeReply:
        value = conv.attr_value_from_wire(request.value)
        self._storage.set_trial_system_attr(request.trial_id, request.key, value)
        return pb.SetTrialSystemAttributeReply()

    def _get_trial(self, request: pb.GetTrialRequest, _call: _Call) -> pb.GetTrialReply:
        trial = self._storage.get_trial(request.trial_id)
        return pb.GetTrialReply(trial=conv.trial_to_proto(trial))

    def _get_trials(self, request: pb.GetTrialsRequest, _call: _Call) -> pb.GetTrialsReply:
        return pb.GetTrialsReply(
            trials=[conv.trial_to_proto(t) for t in self._trials_since(request)]
        )

    # -- trialstore.StorageExtensions -------------------------------------------------------

    def _get_server_info(
        self, _request: ext.GetServerInfoRequest, _call: _Call
    ) -> ext.GetServerInfoReply:
        return conv.server_info_to_wire(
            self.instance_id,
            self._storage.get_heartbeat_interval(),
            self._storage.get_grace_period(),
        )

    def _record_heartbeat(
        self, request: ext.RecordHeartbeatRequest, _call: _Call
    ) -> ext.RecordHeartbeatReply:
        self._storage.record_heartbeat(request.trial_id)
        return ext.RecordHeartbeatReply()

    def _get_stale_trial_ids(
        self, request: ext.StaleTrialsRequest, _call: _Call
    ) -> ext.StaleTrialsReply:
        return ext.StaleTrialsReply(trial_ids=self._storage.get_stale_trial_ids(request.study_id))

    def _fail_stale_trials(
        self, request: ext.StaleTrialsRequest, _call: _Call
    ) -> ext.StaleTrialsReply:
        return ext.StaleTrialsReply(trial_ids=self._storage.fail_stale_trials(request.study_id))

    def _create_marked_trial(
        self, request: ext.CreateNewTrialRequest, call: _Call
    ) -> ext.CreateNewTrialReply:
        """Create a trial that carries its request id (system attribute
        ``CREATE_REQUEST_ATTR``, written atomically with the trial), so that the create, sent
        again after its server died before replying, finds the trial its first attempt made
        instead of making a second one. Without a request id: a plain create. The reply
        holds the trial's id and number."""
        study_id = request.study_id
        template = None
        if not request.template_trial_is_none:
            exact = request.template_trial
            template = conv.trial_from_proto(exact.trial, exact.extras)
        found = self._trial_of_resent_create(study_id, call)
        if found is None:
            found = self._create_marked(study_id, template, call)
        trial_id, number = found
        return ext.CreateNewTrialReply(trial_id=trial_id, number=number)

    def _get_exact_trial(self, request: pb.GetTrialRequest, _call: _Call) -> ext.GetTrialReply:
        trial = self._storage.get_trial(request.trial_id)
        return ext.GetTrialReply(trial=conv.exact_trial(trial))

    def _get_exact_trials(self, request: pb.GetTrialsRequest, _call: _Call) -> ext.GetTrialsReply:
        return ext.GetTrialsReply(
            trials=[conv.exact_trial(t) for t in self._trials_since(request)]
        )

    def _set_exact_state_values(
        self, request: ext.SetTrialStateValuesRequest, _call: _Call
    ) -> pb.SetTrialStateValuesReply:
        state, values = conv.state_values_from_wire(request.request, request.values_given)
        updated = self._storage.set_trial_state_values(request.request.trial_id, state, values)
        return pb.SetTrialStateValuesReply(trial_updated=updated)

    def _set_trial_params(
        self, request: ext.SetTrialParamsRequest, _call: _Call
    ) -> ext.SetTrialParamsReply:
        self._storage.set_trial_params(request.trial_id, conv.params_from_wire(request))
        return ext.SetTrialParamsReply()

    def _create_trial_or_list_waiting(
        self, request: ext.CreateTrialOrListWaitingRequest, call: _Call
    ) -> ext.CreateTrialOrListWaitingReply:
        """The study's WAITING trial ids, or a trial created as :meth:`_create_marked` creates
        one (so that, sent again after the server died, it finds its trial)."""
        study_id = request.study_id
        found = self._trial_of_resent_create(study_id, call)
        if found is None:
            template = None
            if call.request_id is not None:
                template = _marked_template(None, call.request_id)
            got = self._storage.create_trial_or_list_waiting(study_id, template)
            if isinstance(got, list):
                return ext.CreateTrialOrListWaitingReply(waiting_trial_ids=got)
            found = got, self._storage.get_trial_number_from_id(got)
        trial_id, number = found
        return ext.CreateTrialOrListWaitingReply(trial_id=trial_id, number=number)

    def _set_trial_params_and_state_values(
        self, request: ext.SetTrialParamsAndStateValuesRequest, _call: _Call
    ) -> pb.SetTrialStateValuesReply:
        """One ``set_trial_params_and_state_values`` call on the storage. Sent again after the
        first attempt's server died, the batch meets a finished trial: the client then looks
        at the trial to tell whether its first attempt finished it."""
        trial_id = request.params.trial_id
        state_values = request.state_values
        if state_values.request.trial_id != trial_id:
            raise ValueError(
                "SetTrialParamsAndStateValues: params and state_values name different trials "
                f"({trial_id} and {state_values.request.trial_id})."
            )
        updated = self._storage.set_trial_params_and_state_values(
            trial_id,
            conv.params_from_wire(request.params),
            *conv.state_values_from_wire(state_values.request, state_values.values_given),
        )
        return pb.SetTrialStateValuesReply(trial_updated=updated)

    # -- helpers ----------------------------------------------------------------------------

    def _trial_of_resent_create(self, study_id: int, call: _Call) -> tuple[int, int] | None:
        """The (id, number) of the trial a create sent again made on its first attempt (found
        by its request id), or None (not resent, or the first attempt made none)."""
        if call.request_id is None or not call.resent:
            return None
        for trial in reversed(self._storage.get_all_trials(study_id, deepcopy=False)):
            if trial.system_attrs.get(CREATE_REQUEST_ATTR) == call.request_id:
                return trial._trial_id, trial.number
        return None

    def _create_marked(
        self, study_id: int, template: FrozenTrial | None, call: _Call
    ) -> tuple[int, int]:
        """Create a trial (marked with the call's request id, if any); its (id, number)."""
        if call.request_id is None:
            trial_id = self._storage.create_new_trial(study_id, template)
        else:
            marked = _marked_template(template, call.request_id)
            trial_id = self._storage.create_new_trial(study_id, marked)
        return trial_id, self._storage.get_trial_number_from_id(trial_id)

    def _trials_since(self, request: pb.GetTrialsRequest) -> list[FrozenTrial]:
        """The study's trials that the request asks for: ids above its cursor, and the
        listed ones."""
        included = set(request.included_trial_ids)
        after = request.trial_id_greater_than
        return [
            t
            for t in self._storage.get_all_trials(request.study_id, deepcopy=False)
            if t._trial_id > after or t._trial_id in included
        ]


def _call_metadata(context: grpc.ServicerContext) -> _Call:
    """What a write's metadata says (request id, resent)."""
    request_id = None
    resent = False
    for key, value in context.invocation_metadata() or ():
        if key == wire.REQUEST_ID_KEY:
            request_id = value
        elif key == wire.RESENT_KEY:
            resent = value == "1"
    return _Call(request_id, resent)


def _marked_template(template: FrozenTrial | None, request_id: str) -> FrozenTrial:
    """Return ``template`` (None: a RUNNING trial started now, what a create without template
    makes) with the system attribute ``CREATE_REQUEST_ATTR`` set to ``request_id``."""
    if template is None:
        return create_trial(
            state=TrialState.RUNNING, system_attrs={CREATE_REQUEST_ATTR: request_id}
        )
    return FrozenTrial(
        number=template.number,
        state=template.state,
        value=None,
        values=template.values,
        datetime_start=template.datetime_start,
        datetime_complete=template.datetime_complete,
        params=template.params,
        distributions=template.distributions,
        user_attrs=template.user_attrs,
        system_attrs={**template.system_attrs, CREATE_REQUEST_ATTR: request_id},
        intermediate_values=template.intermediate_values,
        trial_id=template._trial_id,
    )


class GrpcProxyServer:
    """A gRPC server that serves ``storage`` to :class:`GrpcStorageProxy` and Optuna clients.

    Embeddable: :meth:`start` binds and returns at once, :meth:`wait_until_ready` waits for
    another thread's start, :meth:`stop` finishes the calls in flight (up to ``grace`` seconds)
    and refuses new ones. Also a context manager (start on enter, stop on exit).

    Args:
        storage: the storage to serve; calls run on it from ``max_workers`` threads.
        host, port: where to listen: a host name or an IP address (IPv6 with or without
            brackets) and a port from 1 to 65535, or 0 for a free port (read :attr:`port`
            after :meth:`start`). Binds to ``localhost`` by default; binding any other address
            without TLS logs and warns (``UserWarning``), as the data and any token then cross
            the network unencrypted.
        tls_cert, tls_key: PEM server certificate chain and private key (bytes); both or none.
        tls_client_ca: PEM CA bundle (bytes); when given, clients must present a certificate
            signed by it (mutual TLS). Requires ``tls_cert``.
        token: when given, every call except health checks must carry it (see
            :class:`GrpcStorageProxy`); others get UNAUTHENTICATED. Never logged.
        max_workers: threads serving calls (also the most calls in the backend at once);
            at least 1. Unused when ``thread_pool`` is given.
        max_message_bytes: largest request accepted (at least 1); larger ones get
            RESOURCE_EXHAUSTED.
        idempotency_capacity: how many write request ids are remembered (at least 1; see the
            package docstring for the retry guarantees).

    Concurrency: the server calls ``storage`` from many threads at once; every
    :class:`~trialstore.storage.BaseStorage` is thread-safe by contract.

    Raises:
        ValueError: an empty host, a port outside 0-65535, ``max_workers``,
            ``max_message_bytes`` or ``idempotency_capacity`` below 1, or inconsistent TLS
            arguments; raised before anything is bound or started.
    """

    def __init__(
        self,
        storage: BaseStorage,
        *,
        host: str = "localhost",
        port: int = 13000,
        tls_cert: bytes | None = None,
        tls_key: bytes | None = None,
        tls_client_ca: bytes | None = None,
        token: str | None = None,
        max_workers: int = 32,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        idempotency_capacity: int = 100_000,
        thread_pool: ThreadPoolExecutor | None = None,
    ) -> None:
        check_host(host)
        check_port(port, any_port=True)
        check_count(max_workers, name="max_workers")
        check_count(max_message_bytes, name="max_message_bytes")
        check_count(idempotency_capacity, name="idempotency_capacity")
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together.")
        if tls_client_ca is not None and tls_cert is None:
            raise ValueError("tls_client_ca requires tls_cert and tls_key.")
        if token is not None and not token:
            raise ValueError("token must be a non-empty str or None.")
        self._storage = storage
        self._host = host
        self._requested_port = port
        self._tls = (tls_cert, tls_key, tls_client_ca)
        self._token = token
        self._max_message_bytes = max_message_bytes
        self._service = _Service(storage, IdempotencyTable(idempotency_capacity))
        self._health = health.HealthServicer()
        self._pool = thread_pool or ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="trialstore-grpc"
        )
        self._server: grpc.Server | None = None
        self._port: int | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()

    def __repr__(self) -> str:
        return (
            f"GrpcProxyServer(storage={type(self._storage).__name__}, host={self._host!r}, "
            f"port={self._port or self._requested_port}, tls={self._tls[0] is not None}, "
            f"token={'***' if self._token else None})"
        )

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when started with ``port=0``).

        Raises:
            RuntimeError: the server has not been started.
        """
        if self._port is None:
            raise RuntimeError("the server has not been started.")
        return self._port

    @property
    def instance_id(self) -> str:
        """A uuid4 that is new for every server object (clients use it to see a restart)."""
        return self._service.instance_id

    def start(self) -> None:
        """Bind and start serving; returns once the port is bound.

        Raises:
            RuntimeError: already started.
            OSError: the address cannot be bound (in use, or not an address of this machine).
        """
        if self._server is not None:
            raise RuntimeError("the server was already started.")
        interceptors = [TokenInterceptor(self._token)] if self._token else []
        server = grpc.server(
            self._pool,
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", self._max_message_bytes),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ],
        )
        server.add_generic_rpc_handlers(tuple(self._service.method_handlers()))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        address = target(self._host, self._requested_port)
        cert, key, client_ca = self._tls
        try:
            if cert is not None and key is not None:
                credentials = grpc.ssl_server_credentials(
                    [(key, cert)],
                    root_certificates=client_ca,
                    require_client_auth=client_ca is not None,
                )
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as e:
            raise OSError(f"gRPC proxy cannot listen on {address}: {e}") from None
        if port == 0:
            raise OSError(f"gRPC proxy cannot listen on {address}.")
        if cert is None and not is_loopback(self._host):
            message = (
                f"gRPC proxy listens on {address} without TLS: study data"
                + (" and the token" if self._token else "")
                + " cross the network unencrypted. Pass tls_cert/tls_key to encrypt."
            )
            _logger.warning(message)
            warnings.warn(message, UserWarning, stacklevel=2)
        self._server = server
        self._port = port
        server.start()
        for service in ("", STORAGE_SERVICE, EXTENSION_SERVICE):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        _logger.info(
            "gRPC proxy serving %s on %s (TLS %s, client certificates %s, token %s)",
            type(self._storage).__name__,
            target(self._host, port),
            "on" if cert is not None else "off",
            "required" if client_ca is not None else "not required",
            "required" if self._token else "off",
        )
        self._started.set()

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Wait until :meth:`start` has returned (in any thread); return whether it has."""
        return self._started.wait(timeout)

    def stop(self, grace: float | None = 5.0) -> None:
        """Stop serving: refuse new calls, let calls in flight finish for up to ``grace``
        seconds (None: wait for all), then cancel the rest. Blocks until stopped.

        Health checks report NOT_SERVING from the moment this is called. Calling it again, or
        on a server that never started, does nothing. The storage is not closed.

        Raises:
            ValueError: ``grace`` is negative, NaN or infinite (nothing is stopped).
        """
        if grace is not None:
            check_seconds(grace, name="grace", zero=True)
        server = self._server
        if server is None or self._stopped.is_set():
            return
        self._health.enter_graceful_shutdown()
        server.stop(grace).wait()
        self._stopped.set()
        _logger.info("gRPC proxy on %s stopped", target(self._host, self._port or 0))

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` passes); return whether it stopped."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> GrpcProxyServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_grpc_proxy_server(
    storage: BaseStorage,
    *,
    host: str = "localhost",
    port: int = 13000,
    thread_pool: ThreadPoolExecutor | None = None,
    grace: float = 5.0,
    **options: Any,
) -> None:
    """Serve ``storage`` over gRPC until SIGINT or SIGTERM, then stop gracefully.

    Optuna's signature plus :class:`GrpcProxyServer`'s keyword options (TLS, token, limits).
    On a signal (or KeyboardInterrupt) the calls in flight get up to ``grace`` seconds to
    finish. Signal handlers are installed only when called from the main thread.

    Raises:
        OSError: the address cannot be bound.
        ValueError: ``grace`` is negative, NaN or infinite, or an argument
            :class:`GrpcProxyServer` refuses; raised before anything is bound.
    """
    check_seconds(grace, name="grace", zero=True)
    server = GrpcProxyServer(storage, host=host, port=port, thread_pool=thread_pool, **options)
    server.start()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        _logger.info("signal %d received: stopping the gRPC proxy", signum)
        threading.Thread(target=server.stop, args=(grace,), daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not server.wait_for_termination(0.5):
            pass
    except KeyboardInterrupt:
        server.stop(grace)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
