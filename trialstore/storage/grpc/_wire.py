"""The proxy's names on the wire, shared by the client and the server (private).

Services, metadata keys and (see :class:`Method`) the methods with their message types. Both
sides import this module, so that the client needs neither the server module nor
``grpc_health``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from trialstore.storage.grpc._pb import extensions_pb2 as ext
from trialstore.storage.grpc._pb import storage_pb2 as pb

__all__ = [
    "AUTH_KEY",
    "ERROR_TYPE_KEY",
    "EXTENSION_METHODS",
    "EXTENSION_SERVICE",
    "REQUEST_ID_KEY",
    "RESENT_KEY",
    "STORAGE_METHODS",
    "STORAGE_SERVICE",
    "Method",
]

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)

#: Optuna's service, message for message (an Optuna peer uses only this one).
STORAGE_SERVICE = "optuna.StorageService"
#: trialstore's additions; an Optuna server answers its methods with UNIMPLEMENTED.
EXTENSION_SERVICE = "trialstore.StorageExtensions"

#: Request metadata key of a write's idempotency key (see ``_idempotency``).
REQUEST_ID_KEY = "trialstore-request-id"
#: Request metadata key present (value "1") when a write is sent again after a transport
#: failure: its first attempt may have run in a server that has since died.
RESENT_KEY = "trialstore-resent"
#: Trailing metadata key naming the exception type of a failed call (trialstore servers only).
ERROR_TYPE_KEY = "trialstore-error-type"
#: Request metadata key of the shared token (value ``Bearer <token>``).
AUTH_KEY = "authorization"


@dataclass(frozen=True)
class Method(Generic[Req, Rep]):
    """One RPC: where it is served, its request and reply messages, and whether it writes.

    A write carries a request id (metadata :data:`REQUEST_ID_KEY`) that stays the same across
    the client's retries, and the server runs it once per id (see ``_idempotency``); a read
    carries none.
    """

    service: str
    name: str
    request: type[Req]
    reply: type[Rep]
    write: bool

    @property
    def path(self) -> str:
        """The method's gRPC path, ``/service/name``."""
        return f"/{self.service}/{self.name}"


def _storage(name: str, request: type[Req], reply: type[Rep], write: bool) -> Method[Req, Rep]:
    return Method(STORAGE_SERVICE, name, request, reply, write)


def _extension(name: str, request: type[Req], reply: type[Rep], write: bool) -> Method[Req, Rep]:
    return Method(EXTENSION_SERVICE, name, request, reply, write)


# -- optuna.StorageService (in the order of storage.proto) ------------------------------------

CREATE_NEW_STUDY = _storage(
    "CreateNewStudy", pb.CreateNewStudyRequest, pb.CreateNewStudyReply, write=True
)
DELETE_STUDY = _storage("DeleteStudy", pb.DeleteStudyRequest, pb.DeleteStudyReply, write=True)
SET_STUDY_USER_ATTRIBUTE = _storage(
    "SetStudyUserAttribute",
    pb.SetStudyUserAttributeRequest,
    pb.SetStudyUserAttributeReply,
    write=True,
)
SET_STUDY_SYSTEM_ATTRIBUTE = _storage(
    "SetStudySystemAttribute",
    pb.SetStudySystemAttributeRequest,
    pb.SetStudySystemAttributeReply,
    write=True,
)
GET_STUDY_ID_FROM_NAME = _storage(
    "GetStudyIdFromName", pb.GetStudyIdFromNameRequest, pb.GetStudyIdFromNameReply, write=False
)
GET_STUDY_NAME_FROM_ID = _storage(
    "GetStudyNameFromId", pb.GetStudyNameFromIdRequest, pb.GetStudyNameFromIdReply, write=False
)
GET_STUDY_DIRECTIONS = _storage(
    "GetStudyDirections", pb.GetStudyDirectionsRequest, pb.GetStudyDirectionsReply, write=False
)
GET_STUDY_USER_ATTRIBUTES = _storage(
    "GetStudyUserAttributes",
    pb.GetStudyUserAttributesRequest,
    pb.GetStudyUserAttributesReply,
    write=False,
)
GET_STUDY_SYSTEM_ATTRIBUTES = _storage(
    "GetStudySystemAttributes",
    pb.GetStudySystemAttributesRequest,
    pb.GetStudySystemAttributesReply,
    write=False,
)
GET_ALL_STUDIES = _storage(
    "GetAllStudies", pb.GetAllStudiesRequest, pb.GetAllStudiesReply, write=False
)
CREATE_NEW_TRIAL = _storage(
    "CreateNewTrial", pb.CreateNewTrialRequest, pb.CreateNewTrialReply, write=True
)
SET_TRIAL_PARAMETER = _storage(
    "SetTrialParameter", pb.SetTrialParameterRequest, pb.SetTrialParameterReply, write=True
)
GET_TRIAL_ID_FROM_STUDY_ID_TRIAL_NUMBER = _storage(
    "GetTrialIdFromStudyIdTrialNumber",
    pb.GetTrialIdFromStudyIdTrialNumberRequest,
    pb.GetTrialIdFromStudyIdTrialNumberReply,
    write=False,
)
SET_TRIAL_STATE_VALUES = _storage(
    "SetTrialStateValues", pb.SetTrialStateValuesRequest, pb.SetTrialStateValuesReply, write=True
)
SET_TRIAL_INTERMEDIATE_VALUE = _storage(
    "SetTrialIntermediateValue",
    pb.SetTrialIntermediateValueRequest,
    pb.SetTrialIntermediateValueReply,
    write=True,
)
SET_TRIAL_USER_ATTRIBUTE = _storage(
    "SetTrialUserAttribute",
    pb.SetTrialUserAttributeRequest,
    pb.SetTrialUserAttributeReply,
    write=True,
)
SET_TRIAL_SYSTEM_ATTRIBUTE = _storage(
    "SetTrialSystemAttribute",
    pb.SetTrialSystemAttributeRequest,
    pb.SetTrialSystemAttributeReply,
    write=True,
)
GET_TRIAL = _storage("GetTrial", pb.GetTrialRequest, pb.GetTrialReply, write=False)
GET_TRIALS = _storage("GetTrials", pb.GetTrialsRequest, pb.GetTrialsReply, write=False)

