"""``python -m trialstore.stress._proxy INNER_URL PORT KWARGS_JSON``: a gRPC proxy on
127.0.0.1:PORT over the storage at INNER_URL (run by the harness so that it can kill it)."""

from __future__ import annotations

import json
import sys

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Serve until SIGTERM; return the exit code."""
    from trialstore.storage import get_storage
    from trialstore.storage.grpc import run_grpc_proxy_server

    storage = get_storage(argv[0], **json.loads(argv[2]))
    run_grpc_proxy_server(storage, host="127.0.0.1", port=int(argv[1]), grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
