"""Easy parallelization, gRPC proxy client: a worker that talks only to the proxy server.

Optuna's tutorial script with ``optuna`` replaced by ``trialstore`` and ``storages`` by
``storage``. Start ``grpc_proxy_server.py`` first; run this script on as many machines (or
processes) as you like. The port can be changed with ``TRIALSTORE_EXAMPLE_PORT``.

    python examples/grpc_client.py
"""

import os

import trialstore
from trialstore.storage import GrpcStorageProxy


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


if __name__ == "__main__":
    port = int(os.environ.get("TRIALSTORE_EXAMPLE_PORT", "13000"))
    storage = GrpcStorageProxy(host="localhost", port=port)
    study = trialstore.create_study(
        study_name="grpc_proxy_multinode", storage=storage, load_if_exists=True
    )
    study.optimize(objective, n_trials=50)
