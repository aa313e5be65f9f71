# mypy: ignore-errors
from trialstore.storage.grpc._pb import storage_pb2 as _storage_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerInfoReply(_message.Message):
    __slots__ = ("server_version", "instance_id", "heartbeat_enabled", "heartbeat_interval", "grace_period")
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_ENABLED_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    GRACE_PERIOD_FIELD_NUMBER: _ClassVar[int]
    server_version: str
    instance_id: str
    heartbeat_enabled: bool
    heartbeat_interval: float
    grace_period: float
    def __init__(self, server_version: _Optional[str] = ..., instance_id: _Optional[str] = ..., heartbeat_enabled: _Optional[bool] = ..., heartbeat_interval: _Optional[float] = ..., grace_period: _Optional[float] = ...) -> None: ...

class RecordHeartbeatRequest(_message.Message):
    __slots__ = ("trial_id",)
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    def __init__(self, trial_id: _Optional[int] = ...) -> None: ...

class RecordHeartbeatReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StaleTrialsRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: int
    def __init__(self, study_id: _Optional[int] = ...) -> None: ...

class StaleTrialsReply(_message.Message):
    __slots__ = ("trial_ids",)
    TRIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    trial_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, trial_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class TrialExtras(_message.Message):
    __slots__ = ("param_order", "user_attribute_order", "system_attribute_order", "datetime_start", "datetime_complete", "values_given")
    PARAM_ORDER_FIELD_NUMBER: _ClassVar[int]
    USER_ATTRIBUTE_ORDER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_ATTRIBUTE_ORDER_FIELD_NUMBER: _ClassVar[int]
    DATETIME_START_FIELD_NUMBER: _ClassVar[int]
    DATETIME_COMPLETE_FIELD_NUMBER: _ClassVar[int]
    VALUES_GIVEN_FIELD_NUMBER: _ClassVar[int]
    param_order: _containers.RepeatedScalarFieldContainer[str]
    user_attribute_order: _containers.RepeatedScalarFieldContainer[str]
    system_attribute_order: _containers.RepeatedScalarFieldContainer[str]
    datetime_start: str
    datetime_complete: str
    values_given: bool
    def __init__(self, param_order: _Optional[_Iterable[str]] = ..., user_attribute_order: _Optional[_Iterable[str]] = ..., system_attribute_order: _Optional[_Iterable[str]] = ..., datetime_start: _Optional[str] = ..., datetime_complete: _Optional[str] = ..., values_given: _Optional[bool] = ...) -> None: ...

class SetTrialStateValuesRequest(_message.Message):
    __slots__ = ("request", "values_given")
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    VALUES_GIVEN_FIELD_NUMBER: _ClassVar[int]
    request: _storage_pb2.SetTrialStateValuesRequest
    values_given: bool
    def __init__(self, request: _Optional[_Union[_storage_pb2.SetTrialStateValuesRequest, _Mapping]] = ..., values_given: _Optional[bool] = ...) -> None: ...

class ExactTrial(_message.Message):
    __slots__ = ("trial", "extras")
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    trial: _storage_pb2.Trial
    extras: TrialExtras
    def __init__(self, trial: _Optional[_Union[_storage_pb2.Trial, _Mapping]] = ..., extras: _Optional[_Union[TrialExtras, _Mapping]] = ...) -> None: ...

class CreateNewTrialRequest(_message.Message):
    __slots__ = ("study_id", "template_trial", "template_trial_is_none")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_TRIAL_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_TRIAL_IS_NONE_FIELD_NUMBER: _ClassVar[int]
    study_id: int
    template_trial: ExactTrial
    template_trial_is_none: bool
    def __init__(self, study_id: _Optional[int] = ..., template_trial: _Optional[_Union[ExactTrial, _Mapping]] = ..., template_trial_is_none: _Optional[bool] = ...) -> None: ...

class CreateNewTrialReply(_message.Message):
    __slots__ = ("trial_id", "number")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    number: int
    def __init__(self, trial_id: _Optional[int] = ..., number: _Optional[int] = ...) -> None: ...

