"""Objective values get a type tag, so that ±inf are stored exactly (NULL + tag).

Revision ID: v3.0.0.d
Revises: v3.0.0.c
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from trialstore.storage.rdb._migrate_helpers import add_type_tag

revision = "v3.0.0.d"
down_revision = "v3.0.0.c"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_type_tag(
        table="trial_values",
        id_column="trial_value_id",
        value_column="value",
        tag_column="value_type",
        enum=sa.Enum("FINITE", "INF_POS", "INF_NEG", name="trialvaluetype"),
        null_is_nan=False,
    )
    with op.batch_alter_table("trial_values") as batch:
        batch.alter_column("value", existing_type=sa.Float(precision=53), nullable=True)


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
