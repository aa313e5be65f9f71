"""Helpers of the gRPC proxy tests (tests/storage/grpc/)."""

from __future__ import annotations

import datetime
import pathlib
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from trialstore.storage import BaseStorage
from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy

__all__ = ["ServerPool", "make_certificates", "served"]


class OwningProxy(GrpcStorageProxy):
    """A client whose ``close`` also stops the server it was made for (in this process)."""

    server: GrpcProxyServer | None = None

    def close(self) -> None:
        super().close()
        if self.server is not None:
            self.server.stop(grace=0)


class ServerPool:
    """Starts one proxy per storage it is given; each stops when its client is closed, and
    all at the end of a test."""

    def __init__(self) -> None:
        self.servers: list[GrpcProxyServer] = []

    def client(self, storage: BaseStorage, **client_options: Any) -> GrpcStorageProxy:
        server = GrpcProxyServer(storage, port=0)
        server.start()
        self.servers.append(server)
        client = OwningProxy(host="localhost", port=server.port, **client_options)
        client.server = server
        return client

    def stop(self) -> None:
        for server in self.servers:
            server.stop(grace=1.0)


@contextmanager
def served(storage: BaseStorage, **options: Any) -> Iterator[GrpcProxyServer]:
    """A started server on a free localhost port, stopped afterwards."""
    server = GrpcProxyServer(storage, host=options.pop("host", "localhost"), port=0, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=1.0)


def make_certificates(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write a throwaway CA, a server certificate for localhost/127.0.0.1 and a client
    certificate (PEM) into ``directory``; return their paths by name."""
    try:
        return _with_cryptography(directory)
    except ImportError:
        return _with_openssl(directory)


def _with_cryptography(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def key() -> Any:
        return ec.generate_private_key(ec.SECP256R1())

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(subject: str, public: Any, issuer: str, signer: Any, **ext: Any) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )
        for extension, critical in ext.values():
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(signer, hashes.SHA256())

    ca_key = key()
    ca = build(
        "trialstore test CA",
        ca_key.public_key(),
        "trialstore test CA",
        ca_key,
        bc=(x509.BasicConstraints(ca=True, path_length=None), True),
    )
    server_key, client_key = key(), key()
    server = build(
        "localhost",
        server_key.public_key(),
        "trialstore test CA",
        ca_key,
        san=(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        ),
    )
    client = build("test client", client_key.public_key(), "trialstore test CA", ca_key)

    def write(file: str, data: bytes) -> pathlib.Path:
        path = directory / file
        path.write_bytes(data)
        return path

    def key_pem(k: Any) -> bytes:
        return bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    pem = serialization.Encoding.PEM
    return {
        "ca": write("ca.pem", ca.public_bytes(pem)),
        "server_cert": write("server.pem", server.public_bytes(pem)),
        "server_key": write("server.key", key_pem(server_key)),
        "client_cert": write("client.pem", client.public_bytes(pem)),
        "client_key": write("client.key", key_pem(client_key)),
    }


def _with_openssl(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=trialstore test CA",
    )
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for who, cn in (("server", "localhost"), ("client", "test client")):
        run(
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            f"{who}.key",
            "-out",
            f"{who}.csr",
            "-subj",
            f"/CN={cn}",
        )
        extra = ["-extfile", "san.ext"] if who == "server" else []
        run(
            "x509",
            "-req",
            "-in",
            f"{who}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{who}.pem",
            "-days",
            "1",
            *extra,
        )
    return {
        "ca": directory / "ca.pem",
        "server_cert": directory / "server.pem",
        "server_key": directory / "server.key",
        "client_cert": directory / "client.pem",
        "client_key": directory / "client.key",
    }


StorageMaker = Callable[..., BaseStorage]


def raw_call(server: GrpcProxyServer, method: str, payload: bytes, **kwargs: Any) -> Any:
    """Send raw bytes to a method of optuna.StorageService; return the RpcError or reply."""
    with grpc.insecure_channel(f"localhost:{server.port}") as channel:
        call = channel.unary_unary(f"/optuna.StorageService/{method}")
        try:
            return call(payload, timeout=10, **kwargs)
        except grpc.RpcError as e:
            return e


def trailing_error_type(error: Any) -> str | None:
    """The trialstore error type a failed call carries in its trailing metadata."""
    return dict(error.trailing_metadata() or ()).get("trialstore-error-type")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
