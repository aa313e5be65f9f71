"""Building the same storage for trialstore and for Optuna, by backend name (bench helper).

A backend is a name (memory, journal, sqlite, postgresql, mysql, redis, grpc) and, for servers,
a URL. ``available`` says why one cannot run (a missing module or scheme), so the harness can
skip it with a reason.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from typing import Any

SERVER_ENV = {
    "postgresql": "TRIALSTORE_TEST_POSTGRES_URL",
    "mysql": "TRIALSTORE_TEST_MYSQL_URL",
    "redis": "TRIALSTORE_TEST_REDIS_URL",
}
ALL_BACKENDS = ["memory", "journal", "sqlite", "postgresql", "mysql", "redis", "grpc"]


def _scheme_registered(scheme: str) -> bool:
    from trialstore.storage._url import SCHEME_FACTORIES

    target = SCHEME_FACTORIES.get(scheme)
    if target is None:
        return False
    module = target.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def unavailable_reason(backend: str, url: str | None) -> str | None:
    """Return why ``backend`` cannot be benchmarked here, or None."""
    if backend == "memory":
        return None
    if backend == "journal":
        return None if _scheme_registered("journal") else "trialstore has no journal:// backend"
    if backend == "sqlite":
        return None if _scheme_registered("sqlite") else "trialstore has no sqlite:// backend"
    if backend in SERVER_ENV:
        if not url:
            return f"no server URL (set {SERVER_ENV[backend]} or --url {backend}=URL)"
        scheme = "journal+redis" if backend == "redis" else backend
        ok = _scheme_registered(scheme)
        return None if ok else f"trialstore has no {scheme}:// backend"
    if backend == "grpc":
        return (
            "the gRPC bench needs a running proxy (--url grpc=host:port)"
            if not url
            else (None if _scheme_registered("grpc") else "trialstore has no grpc:// backend")
        )
    return f"unknown backend {backend!r}"


def default_url(backend: str) -> str | None:
    """Return the server URL from the environment for a server backend."""
    env = SERVER_ENV.get(backend)
    return os.environ.get(env) if env else None


_CREATED_DATABASES: list[tuple[str, str]] = []


def _fresh_database(url: str, tag: str) -> str:
    """Create database ``bench_<tag>`` on the server of ``url``; return its URL."""
    import sqlalchemy as sa

    base = sa.engine.make_url(url)
    name = f"bench_{tag}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    _CREATED_DATABASES.append((url, name))
    return base.set(database=name).render_as_string(hide_password=False)


def drop_created_databases() -> None:
    """Drop every database :func:`make_location` created."""
    import sqlalchemy as sa

    while _CREATED_DATABASES:
        url, name = _CREATED_DATABASES.pop()
        admin = sa.create_engine(sa.engine.make_url(url), isolation_level="AUTOCOMMIT")
        force = " WITH (FORCE)" if admin.dialect.name == "postgresql" else ""
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def make_location(backend: str, workdir: str, url: str | None) -> dict[str, Any]:
    """Return a fresh location spec (JSON-able) for one measurement (a new database on SQL
    servers, a new key prefix on Redis, a new file otherwise)."""
    tag = uuid.uuid4().hex[:10]
    if backend in ("postgresql", "mysql") and url:
        return {"backend": backend, "url": _fresh_database(url, tag)}
    if backend == "journal":
        return {"backend": backend, "path": os.path.join(workdir, f"journal-{tag}.log")}
    if backend == "sqlite":
        return {"backend": backend, "path": os.path.join(workdir, f"db-{tag}.sqlite3")}
    return {"backend": backend, "url": url, "prefix": f"bench-{tag}"}


def open_storage(lib: str, location: dict[str, Any]) -> Any:
    """Return a storage of ``lib`` ("trialstore" or "optuna") at ``location``; None = memory."""
    backend = location["backend"]
    if backend == "memory":
        return None
    if lib == "optuna":
        return _optuna_storage(location)
    from trialstore.storage import get_storage

    if backend == "journal":
        return get_storage(f"journal://{os.path.abspath(location['path'])}")
    if backend == "sqlite":
        return get_storage(f"sqlite:///{location['path']}")
    if backend == "redis":
        redis_url = location["url"].split("://", 1)[1]
        return get_storage(f"journal+redis://{redis_url}?prefix={location['prefix']}")
    if backend == "grpc":
        return get_storage(f"grpc://{location['url']}")
    return get_storage(location["url"])


def _optuna_storage(location: dict[str, Any]) -> Any:
    """Optuna's storage (or URL) at ``location``."""
    import optuna
    import optuna.storages.journal as optuna_journal

    backend = location["backend"]
    if backend == "journal":
        return optuna.storages.JournalStorage(optuna_journal.JournalFileBackend(location["path"]))
    if backend == "sqlite":
        return f"sqlite:///{location['path']}"
    if backend == "redis":
        return optuna.storages.JournalStorage(
            optuna_journal.JournalRedisBackend(location["url"], prefix=location["prefix"])
        )
    if backend == "grpc":
        host, _, port = location["url"].rpartition(":")
        return optuna.storages.GrpcStorageProxy(host=host, port=int(port))
    return location["url"]
