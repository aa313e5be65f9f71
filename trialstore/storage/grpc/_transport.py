"""How the client's calls reach a server: one request out, one reply back (private).

A transport sends one attempt of one call. Everything above that stays in the client
(``_client``): request ids, retries with backoff, the fallback to Optuna's service, turning
a failed call into a storage exception. :class:`ChannelTransport` is the real transport, over
a gRPC channel; :class:`MockTransport` answers from a function, so that tests drive the
client without a server (as httpx's ``MockTransport`` does for HTTP clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import grpc
from google.protobuf.message import Message

from trialstore.storage.grpc._wire import Method

__all__ = ["ChannelTransport", "FailedCall", "Metadata", "MockTransport", "Transport"]

#: Request or trailing metadata: (key, value) pairs.
Metadata = tuple[tuple[str, str], ...]

Rep = TypeVar("Rep", bound=Message)


class Transport(Protocol):
    """What the client needs from a transport. Implementations are thread-safe."""

    def call(
        self, method: Method[Any, Rep], request: Message, *, timeout: float, metadata: Metadata
    ) -> Rep:
        """Send ``request`` to ``method`` once and return the reply.

        Raises:
            grpc.RpcError: the call failed. The error has ``code()``, ``details()`` and
                ``trailing_metadata()``, as gRPC's own failed calls have.
        """
        ...

    def wait_ready(self, timeout: float | None) -> bool:
        """Wait until the server accepts connections; return whether it does within
        ``timeout`` seconds (None: wait as long as it takes)."""
        ...

    def close(self) -> None:
        """Release the connection; calls after this are undefined."""
        ...


class ChannelTransport:
    """Calls over one gRPC channel to ``address`` (``host:port``, an IPv6 address in
    brackets), plaintext or TLS.

    Args:
        address: where the server listens.
        tls: use TLS; the server's certificate is checked against ``ca_cert`` (PEM) or the
            system's CAs.
        ca_cert, client_cert, client_key: PEM bytes (or None).
        server_name: the name expected in the server's certificate, when not the host.

    The channel connects on the first call and reconnects by itself, backing off from 50 ms
    to 1 s; messages are not size-limited on this side. Thread-safe.
    """

    def __init__(
        self,
        address: str,
        *,
        tls: bool = False,
        ca_cert: bytes | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        server_name: str | None = None,
    ) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if tls:
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            credentials = grpc.ssl_channel_credentials(ca_cert, client_key, client_cert)
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._stubs: dict[str, Any] = {}

    def call(
        self, method: Method[Any, Rep], request: Message, *, timeout: float, metadata: Metadata
    ) -> Rep:
        stub = self._stubs.get(method.path)
        if stub is None:  # two threads may both make one: the same, either is fine
            stub = self._stubs[method.path] = self._channel.unary_unary(
                method.path,
                request_serializer=method.request.SerializeToString,
                response_deserializer=method.reply.FromString,
            )
        reply: Rep = stub(request, timeout=timeout, metadata=metadata)
        return reply

    def wait_ready(self, timeout: float | None) -> bool:
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        return True

    def close(self) -> None:
        self._channel.close()


class FailedCall(grpc.RpcError):  # type: ignore[misc]
    """A failed call as a transport raises it: status code, details and trailing metadata
    (what a failed ``grpc.Call`` offers). :class:`MockTransport` handlers raise it."""

    def __init__(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details
        self._trailing_metadata = trailing_metadata

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Metadata:
        return self._trailing_metadata


#: ``handler(method, request, metadata)`` of a :class:`MockTransport`: returns the reply, or
#: raises :class:`FailedCall`.
Handler = Callable[[Method[Any, Any], Any, Metadata], Message]


class MockTransport:
    """A transport that answers every call with ``handler(method, request, metadata)``; no
    network, no server.

    Requests and replies cross as bytes, as on the wire: the handler gets a parsed copy of
    the request, and the client a parsed copy of the reply.

    Raises (from :meth:`call`):
        TypeError: the handler returned a message that is not the method's reply type.
        FailedCall: whatever the handler raised.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.closed = False

    def call(
        self, method: Method[Any, Rep], request: Message, *, timeout: float, metadata: Metadata
    ) -> Rep:
        received = method.request.FromString(request.SerializeToString())
        reply = self._handler(method, received, metadata)
        if not isinstance(reply, method.reply):
            raise TypeError(
                f"{method.path} replies {method.reply.__name__}, the handler returned "
                f"{type(reply).__name__}."
            )
        return method.reply.FromString(reply.SerializeToString())

    def wait_ready(self, timeout: float | None) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
