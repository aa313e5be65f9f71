"""The gRPC proxy client (trialstore/storage/grpc/_client.py) on its own: what it imports, and
its behaviour over a fake transport (no server)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("grpc")

#: Prints the modules of the server side that a client-only process has loaded: the server
#: module and the health service (``grpc`` itself imports the bare ``grpc_health`` package, not
#: its ``v1`` modules).
_LOADED_SERVER_MODULES = """
import json, sys
{imports}
print(json.dumps(sorted(
    name for name in sys.modules
    if name == "trialstore.storage.grpc._server" or name.startswith("grpc_health.v1")
)))
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import trialstore.storage.grpc._client",
        "from trialstore.storage.grpc import GrpcStorageProxy",
        "from trialstore.storage import get_storage; get_storage('grpc://localhost:1').close()",
    ],
)
def test_a_client_process_does_not_load_the_server(imports: str) -> None:
    """A worker that only talks to a proxy loads neither the server module nor grpc_health
    (thousands of short-lived workers pay every import)."""
    script = _LOADED_SERVER_MODULES.format(imports=imports)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert json.loads(out) == []


def test_the_server_names_still_import_from_the_package() -> None:
    from trialstore.storage.grpc import GrpcProxyServer, run_grpc_proxy_server
    from trialstore.storage.grpc._server import GrpcProxyServer as server_class

    assert GrpcProxyServer is server_class
    assert callable(run_grpc_proxy_server)
