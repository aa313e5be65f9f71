"""The proxy's names on the wire, shared by the client and the server (private).

Services, metadata keys and (see :class:`Method`) the methods with their message types. Both
sides import this module, so that the client needs neither the server module nor
``grpc_health``.
"""

from __future__ import annotations

__all__ = [
    "AUTH_KEY",
    "ERROR_TYPE_KEY",
    "EXTENSION_SERVICE",
    "REQUEST_ID_KEY",
    "RESENT_KEY",
    "STORAGE_SERVICE",
]

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
