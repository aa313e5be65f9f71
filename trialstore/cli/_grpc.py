"""``trialstore grpc-proxy``: serve a storage URL over gRPC until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
from typing import Any

from trialstore.cli._errors import UsageError
from trialstore.cli._open import open_url
from trialstore.storage import mask_password

__all__ = ["StorageOpenError", "register", "run"]


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


def _check_flags(args: argparse.Namespace) -> None:
    """Check the flags gRPC would otherwise reinterpret (it takes --port 70000 as 4464).

    Raises:
        UsageError: a flag's value is out of range (nothing is opened or started yet).
    """
    from trialstore.storage.grpc import check_count, check_host, check_port, check_seconds

    try:
        check_host(args.host, name="--host")
        check_port(args.port, name="--port", any_port=True)
        check_count(args.max_workers, name="--max-workers")
        check_seconds(args.grace, name="--grace", zero=True)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _hide(text: str, storage_url: str) -> str:
    """``text`` with the storage URL's password masked."""
    text = text.replace(storage_url, mask_password(storage_url))
    userinfo = storage_url.partition("://")[2].partition("/")[0].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    return text.replace(password, "***") if password else text


class StorageOpenError(Exception):
    """The storage to serve cannot be opened (the message masks the URL's password)."""


def run(args: argparse.Namespace) -> int:
    """Serve until stopped; return 0 after a clean stop.

    Raises:
        UsageError: a flag is out of range (checked before anything is opened), or the
            library refuses the storage URL.
        StorageOpenError: the storage cannot be opened.
        OSError, ValueError: a TLS or token file cannot be read or is empty, or the address
            cannot be bound.
        ImportError: the ``grpc`` extra is missing.
    """
    from trialstore.storage import get_storage
    from trialstore.storage.grpc import read_bytes, read_token, run_grpc_proxy_server

    _check_flags(args)
    token = read_token(args.token_file) if args.token_file else None
    tls_cert, tls_key = read_bytes(args.tls_cert), read_bytes(args.tls_key)
    tls_client_ca = read_bytes(args.tls_client_ca)
    try:
        storage = open_url(args.storage, get_storage, "--storage")
    except UsageError:
        raise
    except Exception as e:
        shown = mask_password(args.storage)
        raise StorageOpenError(
            f"cannot open storage {shown!r}: {_hide(str(e), args.storage)}"
        ) from e
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
    finally:
        storage.close()
    return 0