#: Optuna's service, in the order of storage.proto.
STORAGE_METHODS: tuple[Method[Any, Any], ...] = (
    CREATE_NEW_STUDY,
    DELETE_STUDY,
    SET_STUDY_USER_ATTRIBUTE,
    SET_STUDY_SYSTEM_ATTRIBUTE,
    GET_STUDY_ID_FROM_NAME,
    GET_STUDY_NAME_FROM_ID,
    GET_STUDY_DIRECTIONS,
    GET_STUDY_USER_ATTRIBUTES,
    GET_STUDY_SYSTEM_ATTRIBUTES,
    GET_ALL_STUDIES,
    CREATE_NEW_TRIAL,
    SET_TRIAL_PARAMETER,
    GET_TRIAL_ID_FROM_STUDY_ID_TRIAL_NUMBER,
    SET_TRIAL_STATE_VALUES,
    SET_TRIAL_INTERMEDIATE_VALUE,
    SET_TRIAL_USER_ATTRIBUTE,
    SET_TRIAL_SYSTEM_ATTRIBUTE,
    GET_TRIAL,
    GET_TRIALS,
)

# -- trialstore.StorageExtensions (in the order of extensions.proto) -------------------------

EXT_GET_SERVER_INFO = _extension(
    "GetServerInfo", ext.GetServerInfoRequest, ext.GetServerInfoReply, write=False
)
EXT_RECORD_HEARTBEAT = _extension(
    "RecordHeartbeat", ext.RecordHeartbeatRequest, ext.RecordHeartbeatReply, write=False
)
EXT_GET_STALE_TRIAL_IDS = _extension(
    "GetStaleTrialIds", ext.StaleTrialsRequest, ext.StaleTrialsReply, write=False
)
EXT_FAIL_STALE_TRIALS = _extension(
    "FailStaleTrials", ext.StaleTrialsRequest, ext.StaleTrialsReply, write=True
)
#: Creates the trial with its request id (see ``_idempotency``); the reply adds its number.
EXT_CREATE_NEW_TRIAL = _extension(
    "CreateNewTrial", ext.CreateNewTrialRequest, ext.CreateNewTrialReply, write=True
)
EXT_GET_TRIAL = _extension("GetTrial", pb.GetTrialRequest, ext.GetTrialReply, write=False)
#: Its request reads as optuna's GetTrialsRequest and the other way round (see the proto).
EXT_GET_TRIALS = _extension("GetTrials", ext.GetTrialsRequest, ext.GetTrialsReply, write=False)
EXT_SET_TRIAL_STATE_VALUES = _extension(
    "SetTrialStateValues",
    ext.SetTrialStateValuesRequest,
    pb.SetTrialStateValuesReply,
    write=True,
)
EXT_SET_TRIAL_PARAMS = _extension(
    "SetTrialParams", ext.SetTrialParamsRequest, ext.SetTrialParamsReply, write=True
)
EXT_CREATE_TRIAL_OR_LIST_WAITING = _extension(
    "CreateTrialOrListWaiting",
    ext.CreateTrialOrListWaitingRequest,
    ext.CreateTrialOrListWaitingReply,
    write=True,
)
EXT_SET_TRIAL_PARAMS_AND_STATE_VALUES = _extension(
    "SetTrialParamsAndStateValues",
    ext.SetTrialParamsAndStateValuesRequest,
    pb.SetTrialStateValuesReply,
    write=True,
)

EXT_DELETE_TRIALS = _extension(
    "DeleteTrials", ext.DeleteTrialsRequest, ext.DeleteTrialsReply, write=True
)

#: trialstore's service, in the order of extensions.proto.
EXTENSION_METHODS: tuple[Method[Any, Any], ...] = (
    EXT_GET_SERVER_INFO,
    EXT_RECORD_HEARTBEAT,
    EXT_GET_STALE_TRIAL_IDS,
    EXT_FAIL_STALE_TRIALS,
    EXT_CREATE_NEW_TRIAL,
    EXT_GET_TRIAL,
    EXT_GET_TRIALS,
    EXT_SET_TRIAL_STATE_VALUES,
    EXT_SET_TRIAL_PARAMS,
    EXT_CREATE_TRIAL_OR_LIST_WAITING,
    EXT_SET_TRIAL_PARAMS_AND_STATE_VALUES,
    EXT_DELETE_TRIALS,
)