class GetTrialReply(_message.Message):
    __slots__ = ("trial",)
    TRIAL_FIELD_NUMBER: _ClassVar[int]
    trial: ExactTrial
    def __init__(self, trial: _Optional[_Union[ExactTrial, _Mapping]] = ...) -> None: ...

class GetTrialsRequest(_message.Message):
    __slots__ = ("study_id", "included_trial_ids", "trial_id_greater_than", "known_numbers", "known_deleted")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_TRIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_GREATER_THAN_FIELD_NUMBER: _ClassVar[int]
    KNOWN_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    KNOWN_DELETED_FIELD_NUMBER: _ClassVar[int]
    study_id: int
    included_trial_ids: _containers.RepeatedScalarFieldContainer[int]
    trial_id_greater_than: int
    known_numbers: int
    known_deleted: int
    def __init__(self, study_id: _Optional[int] = ..., included_trial_ids: _Optional[_Iterable[int]] = ..., trial_id_greater_than: _Optional[int] = ..., known_numbers: _Optional[int] = ..., known_deleted: _Optional[int] = ...) -> None: ...

class GetTrialsReply(_message.Message):
    __slots__ = ("trials", "deleted_numbers_sent", "deleted_numbers")
    TRIALS_FIELD_NUMBER: _ClassVar[int]
    DELETED_NUMBERS_SENT_FIELD_NUMBER: _ClassVar[int]
    DELETED_NUMBERS_FIELD_NUMBER: _ClassVar[int]
    trials: _containers.RepeatedCompositeFieldContainer[ExactTrial]
    deleted_numbers_sent: bool
    deleted_numbers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, trials: _Optional[_Iterable[_Union[ExactTrial, _Mapping]]] = ..., deleted_numbers_sent: _Optional[bool] = ..., deleted_numbers: _Optional[_Iterable[int]] = ...) -> None: ...

class TrialParam(_message.Message):
    __slots__ = ("param_name", "param_value_internal", "distribution")
    PARAM_NAME_FIELD_NUMBER: _ClassVar[int]
    PARAM_VALUE_INTERNAL_FIELD_NUMBER: _ClassVar[int]
    DISTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    param_name: str
    param_value_internal: float
    distribution: str
    def __init__(self, param_name: _Optional[str] = ..., param_value_internal: _Optional[float] = ..., distribution: _Optional[str] = ...) -> None: ...

class SetTrialParamsRequest(_message.Message):
    __slots__ = ("trial_id", "params")
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    trial_id: int
    params: _containers.RepeatedCompositeFieldContainer[TrialParam]
    def __init__(self, trial_id: _Optional[int] = ..., params: _Optional[_Iterable[_Union[TrialParam, _Mapping]]] = ...) -> None: ...

class SetTrialParamsReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateTrialOrListWaitingRequest(_message.Message):
    __slots__ = ("study_id",)
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    study_id: int
    def __init__(self, study_id: _Optional[int] = ...) -> None: ...

class CreateTrialOrListWaitingReply(_message.Message):
    __slots__ = ("waiting_trial_ids", "trial_id", "number")
    WAITING_TRIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    TRIAL_ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    waiting_trial_ids: _containers.RepeatedScalarFieldContainer[int]
    trial_id: int
    number: int
    def __init__(self, waiting_trial_ids: _Optional[_Iterable[int]] = ..., trial_id: _Optional[int] = ..., number: _Optional[int] = ...) -> None: ...

class SetTrialParamsAndStateValuesRequest(_message.Message):
    __slots__ = ("params", "state_values")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_VALUES_FIELD_NUMBER: _ClassVar[int]
    params: SetTrialParamsRequest
    state_values: SetTrialStateValuesRequest
    def __init__(self, params: _Optional[_Union[SetTrialParamsRequest, _Mapping]] = ..., state_values: _Optional[_Union[SetTrialStateValuesRequest, _Mapping]] = ...) -> None: ...

class DeleteTrialsRequest(_message.Message):
    __slots__ = ("study_id", "trial_ids")
    STUDY_ID_FIELD_NUMBER: _ClassVar[int]
    TRIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    study_id: int
    trial_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, study_id: _Optional[int] = ..., trial_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DeleteTrialsReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
