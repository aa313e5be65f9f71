"""The relational-database backend: SQLite, PostgreSQL, MySQL/MariaDB, Optuna's schema."""

from __future__ import annotations

from trialstore.storage.rdb._storage import RDBStorage

__all__ = ["RDBStorage"]
