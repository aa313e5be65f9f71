"""The proxy client: :class:`GrpcStorageProxy`, a complete BaseStorage over gRPC."""

from __future__ import annotations

import functools
import os
import threading
import uuid
from collections.abc import Callable, Container, Mapping, Sequence
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.protobuf.message import Message

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState, copy_trial
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import (
    DuplicatedStudyError,
    StorageInternalError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage import validation as check
from trialstore.storage._backoff import Backoff
from trialstore.storage._trial_cache import Fetched, StudyTrials, TrialCache
from trialstore.storage.base import BaseStorage
from trialstore.storage.grpc import _convert as conv
from trialstore.storage.grpc import _wire as wire
from trialstore.storage.grpc._args import check_host, check_port, check_seconds, target
from trialstore.storage.grpc._errors import ProxyConnectionError, raise_rpc_error
from trialstore.storage.grpc._pb import extensions_pb2 as ext
from trialstore.storage.grpc._pb import storage_pb2 as pb
from trialstore.storage.grpc._security import read_bytes
from trialstore.storage.grpc._transport import ChannelTransport, Metadata, Transport

__all__ = ["GrpcStorageProxy"]

#: Status codes after which a call is retried (same request id): the server was not reached,
#: went away (a stopping server cancels the calls it has not started), or did not answer in
#: time. This client never cancels its own calls, so CANCELLED always comes from the far side.
_RETRY_CODES = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
)


def _pem(value: bytes | str | os.PathLike[str] | None) -> bytes | None:
    """PEM bytes given directly, or read from a path."""
    if value is None or isinstance(value, bytes):
        return value
    return read_bytes(value)


def _never_sent(error: grpc.RpcError) -> bool:
    """Whether a transport failure happened before the request could reach a server (no
    connection could be made), so that sending it again cannot repeat it."""
    details = (error.details() or "").lower()
    return error.code() == grpc.StatusCode.UNAVAILABLE and (
        "failed to connect" in details or "connection refused" in details
    )


class _ResentWriteError(StorageInternalError):
    """A write sent again after the connection to the proxy was lost failed with a storage
    error (the cause): its first attempt may have taken effect in a proxy that died before
    replying, so the outcome is unknown."""


def _raise_resent_write_error(error: grpc.RpcError, method: str) -> NoReturn:
    try:
        raise_rpc_error(error, method)
    except (UpdateFinishedTrialError, DuplicatedStudyError, KeyError) as e:
        raise _ResentWriteError(
            f"{method} was sent again after the connection to the gRPC proxy was lost; the "
            f"first attempt may have taken effect, the repeated one failed: {e}"
        ) from e


class _Unimplemented(Exception):
    """The server answered UNIMPLEMENTED to a method it may lack (see ``optional`` of
    :meth:`GrpcStorageProxy._send`). The call did nothing."""


class _NoExtensions(Exception):
    """An extension call was answered UNIMPLEMENTED before this client knew which server it
    talks to: the server is Optuna's. The call did nothing; see :func:`_optuna_fallback`."""


_Method = TypeVar("_Method", bound=Callable[..., Any])
_Reply = TypeVar("_Reply", bound=Message)


