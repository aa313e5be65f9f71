"""Alembic environment of trialstore's migrations.

trialstore runs migrations itself (``trialstore storage upgrade``), on a connection that holds
the schema lock: the connection arrives in ``config.attributes["connection"]``. There is no
offline (SQL script) mode.
"""

from __future__ import annotations

from alembic import context

from trialstore.storage.rdb._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "trialstore's migrations run through `trialstore storage upgrade --storage URL`."
    )
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
