"""The proxy server: :class:`GrpcProxyServer` and :func:`run_grpc_proxy_server`."""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from types import FrameType, TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from trialstore.storage.base import BaseStorage
from trialstore.storage.grpc._args import (
    check_count,
    check_host,
    check_port,
    check_seconds,
    target,
)
from trialstore.storage.grpc._idempotency import IdempotencyTable
from trialstore.storage.grpc._security import TokenInterceptor, is_loopback
from trialstore.storage.grpc._service import Service
from trialstore.storage.grpc._wire import EXTENSION_SERVICE, STORAGE_SERVICE

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "GrpcProxyServer",
    "run_grpc_proxy_server",
]

_logger = logging.getLogger("trialstore.storage.grpc")

#: Largest request the server accepts by default (gRPC's own default); larger ones get
#: RESOURCE_EXHAUSTED. Replies are not limited.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


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
        self._service = Service(storage, IdempotencyTable(idempotency_capacity))
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
