"""``trialstore grpc-proxy``: serve a storage URL over gRPC until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from trialstore.storage._url import mask_password

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``grpc-proxy`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "grpc-proxy",
        help="serve a storage to many workers over gRPC",
        description=(
            "Serve the storage at --storage over gRPC (Optuna-compatible wire format) until "
            "SIGINT or SIGTERM, then finish the calls in flight and stop. Clients connect with "
            "--storage grpc://HOST:PORT (grpcs:// with TLS). Binds to localhost unless --host "
            "says otherwise; binding another address without TLS prints a warning."
        ),
    )
    parser.add_argument("--storage", required=True, metavar="URL", help="the storage to serve")
    parser.add_argument("--host", default="localhost", help="address to bind (default localhost)")
    parser.add_argument("--port", type=int, default=13000, help="port (default 13000; 0: any)")
    parser.add_argument("--tls-cert", metavar="PEM", help="server certificate chain (PEM file)")
    parser.add_argument("--tls-key", metavar="PEM", help="server private key (PEM file)")
    parser.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require client certificates signed by this CA bundle (PEM file)",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        help="require this shared token (file content) from every client",
    )
    parser.add_argument(
        "--max-workers", type=int, default=32, help="threads serving calls (default 32)"
    )
    parser.add_argument(
        "--grace", type=float, default=5.0, help="seconds calls in flight get on stop (5)"
    )
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"trialstore grpc-proxy: error: {message}", file=sys.stderr)
    return 1


def _hide(error: Exception, args: argparse.Namespace) -> str:
    """The error's text with the storage URL's password masked."""
    text = str(error).replace(args.storage, mask_password(args.storage))
    userinfo = args.storage.partition("://")[2].partition("/")[0].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    return text.replace(password, "***") if password else text


def run(args: argparse.Namespace) -> int:
    """Serve until stopped; return 0 after a clean stop, 1 on a start-up error (on stderr)."""
    try:
        from trialstore.storage import get_storage
        from trialstore.storage.grpc import run_grpc_proxy_server
        from trialstore.storage.grpc._security import read_bytes, read_token
    except ImportError as e:
        return _fail(str(e))
    try:
        token = read_token(args.token_file) if args.token_file else None
        tls_cert, tls_key = read_bytes(args.tls_cert), read_bytes(args.tls_key)
        tls_client_ca = read_bytes(args.tls_client_ca)
    except (OSError, ValueError) as e:
        return _fail(str(e))
    try:
        storage = get_storage(args.storage)
    except Exception as e:
        return _fail(f"cannot open storage {mask_password(args.storage)!r}: {_hide(e, args)}")
    try:
        run_grpc_proxy_server(
            storage,
            host=args.host,
            port=args.port,
            token=token,
            max_workers=args.max_workers,
            grace=args.grace,
            tls_cert=tls_cert,
            tls_key=tls_key,
            tls_client_ca=tls_client_ca,
        )
    except (OSError, ValueError) as e:
        return _fail(str(e))
    finally:
        storage.close()
    return 0
