"""How storage exceptions cross the proxy (private; the classes are public via the package).

The server answers an exception with Optuna's status code for its type (so an Optuna client
raises what it always raised) and names the exact type in the trailing metadata key
``trialstore-error-type``; the status details carry the message. A trialstore client raises
that type with that message; against an Optuna server (no metadata) it maps the status code.

================================  ======================  ===================================
exception                         status code             client raises (Optuna server)
================================  ======================  ===================================
DuplicatedStudyError              ALREADY_EXISTS          DuplicatedStudyError
TrialDeletedError                 NOT_FOUND               KeyError
KeyError                          NOT_FOUND               KeyError
UpdateFinishedTrialError          FAILED_PRECONDITION     UpdateFinishedTrialError
ValueError                        INVALID_ARGUMENT        ValueError
NotImplementedError               UNKNOWN                 StorageInternalError
RuntimeError                      UNKNOWN                 StorageInternalError
StorageInternalError, any other   UNKNOWN                 StorageInternalError
request above the size limit      RESOURCE_EXHAUSTED      ValueError
missing or wrong token            UNAUTHENTICATED         ProxyAuthenticationError
server unreachable after retries  UNAVAILABLE             ProxyConnectionError
================================  ======================  ===================================
"""

from __future__ import annotations

from typing import NoReturn

import grpc

from trialstore.exceptions import (
    DuplicatedStudyError,
    StorageInternalError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)
from trialstore.storage.grpc._wire import ERROR_TYPE_KEY

__all__ = [
    "ProxyAuthenticationError",
    "ProxyConnectionError",
    "raise_rpc_error",
    "status_for",
]

#: Longest message sent as status details (gRPC metadata is limited to 8 KiB by default).
MAX_DETAILS = 4000


class ProxyConnectionError(StorageInternalError, ConnectionError):
    """The gRPC proxy could not be reached (down, refusing, or a TLS/plaintext mismatch) after
    the client's bounded retries. The message names the address and the last gRPC error.
    Whether the call took effect is unknown only if it reached the server before it failed."""


class ProxyAuthenticationError(StorageInternalError, PermissionError):
    """The gRPC proxy rejected the client's token (missing or wrong). Nothing was executed."""


_BY_TYPE: list[tuple[type[BaseException], grpc.StatusCode, str]] = [
    (DuplicatedStudyError, grpc.StatusCode.ALREADY_EXISTS, "DuplicatedStudyError"),
    (UpdateFinishedTrialError, grpc.StatusCode.FAILED_PRECONDITION, "UpdateFinishedTrialError"),
    # before KeyError, of which it is a subclass
    (TrialDeletedError, grpc.StatusCode.NOT_FOUND, "TrialDeletedError"),
    (KeyError, grpc.StatusCode.NOT_FOUND, "KeyError"),
    (ValueError, grpc.StatusCode.INVALID_ARGUMENT, "ValueError"),
    (StorageInternalError, grpc.StatusCode.UNKNOWN, "StorageInternalError"),
    # before RuntimeError, of which it is a subclass (a backend that cannot delete trials)
    (NotImplementedError, grpc.StatusCode.UNKNOWN, "NotImplementedError"),
    (RuntimeError, grpc.StatusCode.UNKNOWN, "RuntimeError"),
]
_TYPES: dict[str, type[Exception]] = {
    "DuplicatedStudyError": DuplicatedStudyError,
    "UpdateFinishedTrialError": UpdateFinishedTrialError,
    "TrialDeletedError": TrialDeletedError,
    "KeyError": KeyError,
    "ValueError": ValueError,
    "StorageInternalError": StorageInternalError,
    "NotImplementedError": NotImplementedError,
    "RuntimeError": RuntimeError,
}
_BY_CODE: dict[grpc.StatusCode, type[Exception]] = {
    grpc.StatusCode.ALREADY_EXISTS: DuplicatedStudyError,
    grpc.StatusCode.NOT_FOUND: KeyError,
    grpc.StatusCode.FAILED_PRECONDITION: UpdateFinishedTrialError,
    grpc.StatusCode.INVALID_ARGUMENT: ValueError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ValueError,
    grpc.StatusCode.UNAUTHENTICATED: ProxyAuthenticationError,
}


def _message(error: BaseException) -> str:
    if len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]
    else:
        text = str(error)
    return text if len(text) <= MAX_DETAILS else text[: MAX_DETAILS - 3] + "..."


def status_for(error: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """Return (status code, exact type name, message) for an exception a storage raised.

    An exception of no known type becomes a StorageInternalError whose message starts with the
    original type's name.
    """
    for cls, code, name in _BY_TYPE:
        if isinstance(error, cls):
            return code, name, _message(error)
    return (
        grpc.StatusCode.UNKNOWN,
        "StorageInternalError",
        _message(StorageInternalError(f"{type(error).__name__}: {_message(error)}")),
    )


def raise_rpc_error(error: grpc.RpcError, method: str) -> NoReturn:
    """Raise the storage exception that a failed call ``method`` stands for.

    Raises:
        The exact type named by a trialstore server; else the type of the status code (see the
        module table); else StorageInternalError naming the method, code and details.
    """
    code: grpc.StatusCode = error.code()
    details: str = error.details() or ""
    type_name = None
    for key, value in error.trailing_metadata() or ():
        if key == ERROR_TYPE_KEY:
            type_name = value
    cls = _TYPES.get(type_name or "") or _BY_CODE.get(code)
    if cls is None:
        raise StorageInternalError(
            f"gRPC proxy call {method} failed: {code.name}: {details}"
        ) from None
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and type_name is None:
        details = f"{method}: message too large for the gRPC proxy: {details}"
    raise cls(details) from None
