"""The gRPC storage proxy: one server holds the storage, many clients reach it over gRPC.

Needs the ``grpc`` extra (``pip install trialstore[grpc]``).

* :class:`GrpcProxyServer` (embeddable) and :func:`run_grpc_proxy_server` (blocking) serve any
  :class:`~trialstore.storage.BaseStorage`; ``trialstore grpc-proxy --storage URL`` does the
  same from a shell.
* :class:`GrpcStorageProxy` is the client, a complete BaseStorage;
  ``get_storage("grpc://host:port")`` (``grpcs://`` for TLS) builds one.

Wire compatibility: the service ``optuna.StorageService`` is Optuna's (4.2 to 5.0), message
for message, so Optuna's ``GrpcStorageProxy`` works against this server and this client works
against Optuna's ``run_grpc_proxy_server``. trialstore's additions (heartbeats, exact trials
with key order and timezones, server info, creates that survive a server crash, parameter
batches in one call) are a second service, ``trialstore.StorageExtensions``, plus metadata
keys (``trialstore-request-id``, ``trialstore-resent``, ``trialstore-error-type``,
``authorization``); an Optuna peer never sees them, and against an Optuna server the client
falls back to the plain service (heartbeats off, datetimes naive, params in the server's map
order, ``set_trial_params`` as one call per parameter and so not atomic).

Errors: see ``_errors`` for the table; a storage exception arrives with its type and message.

Retries and what they guarantee: a call that cannot reach the server (UNAVAILABLE), is dropped by a
stopping server (CANCELLED) or gets no answer within ``timeout`` is retried with backoff for
``retry_timeout`` seconds, then raises :class:`ProxyConnectionError`. Every write carries a request
id that stays the same across its retries; the server remembers the outcome of the last
``idempotency_capacity`` ids, so:

* while the server process lives, a retried write runs exactly once (dropped connections,
  timeouts, a retry racing its own first attempt);
* across a graceful restart (:meth:`GrpcProxyServer.stop` or SIGTERM/SIGINT on
  ``run_grpc_proxy_server``), too, for calls that finish within the grace period: the stop
  answers the calls in flight, and a call refused (UNAVAILABLE) or dropped before it started
  (CANCELLED) never ran, so its retry against the new server runs it for the first time;
* a server *crash* (SIGKILL, power loss) between committing a write to the backend and
  sending its reply: the new server does not know the id, so the retry runs the write again.
  ``create_new_trial`` is safe even then: the server stores each trial with its create's
  request id (system attribute ``trialstore:create_request_id``, written with the trial and
  never sent to clients), and a create sent again returns the trial its first attempt made.
  Setting a param, value or attribute again is harmless. A repeated write that then fails
  (a finished trial, a created study) or a claim that finds its trial taken raises
  StorageInternalError (the first attempt may have taken effect), except a finish that finds
  the trial finished with its own state and values, which reports success.

Against Optuna's server (no request ids) a create that may have reached the server is not
sent again: it raises StorageInternalError (outcome unknown).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    import grpc  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the gRPC storage proxy needs the 'grpc' extra: pip install 'trialstore[grpc]'"
    ) from e

from trialstore.storage.grpc._args import check_count, check_host, check_port, check_seconds
from trialstore.storage.grpc._client import GrpcStorageProxy
from trialstore.storage.grpc._errors import ProxyAuthenticationError, ProxyConnectionError
from trialstore.storage.grpc._security import read_bytes, read_token
from trialstore.storage.grpc._url import storage_from_url

if TYPE_CHECKING:
    from trialstore.storage.grpc._server import GrpcProxyServer, run_grpc_proxy_server

__all__ = [
    "GrpcProxyServer",
    "GrpcStorageProxy",
    "ProxyAuthenticationError",
    "ProxyConnectionError",
    "check_count",
    "check_host",
    "check_port",
    "check_seconds",
    "read_bytes",
    "read_token",
    "run_grpc_proxy_server",
    "storage_from_url",
]
# check_* and read_*: the checks the server applies to its arguments and the readers of its
# TLS and token files, for programs that start a server from user input (`trialstore
# grpc-proxy` reports a bad flag by its own name before anything starts).

#: The server's names, imported on first use: a process that only runs clients never loads
#: the server module (nor ``grpc_health``).
_SERVER_NAMES = frozenset({"GrpcProxyServer", "run_grpc_proxy_server"})


def __getattr__(name: str) -> object:
    if name in _SERVER_NAMES:
        from trialstore.storage.grpc import _server

        return getattr(_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
