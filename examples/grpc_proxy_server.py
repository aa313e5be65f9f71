"""Easy parallelization, gRPC proxy: serve one storage to many workers over gRPC.

Optuna's tutorial script with ``optuna`` replaced by ``trialstore`` and ``storages`` by
``storage``. The database URL (a MySQL database by default, as in the tutorial) and the port
can be changed with ``TRIALSTORE_EXAMPLE_STORAGE`` and ``TRIALSTORE_EXAMPLE_PORT``. The server
listens on localhost without TLS; docs/guides/grpc-proxy.md covers TLS, tokens, health checks
and restarts. Stop it with Ctrl-C.

    python examples/grpc_proxy_server.py
"""

import os

from trialstore.storage import get_storage, run_grpc_proxy_server

storage_url = os.environ.get(
    "TRIALSTORE_EXAMPLE_STORAGE", "mysql+pymysql://root@127.0.0.1:3306/example"
)
port = int(os.environ.get("TRIALSTORE_EXAMPLE_PORT", "13000"))

storage = get_storage(storage_url)
run_grpc_proxy_server(storage, host="localhost", port=port)
