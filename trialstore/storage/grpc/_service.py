"""The handlers of both services over one storage (private; served by ``_server``).

:meth:`Service.handlers` is the table: one :class:`_Handler` per :class:`~._wire.Method`,
each answering a request with its reply message. :meth:`Service.method_handlers` wraps them
for gRPC: a write runs once per request id (``_idempotency``), an exception becomes its
status code and type (``_errors``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import grpc
from google.protobuf.message import Message

from trialstore._core import FrozenTrial, new_running_trial
from trialstore.exceptions import TrialDeletedError
from trialstore.storage.base import BaseStorage
from trialstore.storage.grpc import _convert as conv
from trialstore.storage.grpc import _wire as wire
from trialstore.storage.grpc._errors import status_for
from trialstore.storage.grpc._idempotency import CREATE_REQUEST_ATTR, IdempotencyTable
from trialstore.storage.grpc._pb import extensions_pb2 as ext
from trialstore.storage.grpc._pb import storage_pb2 as pb

__all__ = ["Service"]

_logger = logging.getLogger("trialstore.storage.grpc")

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


class Service:
    """The handlers of both services over one storage. The server calls them from many
    threads at once; they keep no state besides the storage (thread-safe by contract) and
    the idempotency table (thread-safe)."""

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
            _handler(wire.EXT_DELETE_TRIALS, self._delete_trials),
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
        """The trials the request asks for (Optuna's clients: deleted trials are left out,
        but one such client keeps the finished trials it read before their deletion)."""
        trials = self._storage.get_all_trials(request.study_id, deepcopy=False)
        return pb.GetTrialsReply(trials=[conv.trial_to_proto(t) for t in _since(trials, request)])

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

    def _get_exact_trials(self, request: ext.GetTrialsRequest, _call: _Call) -> ext.GetTrialsReply:
        """The trials the request asks for, and the study's deleted numbers when the client
        does not know them all. Numbers are never reused, and every number below the highest
        one that names no live trial is a deleted trial's (trials become visible in number
        order); so, up to the highest number the client or the server knows, the deleted
        numbers are those of no live trial, and their count costs nothing to compare."""
        trials = self._storage.get_all_trials(request.study_id, deepcopy=False)
        reply = ext.GetTrialsReply(trials=[conv.exact_trial(t) for t in _since(trials, request)])
        top = trials[-1].number if trials else -1
        known = request.known_numbers - 1
        if known > top and (
            known + 1 - len(trials) == request.known_deleted
            or self._deleted_number(request.study_id, known)
        ):
            top = known  # the client's highest numbers were deleted
        if top + 1 - len(trials) != request.known_deleted:
            live = {t.number for t in trials}
            reply.deleted_numbers_sent = True
            reply.deleted_numbers.extend(n for n in range(top + 1) if n not in live)
        return reply

    def _deleted_number(self, study_id: int, number: int) -> bool:
        """Whether the study's trial ``number`` was deleted. A number a client says it knows
        above the live ones is taken only then: it bounds the list of deleted numbers."""
        try:
            self._storage.get_trial_id_from_study_id_trial_number(study_id, number)
        except TrialDeletedError:
            return True
        except KeyError:
            return False
        return False  # created since the listing: not deleted

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

    def _delete_trials(
        self, request: ext.DeleteTrialsRequest, _call: _Call
    ) -> ext.DeleteTrialsReply:
        self._storage.delete_trials(request.study_id, list(request.trial_ids))
        return ext.DeleteTrialsReply()

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


def _since(
    trials: list[FrozenTrial], request: pb.GetTrialsRequest | ext.GetTrialsRequest
) -> list[FrozenTrial]:
    """The trials a GetTrials request asks for: ids above its cursor, and the listed ones."""
    included = set(request.included_trial_ids)
    after = request.trial_id_greater_than
    return [t for t in trials if t._trial_id > after or t._trial_id in included]


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
        return new_running_trial(system_attrs={CREATE_REQUEST_ATTR: request_id})
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