def _optuna_fallback(method: _Method) -> _Method:
    """Run ``method`` once more if it found that the server is Optuna's: the client then
    knows, and the method takes its path on Optuna's wire.

    A client does not ask which server it talks to before its first call (one round trip
    saved per client, which counts with thousands of short-lived clients): it assumes a
    trialstore server until an extension call says otherwise."""

    @functools.wraps(method)
    def run(self: GrpcStorageProxy, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except _NoExtensions:
            return method(self, *args, **kwargs)

    return cast(_Method, run)


class GrpcStorageProxy(BaseStorage):
    """A storage served by a gRPC proxy (trialstore's or Optuna's ``run_grpc_proxy_server``).

    Args:
        host, port: the server's address: a host name or an IP address (IPv6 with or without
            brackets) and a port from 1 to 65535.
        tls: use TLS. Implied by any of the ``tls_*`` arguments. The server's certificate is
            checked against ``tls_ca_cert`` (PEM bytes or a path) or the system's CAs.
        tls_client_cert, tls_client_key: the client's certificate and key for servers that
            require client certificates (PEM bytes or paths).
        tls_server_name: the name expected in the server's certificate, when not ``host``.
        token: the server's shared token (sent as ``authorization`` metadata; never logged).
        timeout: seconds one call may take before it counts as failed (and is retried).
        retry_timeout: seconds during which a call that cannot reach the server is retried
            (backing off from 50 ms to 1 s); after that it raises
            :class:`~trialstore.storage.grpc.ProxyConnectionError`.

    Errors arrive as the server's storage raised them (same type, same message); see
    ``trialstore.storage.grpc._errors`` for the table. A write retried after a connection
    failure carries its first attempt's request id, so the server runs it at most once (see
    the package docstring for the one case a server crash leaves open).

    Cache: :meth:`get_all_trials` syncs incrementally: only new and unfinished trials cross
    the wire, finished ones are served from memory (they never change) until they are
    deleted: each sync of a trialstore server's study also brings the deleted trial numbers
    this client lacks, wherever the deletion was made. Study names and directions (fixed for
    a study id) are served from memory after the first read, and so are the numbers of the
    trials this client created (a trialstore server sends them with the create); the one lag
    this allows: after another client deletes the study or the trial, they are still served
    until this client's next call that reads the study's trials or attributes (or, for a
    trial, the trial). Every other read asks the server, so writes and deletes by other
    clients are seen on the next read.

    Thread-safe; picklable (the child process opens its own channel, cache empty).

    Raises:
        ValueError: an empty host, a port outside 1-65535, ``timeout`` not > 0,
            ``retry_timeout`` not >= 0 (both finite), or only one of ``tls_client_cert`` and
            ``tls_client_key``; raised before any channel is opened.
        OSError: a PEM file cannot be read.
    """

    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 13000,
        tls: bool = False,
        tls_ca_cert: bytes | str | os.PathLike[str] | None = None,
        tls_client_cert: bytes | str | os.PathLike[str] | None = None,
        tls_client_key: bytes | str | os.PathLike[str] | None = None,
        tls_server_name: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        retry_timeout: float = 20.0,
    ) -> None:
        check_host(host)
        check_port(port)
        timeout = check_seconds(timeout, name="timeout", zero=False)
        retry_timeout = check_seconds(retry_timeout, name="retry_timeout", zero=True)
        if (tls_client_cert is None) != (tls_client_key is None):
            raise ValueError("tls_client_cert and tls_client_key must be given together.")
        self._host = host
        self._port = port
        self._tls_files = (_pem(tls_ca_cert), _pem(tls_client_cert), _pem(tls_client_key))
        self._tls = tls or any(x is not None for x in self._tls_files) or bool(tls_server_name)
        self._tls_server_name = tls_server_name
        self._token = token
        self._timeout = timeout
        self._retry_timeout = retry_timeout
        self._setup()

    def _setup(self) -> None:
        #: ``host:port`` as gRPC takes it (an IPv6 address in brackets).
        self._address = target(self._host, self._port)
        ca, cert, key = self._tls_files
        self._transport: Transport = ChannelTransport(
            self._address,
            tls=self._tls,
            ca_cert=ca,
            client_cert=cert,
            client_key=key,
            server_name=self._tls_server_name,
        )
        self._metadata: Metadata = (
            ((wire.AUTH_KEY, f"Bearer {self._token}"),) if self._token else ()
        )
        self._lock = threading.Lock()
        #: The trials read (finished ones are kept) and the numbers of trials created lately.
        self._trials = TrialCache(self._fetch_trials)
        self._names: dict[int, str] = {}
        self._directions: dict[int, list[StudyDirection]] = {}
        self._info: ext.GetServerInfoReply | None = None
        self._extensions: bool | None = None
        #: Extension methods the server answered with UNIMPLEMENTED (a trialstore server from
        #: before they existed): their BaseStorage defaults are used instead.
        self._unimplemented: set[str] = set()

    @classmethod
    def _over(cls, transport: Transport, **options: Any) -> GrpcStorageProxy:
        """A client whose calls go through ``transport`` instead of a channel (tests: a
        :class:`~trialstore.storage.grpc._transport.MockTransport`); ``options`` as for the
        constructor. A copy made by pickling gets a channel."""
        client = cls(**options)
        client._transport.close()
        client._transport = transport
        return client

    def __repr__(self) -> str:
        return (
            f"GrpcStorageProxy(host={self._host!r}, port={self._port}, tls={self._tls}, "
            f"token={'***' if self._token else None})"
        )

    def __getstate__(self) -> dict[str, Any]:
        keep = (
            "_host",
            "_port",
            "_tls_files",
            "_tls",
            "_tls_server_name",
            "_token",
            "_timeout",
            "_retry_timeout",
        )
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def close(self) -> None:
        """Close the channel. Later calls are undefined."""
        self._transport.close()

    def wait_server_ready(self, timeout: float | None = None) -> None:
        """Wait until the server accepts connections.

        Raises:
            ProxyConnectionError: not ready within ``timeout`` seconds.
        """
        if not self._transport.wait_ready(timeout):
            raise ProxyConnectionError(
                f"gRPC proxy at {self._address} not ready after {timeout} s."
            )

    # -- calls ------------------------------------------------------------------------------

    def _send(
        self, method: wire.Method[Any, _Reply], request: Message, *, optional: bool = False
    ) -> tuple[_Reply, bool]:
        """Run one call, retrying transport failures. Return the reply and whether the call
        is a write that was sent again after a transport failure: its first attempt may have
        taken effect in a server that died before replying (a restarted server no longer
        knows the request id, so it runs the write again).

        Raises:
            _Unimplemented: ``optional`` and the server does not know the method.
        """
        metadata = self._metadata
        if method.write:
            metadata += ((wire.REQUEST_ID_KEY, uuid.uuid4().hex),)
        backoff = Backoff(self._retry_timeout, first=0.05)
        resent = False
        while True:
            try:
                reply = self._transport.call(
                    method, request, timeout=self._timeout, metadata=metadata
                )
            except grpc.RpcError as e:
                self._raise_if_unimplemented(e, method, optional=optional)
                self._raise_unless_transient(e, method, resent=resent)
                self._pause_before_retry(e, method, backoff)
                if method.write and not resent:  # mark it: its first attempt may have run
                    metadata += ((wire.RESENT_KEY, "1"),)
                    resent = True
                continue
            if method.service == wire.EXTENSION_SERVICE:
                self._extensions = True
            return reply, resent

    def _raise_if_unimplemented(
        self, error: grpc.RpcError, method: wire.Method[Any, Any], *, optional: bool
    ) -> None:
        """For an UNIMPLEMENTED answer: raise _Unimplemented when the method is ``optional``,
        or _NoExtensions (and remember that the server is Optuna's) when it is the first
        extension call this client made. Otherwise return (the error is then raised as any
        other failure)."""
        if error.code() != grpc.StatusCode.UNIMPLEMENTED:
            return
        if optional:
            raise _Unimplemented(method.name) from None
        if method.service == wire.EXTENSION_SERVICE and self._extensions is None:
            self._extensions = False
            raise _NoExtensions(method.name) from None

    def _raise_unless_transient(
        self, error: grpc.RpcError, method: wire.Method[Any, Any], *, resent: bool
    ) -> None:
        """Raise what a failed call means, unless it is a transport failure that sending the
        call again cures (see ``_RETRY_CODES``): then return.

        Raises:
            _ResentWriteError: a storage error answering a write sent again.
            StorageInternalError: the connection was lost while creating a trial on Optuna's
                wire, which would make a second trial if the first attempt was stored.
            Exception: the storage's error, as :func:`raise_rpc_error` maps it.
        """
        if error.code() not in _RETRY_CODES:
            if resent:
                _raise_resent_write_error(error, method.name)
            raise_rpc_error(error, method.name)
        if method is wire.CREATE_NEW_TRIAL and not _never_sent(error):
            # Optuna's server: a repeated create would make a second trial if the first one
            # was stored by a proxy that then died. (A trialstore server finds the first
            # attempt's trial by its request id.)
            raise StorageInternalError(
                f"the connection to the gRPC proxy at {self._address} was lost while creating "
                f"a trial ({error.code().name}: {error.details()}); the trial may or may not "
                "have been created."
            ) from None

    def _pause_before_retry(
        self, error: grpc.RpcError, method: wire.Method[Any, Any], backoff: Backoff
    ) -> None:
        """Wait before the next attempt.

        Raises:
            ProxyConnectionError: ``retry_timeout`` is spent.
        """
        if not backoff.pause():
            raise ProxyConnectionError(
                f"gRPC proxy at {self._address} unreachable for {self._retry_timeout} s "
                f"({method.name}): {error.code().name}: {error.details()}"
            ) from None

    def _call(self, method: wire.Method[Any, _Reply], request: Message) -> _Reply:
        """:meth:`_send` for the reply alone."""
        return self._send(method, request)[0]

    def _has_extensions(self) -> bool:
        """Whether the server is (or, until a call says otherwise, is assumed to be) a
        trialstore server; see :func:`_optuna_fallback`."""
        return self._extensions is not False

    def _has(self, method: wire.Method[Any, Any]) -> bool:
        """Whether the server has this extension method (as far as this client knows)."""
        return self._has_extensions() and method.name not in self._unimplemented

    def _send_ext(
        self, method: wire.Method[Any, _Reply], request: Message
    ) -> tuple[_Reply | None, bool]:
        """A call of an extension method that older trialstore servers lack: as
        :meth:`_send`, but an UNIMPLEMENTED answer returns ``(None, False)`` and is
        remembered (see :meth:`_has`)."""
        try:
            return self._send(method, request, optional=True)
        except _Unimplemented:
            self._unimplemented.add(method.name)
            return None, False

    def _remember_number(self, trial_id: int, study_id: int, number: int) -> None:
        self._trials.note_created(study_id, trial_id, number)

    # -- studies ----------------------------------------------------------------------------

    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        checked = check.check_directions(directions)
        name = check.check_study_name(study_name)
        if name is None:
            name = f"no-name-{uuid.uuid4()}"
        request = pb.CreateNewStudyRequest(
            directions=conv.directions_to_wire(checked),
            study_name=name,
        )
        return self._call(wire.CREATE_NEW_STUDY, request).study_id

    def delete_study(self, study_id: int) -> None:
        request = pb.DeleteStudyRequest(study_id=check.check_id(study_id, "study"))
        try:
            self._call(wire.DELETE_STUDY, request)
        finally:
            self._forget_study(study_id)

    def _forget_study(self, study_id: int) -> None:
        with self._lock:
            self._names.pop(study_id, None)
            self._directions.pop(study_id, None)
        self._trials.forget(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        request = pb.SetStudyUserAttributeRequest(
            study_id=check.check_id(study_id, "study"),
            key=key,
            value=conv.attr_value_to_wire(stored),
        )
        self._call(wire.SET_STUDY_USER_ATTRIBUTE, request)

    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        request = pb.SetStudySystemAttributeRequest(
            study_id=check.check_id(study_id, "study"),
            key=key,
            value=conv.attr_value_to_wire(stored),
        )
        self._call(wire.SET_STUDY_SYSTEM_ATTRIBUTE, request)

    def get_study_id_from_name(self, study_name: str) -> int:
        if not isinstance(study_name, str):
            raise KeyError(f"No such study {study_name!r}.")
        request = pb.GetStudyIdFromNameRequest(study_name=study_name)
        return self._call(wire.GET_STUDY_ID_FROM_NAME, request).study_id

    def get_study_name_from_id(self, study_id: int) -> str:
        study_id = check.check_id(study_id, "study")  # before the cache: 0.0 and True are not ids
        name = self._names.get(study_id)
        if name is None:
            request = pb.GetStudyNameFromIdRequest(study_id=study_id)
            name = self._call(wire.GET_STUDY_NAME_FROM_ID, request).study_name
            self._names[study_id] = name
        return name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        study_id = check.check_id(study_id, "study")  # before the cache: 0.0 and True are not ids
        directions = self._directions.get(study_id)
        if directions is None:
            request = pb.GetStudyDirectionsRequest(study_id=study_id)
            reply = self._call(wire.GET_STUDY_DIRECTIONS, request)
            directions = self._directions[study_id] = conv.directions_from_wire(reply.directions)
        return list(directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        request = pb.GetStudyUserAttributesRequest(study_id=check.check_id(study_id, "study"))
        reply = self._of_study(study_id, wire.GET_STUDY_USER_ATTRIBUTES, request)
        return conv.attrs_from_wire(reply.user_attributes)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        request = pb.GetStudySystemAttributesRequest(study_id=check.check_id(study_id, "study"))
        reply = self._of_study(study_id, wire.GET_STUDY_SYSTEM_ATTRIBUTES, request)
        return conv.attrs_from_wire(reply.system_attributes)

    def _of_study(
        self, study_id: int, method: wire.Method[Any, _Reply], request: Message
    ) -> _Reply:
        """A read of one study; KeyError (the study is gone) also drops what is cached of it."""
        try:
            return self._call(method, request)
        except KeyError:
            self._forget_study(study_id)
            raise

    def get_all_studies(self) -> list[FrozenStudy]:
        reply = self._call(wire.GET_ALL_STUDIES, pb.GetAllStudiesRequest())
        return sorted(conv.study_from_proto(s) for s in reply.studies)

    # -- trials -----------------------------------------------------------------------------

    @_optuna_fallback
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        template = None if template_trial is None else check.check_template(template_trial)
        study_id = check.check_id(study_id, "study")
        if self._has_extensions():
            request = ext.CreateNewTrialRequest(
                study_id=study_id,
                template_trial=None if template is None else conv.exact_trial(template),
                template_trial_is_none=template is None,
            )
            created = self._call(wire.EXT_CREATE_NEW_TRIAL, request)
            self._remember_number(created.trial_id, study_id, created.number)
            return created.trial_id
        if template is not None and template.values == []:
            raise ValueError("values must hold one number per direction, got 0.")
        plain = pb.CreateNewTrialRequest(
            study_id=study_id,
            template_trial=None if template is None else conv.trial_to_proto(template),
            template_trial_is_none=template is None,
        )
        return self._call(wire.CREATE_NEW_TRIAL, plain).trial_id

    def create_trial_or_list_waiting(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int | list[int]:
        """One call to a trialstore server (which makes the trial as :meth:`create_new_trial`
        does, so that the call, sent again after the server died, finds its trial instead of
        making a second one). With a template, or against an Optuna server: the default (a
        listing, then a create)."""
        if template_trial is not None:
            return super().create_trial_or_list_waiting(study_id, template_trial)
        study_id = check.check_id(study_id, "study")
        if self._has(wire.EXT_CREATE_TRIAL_OR_LIST_WAITING):
            request = ext.CreateTrialOrListWaitingRequest(study_id=study_id)
            reply, _ = self._send_ext(wire.EXT_CREATE_TRIAL_OR_LIST_WAITING, request)
            if reply is not None:
                if reply.waiting_trial_ids:
                    return list(reply.waiting_trial_ids)
                self._remember_number(reply.trial_id, study_id, reply.number)
                return reply.trial_id
        return super().create_trial_or_list_waiting(study_id)

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        """One call to a trialstore server, where the backend's ``delete_trials`` runs (all
        or nothing); this client's cache drops the trials at once, and other clients learn of
        the deletion with their next read of the study.

        Raises:
            NotImplementedError: the server cannot delete trials (an Optuna server, a
                trialstore server older than deletions, or a backend that cannot).
            StorageInternalError: the call was sent again after the connection to the
                proxy was lost, and the repeated call found a trial deleted: the first
                attempt may have deleted them.
        """
        checked = check.check_trial_ids(trial_ids)
        study_id = check.check_id(study_id, "study")
        ids = [check.check_id(trial_id, "trial") for trial_id in checked]
        if self._has(wire.EXT_DELETE_TRIALS):
            request = ext.DeleteTrialsRequest(study_id=study_id, trial_ids=ids)
            if self._send_ext(wire.EXT_DELETE_TRIALS, request)[0] is not None:
                self._trials.discard(ids)
                return
        raise NotImplementedError(
            f"the gRPC proxy at {self._address} cannot delete trials (an Optuna server, or a "
            "trialstore server older than delete_trials)."
        )

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        name, internal = check.check_param(param_name, param_value_internal, distribution)
        request = pb.SetTrialParameterRequest(
            trial_id=check.check_id(trial_id, "trial"),
            param_name=name,
            param_value_internal=internal,
            distribution=conv.distribution_to_wire(distribution),
        )
        self._call(wire.SET_TRIAL_PARAMETER, request)

    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, BaseDistribution]]
    ) -> None:
        """Set several parameters at once: one call to a trialstore server, where the
        backend's ``set_trial_params`` runs (all or nothing). Against an Optuna server, which
        has no such call, one SetTrialParameter call per parameter: then **not** atomic (a
        rejected entry or a concurrent finish leaves the entries before it stored). A call sent
        again after a lost connection sets the same values again, which is harmless."""
        checked = check.check_params(params)
        trial_id = check.check_id(trial_id, "trial")
        if self._has(wire.EXT_SET_TRIAL_PARAMS):
            request = conv.params_to_wire(trial_id, checked)
            if self._send_ext(wire.EXT_SET_TRIAL_PARAMS, request)[0] is not None:
                return
        if not checked:
            self.check_trial_is_updatable(trial_id, self.get_trial(trial_id).state)
        for name, internal, distribution in checked:
            self.set_trial_param(trial_id, name, internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        study_id = check.check_id(study_id, "study")
        try:
            number = check.check_trial_number(trial_number, study_id)
        except KeyError:
            self.get_study_name_from_id(study_id)  # a missing study's KeyError comes first
            raise
        request = pb.GetTrialIdFromStudyIdTrialNumberRequest(
            study_id=study_id, trial_number=number
        )
        return self._call(wire.GET_TRIAL_ID_FROM_STUDY_ID_TRIAL_NUMBER, request).trial_id

    @_optuna_fallback
    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        checked_state, checked_values = check.check_state_values(state, values)
        trial_id = check.check_id(trial_id, "trial")
        exact = conv.state_values_to_wire(trial_id, checked_state, checked_values)
        try:
            if self._has_extensions():
                reply, resent = self._send(wire.EXT_SET_TRIAL_STATE_VALUES, exact)
            else:
                if checked_values == []:  # Optuna's wire cannot say "empty list"; none allowed
                    raise ValueError("values must hold one number per direction, got 0.")
                reply, resent = self._send(wire.SET_TRIAL_STATE_VALUES, exact.request)
        except _ResentWriteError as e:
            if not isinstance(e.__cause__, UpdateFinishedTrialError):
                raise
            return self._resent_finish(trial_id, checked_state, checked_values)
        return self._state_written(trial_id, reply, resent)

    def set_trial_params_and_state_values(
        self,
        trial_id: int,
        params: Mapping[str, tuple[float, BaseDistribution]],
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> bool:
        """One call to a trialstore server, where the backend's
        ``set_trial_params_and_state_values`` runs. Sent again after a lost connection: the
        batch meets the trial finished by the first attempt, which is then told apart as
        for :meth:`set_trial_state_values`. Against an Optuna server: the two calls, the
        batch as :meth:`set_trial_params` sends it there."""
        checked = check.check_params(params)
        checked_state, checked_values = check.check_state_values(state, values)
        trial_id = check.check_id(trial_id, "trial")
        if not self._has(wire.EXT_SET_TRIAL_PARAMS_AND_STATE_VALUES):
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        request = ext.SetTrialParamsAndStateValuesRequest(
            params=conv.params_to_wire(trial_id, checked),
            state_values=conv.state_values_to_wire(trial_id, checked_state, checked_values),
        )
        try:
            reply, resent = self._send_ext(wire.EXT_SET_TRIAL_PARAMS_AND_STATE_VALUES, request)
        except _ResentWriteError as e:
            if not isinstance(e.__cause__, UpdateFinishedTrialError):
                raise
            return self._resent_finish(trial_id, checked_state, checked_values)
        if reply is None:
            return super().set_trial_params_and_state_values(trial_id, params, state, values)
        return self._state_written(trial_id, reply, resent)

    def _state_written(
        self, trial_id: int, reply: pb.SetTrialStateValuesReply, resent: bool
    ) -> bool:
        """What a state write's reply says, unless it was a claim sent again that found the
        trial taken: then whether the first attempt took it is unknown."""
        updated = reply.trial_updated
        if not updated and resent:
            raise StorageInternalError(
                f"the connection to the gRPC proxy at {self._address} was lost while "
                f"claiming trial {trial_id}, and the repeated claim found it taken: the first "
                "attempt may or may not have taken it."
            )
        return updated

    def _resent_finish(self, trial_id: int, state: TrialState, values: list[float] | None) -> bool:
        """A finish sent again after a transport failure found the trial finished: decide
        whether the first attempt did it. Finished in another state or with other values: it
        did not (UpdateFinishedTrialError). The same state with the same values (numbers)
        is taken as ours: True. The same state without values (FAIL, PRUNED), which a
        stale-trial reaper or another worker also writes, cannot be told apart:
        StorageInternalError (outcome unknown)."""
        trial = self.get_trial(trial_id)
        if trial.state != state or (values is not None and trial.values != values):
            raise UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )
        if values:
            return True
        raise StorageInternalError(
            f"the connection to the gRPC proxy at {self._address} was lost while "
            f"finishing trial {trial_id}, and the trial is now {state.name}: whether this call "
            "or another one finished it is unknown."
        )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        checked_step, value = check.check_intermediate_value(step, intermediate_value)
        request = pb.SetTrialIntermediateValueRequest(
            trial_id=check.check_id(trial_id, "trial"), step=checked_step, intermediate_value=value
        )
        self._call(wire.SET_TRIAL_INTERMEDIATE_VALUE, request)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        request = pb.SetTrialUserAttributeRequest(
            trial_id=check.check_id(trial_id, "trial"),
            key=key,
            value=conv.attr_value_to_wire(stored),
        )
        self._call(wire.SET_TRIAL_USER_ATTRIBUTE, request)

    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        stored = check.check_attr(key, value)
        request = pb.SetTrialSystemAttributeRequest(
            trial_id=check.check_id(trial_id, "trial"),
            key=key,
            value=conv.attr_value_to_wire(stored),
        )
        self._call(wire.SET_TRIAL_SYSTEM_ATTRIBUTE, request)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        trial_id = check.check_id(trial_id, "trial")  # before the cache: True is not an id
        known = self._trials.number_of(trial_id)
        if known is not None:
            return known
        return self.get_trial(trial_id).number

    @_optuna_fallback
    def get_trial(self, trial_id: int) -> FrozenTrial:
        # Always asked: only the server knows whether the trial (or its study) was deleted.
        trial_id = check.check_id(trial_id, "trial")
        request = pb.GetTrialRequest(trial_id=trial_id)
        try:
            if self._has_extensions():
                exact = self._call(wire.EXT_GET_TRIAL, request).trial
                return conv.trial_from_proto(exact.trial, exact.extras)
            return conv.trial_from_proto(self._call(wire.GET_TRIAL, request).trial)
        except TrialDeletedError:
            self._trials.discard([trial_id])
            raise

    @_optuna_fallback
    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        study_id = check.check_id(study_id, "study")
        try:
            with self._trials.fresh_view(study_id) as view:
                trials = view.select(states)
        except KeyError:
            self._forget_study(study_id)
            raise
        return [copy_trial(t) for t in trials] if deepcopy else trials

    def _fetch_trials(self, study_id: int, view: StudyTrials) -> Fetched:
        """The study's trials above the view's cursor or unfinished in it (one call); from a
        trialstore server, with the study's deleted numbers when the view lacks some."""
        included, cursor = sorted(view.unfinished), view.cursor()
        if self._has_extensions():
            top, deleted = view.known_numbers()
            request = ext.GetTrialsRequest(
                study_id=study_id,
                included_trial_ids=included,
                trial_id_greater_than=cursor,
                known_numbers=top + 1,
                known_deleted=deleted,
            )
            reply = self._call(wire.EXT_GET_TRIALS, request)
            trials = [conv.trial_from_proto(t.trial, t.extras) for t in reply.trials]
            if reply.deleted_numbers_sent:
                return Fetched(trials, list(reply.deleted_numbers), every=True)
            return Fetched(trials, [])
        plain = pb.GetTrialsRequest(
            study_id=study_id, included_trial_ids=included, trial_id_greater_than=cursor
        )
        return Fetched(
            [conv.trial_from_proto(t) for t in self._call(wire.GET_TRIALS, plain).trials], []
        )

    # -- heartbeats -------------------------------------------------------------------------

    def _server_info(self) -> ext.GetServerInfoReply | None:
        """The server's settings (asked once), or None from an Optuna server."""
        if self._info is None and self._extensions is not False:
            request = ext.GetServerInfoRequest()
            try:
                self._info = self._send(wire.EXT_GET_SERVER_INFO, request, optional=True)[0]
            except _Unimplemented:
                self._extensions = False
        return self._info

    def get_heartbeat_interval(self) -> float | None:
        return conv.heartbeat_from_wire(self._server_info())[0]

    def get_grace_period(self) -> float | None:
        return conv.heartbeat_from_wire(self._server_info())[1]

    @_optuna_fallback
    def record_heartbeat(self, trial_id: int) -> None:
        request = ext.RecordHeartbeatRequest(trial_id=check.check_id(trial_id, "trial"))
        if self._has_extensions():
            self._call(wire.EXT_RECORD_HEARTBEAT, request)
        else:  # an Optuna server keeps no heartbeats; still check the trial exists
            self.check_trial_is_updatable(trial_id, self.get_trial(trial_id).state)

    @_optuna_fallback
    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        request = ext.StaleTrialsRequest(study_id=check.check_id(study_id, "study"))
        if not self._has_extensions():
            self.get_study_name_from_id(study_id)
            return []
        return list(self._call(wire.EXT_GET_STALE_TRIAL_IDS, request).trial_ids)

    @_optuna_fallback
    def fail_stale_trials(self, study_id: int) -> list[int]:
        """See :meth:`BaseStorage.fail_stale_trials`.

        Raises:
            StorageInternalError: the call was sent again after the connection to the proxy
                was lost. The first attempt may have failed trials in a proxy that died
                before replying; the repeated one does not list them, so which trials this
                call failed is not known.
        """
        request = ext.StaleTrialsRequest(study_id=check.check_id(study_id, "study"))
        if not self._has_extensions():
            self.get_study_name_from_id(study_id)
            return []
        reply, resent = self._send(wire.EXT_FAIL_STALE_TRIALS, request)
        if resent:
            raise StorageInternalError(
                "fail_stale_trials was sent again after the connection to the gRPC proxy at "
                f"{self._address} was lost; trials the first attempt failed are not "
                f"known (the repeated attempt failed {list(reply.trial_ids)})."
            )
        return list(reply.trial_ids)
