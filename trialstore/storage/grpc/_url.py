"""``grpc://`` and ``grpcs://`` storage URLs (private; public entry: ``get_storage``)."""

from __future__ import annotations

import os
import re
import urllib.parse
from typing import Any

from trialstore.storage.grpc._args import MAX_PORT
from trialstore.storage.grpc._client import GrpcStorageProxy
from trialstore.storage.grpc._security import read_token

__all__ = ["parse_url", "storage_from_url"]

_FORM = "grpc://HOST:PORT or grpcs://HOST:PORT"
#: Query parameter -> the GrpcStorageProxy argument it sets (timeouts and the token file are
#: converted on the way).
_PATHS = {
    "ca_cert": "tls_ca_cert",
    "client_cert": "tls_client_cert",
    "client_key": "tls_client_key",
    "server_name": "tls_server_name",
}
_ALLOWED = sorted([*_PATHS, "timeout", "retry_timeout", "token_file"])


def _shown(url: str) -> str:
    """``url`` for an error message: any user information (which could be a token or a
    password put there by mistake) replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    _userinfo, at, hostport = netloc.rpartition("@")
    return f"{scheme}{sep}***@{hostport}{slash}{tail}" if at else url


def _host_and_port(netloc: str, url: str) -> tuple[str, int]:
    """The host and the port of ``netloc`` (``host:port`` or ``[ipv6]:port``)."""
    if netloc.startswith("["):
        host, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(
                f"gRPC storage URL {_shown(url)!r}: malformed IPv6 host; expected "
                "grpc://[ADDRESS]:PORT."
            )
        port_text: str | None = rest[1:] if rest else None
    else:
        host, colon, after = netloc.rpartition(":")
        if not colon:
            host, port_text = netloc, None
        else:
            port_text = after
        if ":" in host:
            raise ValueError(
                f"gRPC storage URL {_shown(url)!r}: an IPv6 host goes in brackets; expected "
                "grpc://[ADDRESS]:PORT."
            )
    if not host:
        raise ValueError(f"gRPC storage URL {_shown(url)!r}: no host; expected {_FORM}.")
    if not port_text:
        raise ValueError(f"gRPC storage URL {_shown(url)!r}: no port; expected {_FORM}.")
    if not re.fullmatch(r"[0-9]+", port_text) or not 1 <= int(port_text) <= MAX_PORT:
        raise ValueError(
            f"gRPC storage URL {_shown(url)!r}: port {port_text!r} is not an integer from 1 to "
            f"{MAX_PORT}; expected {_FORM}."
        )
    return host, int(port_text)


def _seconds(key: str, value: str, url: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"gRPC storage URL {_shown(url)!r}: {key} must be a number of seconds, got {value!r}."
        ) from None


def parse_url(url: str) -> dict[str, Any]:
    """Return the :class:`GrpcStorageProxy` arguments that ``url`` gives (see
    :func:`storage_from_url`); reads the token file, connects nowhere.

    Raises:
        ValueError: see :func:`storage_from_url`.
        OSError: the token file cannot be read.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme not in ("grpc", "grpcs") or not sep:
        raise ValueError(f"not a grpc:// or grpcs:// URL: {_shown(url)!r}")
    netloc, _, _ = rest.partition("/")
    netloc = netloc.partition("?")[0].partition("#")[0]
    if "@" in netloc:
        raise ValueError(
            f"gRPC storage URL {_shown(url)!r}: user information is not accepted; give the "
            "token with ?token_file=PATH or the TRIALSTORE_GRPC_TOKEN environment variable."
        )
    host, port = _host_and_port(netloc, url)
    parsed = urllib.parse.urlsplit(url)
    if parsed.path not in ("", "/") or parsed.fragment:
        raise ValueError(
            f"gRPC storage URL {_shown(url)!r}: a path or fragment is not accepted; "
            f"expected {_FORM}[?PARAMETERS]."
        )
    options: dict[str, Any] = {"host": host, "port": port, "tls": scheme == "grpcs"}
    seen: set[str] = set()
    for key, value in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True):
        if key not in _ALLOWED:
            raise ValueError(
                f"gRPC storage URL {_shown(url)!r}: unknown query parameter {key!r}; "
                f"allowed: {', '.join(_ALLOWED)}."
            )
        if key in seen:
            raise ValueError(f"gRPC storage URL {_shown(url)!r}: {key} is given twice.")
        seen.add(key)
        if not value:
            raise ValueError(f"gRPC storage URL {_shown(url)!r}: {key} is empty.")
        if key in _PATHS:
            options[_PATHS[key]] = value
        elif key in ("timeout", "retry_timeout"):
            options[key] = _seconds(key, value, url)
        else:
            options["token"] = read_token(value)
    return options


def storage_from_url(url: str, **kwargs: Any) -> GrpcStorageProxy:
    """Build a client from ``grpc://HOST:PORT`` or ``grpcs://HOST:PORT`` (TLS); an IPv6
    address goes in brackets (``grpc://[::1]:13000``).

    Query parameters (all optional, each at most once): ``ca_cert``, ``client_cert``,
    ``client_key`` (PEM file paths), ``server_name``, ``token_file`` (a file holding the
    token), ``timeout``, ``retry_timeout`` (seconds). Without ``token_file`` the token is read
    from the environment variable ``TRIALSTORE_GRPC_TOKEN`` when set. Tokens never go in the
    URL itself. Keyword arguments override the URL's.

    Raises:
        ValueError: not a grpc/grpcs URL, no host, no port or one that is not an integer from
            1 to 65535, user information, a path, an unknown, repeated or empty query
            parameter, a timeout that is not a number, or an argument
            :class:`GrpcStorageProxy` refuses; raised before any channel is opened.
        OSError: the token file or a PEM file cannot be read.
    """
    options = parse_url(url)
    if "token" not in options and os.environ.get("TRIALSTORE_GRPC_TOKEN"):
        options["token"] = os.environ["TRIALSTORE_GRPC_TOKEN"]
    options.update(kwargs)
    return GrpcStorageProxy(**options)
