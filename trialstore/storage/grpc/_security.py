"""TLS credentials, the shared-token check and the loopback test (private).

The token travels as request metadata ``authorization: Bearer <token>``; the server compares
it in constant time. Tokens are never logged and never appear in a repr or an error message.
Without TLS the token crosses the network in clear text, so use a token together with TLS
whenever the server is reachable from other machines.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable
from typing import Any

import grpc

from trialstore.storage.grpc._wire import AUTH_KEY

__all__ = [
    "TokenInterceptor",
    "is_loopback",
    "read_bytes",
    "read_token",
]

#: Services that answer without a token (they reveal nothing about the stored data).
_OPEN_PREFIXES = ("/grpc.health.v1.Health/",)


def read_bytes(path: str | os.PathLike[str] | None) -> bytes | None:
    """Return the file's bytes (None for None).

    Raises:
        OSError: the file cannot be read (the message names the path).
    """
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def read_token(path: str | os.PathLike[str]) -> str:
    """Return the token stored in a file (surrounding whitespace removed).

    Raises:
        OSError: the file cannot be read.
        ValueError: the file is empty.
    """
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"token file {os.fspath(path)!r} is empty.")
    return token


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reject(context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")


class TokenInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Rejects every call (except the health service) whose token is not the server's, with
    UNAUTHENTICATED, before any handler runs."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()
        self._reject = grpc.unary_unary_rpc_method_handler(lambda _request, ctx: _reject(ctx))

    def __repr__(self) -> str:
        return "TokenInterceptor(token=***)"

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        method: str = handler_call_details.method
        if method.startswith(_OPEN_PREFIXES):
            return continuation(handler_call_details)
        for key, value in handler_call_details.invocation_metadata or ():
            if key == AUTH_KEY:
                given = value.encode() if isinstance(value, str) else value
                if hmac.compare_digest(given, self._expected):
                    return continuation(handler_call_details)
        return self._reject
