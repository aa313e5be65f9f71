"""Add the WAITING trial state.

Revision ID: v1.2.0.a
Revises: v0.9.0.a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v1.2.0.a"
down_revision = "v0.9.0.a"
branch_labels = None
depends_on = None

_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TYPE trialstate ADD VALUE IF NOT EXISTS 'WAITING'")
        return
    # MySQL: widen the native ENUM. SQLite: rebuild the table, which drops any CHECK
    # constraint an old SQLAlchemy put on the column.
    with op.batch_alter_table("trials", recreate="auto") as batch:
        batch.alter_column(
            "state",
            type_=sa.Enum(*_STATES, name="trialstate"),
            existing_type=sa.Enum(*_STATES[:-1], name="trialstate"),
            existing_nullable=False,
        )


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
