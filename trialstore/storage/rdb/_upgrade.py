"""Upgrading a database's schema from a URL (private; public: ``upgrade_schema``)."""

from __future__ import annotations

from sqlalchemy import exc

from trialstore.storage.rdb import _engine, _schema

__all__ = ["upgrade_schema"]


def upgrade_schema(url: str) -> tuple[str | None, str]:
    """Bring the schema of the database at ``url`` to the revision this trialstore uses, or
    create it in an empty database; return ``(old, new)`` revisions (``old`` is None for an
    empty database, equal to ``new`` when there was nothing to do).

    Safe while other processes use the database: they wait for the schema lock. Back the
    database up first: an upgrade that fails midway leaves what the database's DDL
    transactions leave (PostgreSQL and SQLite roll back; MySQL/MariaDB commit each step).

    Raises:
        ValueError: ``url`` is not a database URL trialstore supports.
        StorageInternalError: the database cannot be reached, or its schema is not one this
            trialstore can upgrade (newer, or unknown).
    """
    parsed = _engine.normalize_url(url)
    engine = _engine.create_engine(parsed, None)
    try:
        return _schema.upgrade_schema(engine)
    except exc.DBAPIError as e:
        raise _engine.connection_error(parsed, e) from None
    finally:
        engine.dispose()
