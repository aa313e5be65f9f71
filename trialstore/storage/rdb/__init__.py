"""The relational-database backend: SQLite, PostgreSQL, MySQL/MariaDB, Optuna's schema."""

from __future__ import annotations

from trialstore.storage.rdb._engine import normalize_url
from trialstore.storage.rdb._storage import RDBStorage
from trialstore.storage.rdb._upgrade import upgrade_schema

__all__ = ["RDBStorage", "normalize_url", "upgrade_schema"]
