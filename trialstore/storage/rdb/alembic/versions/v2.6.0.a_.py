"""Attribute values and distributions become TEXT (no length limit).

Revision ID: v2.6.0.a
Revises: v2.4.0.a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v2.6.0.a"
down_revision = "v2.4.0.a"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("study_user_attributes", "value_json"),
    ("study_system_attributes", "value_json"),
    ("trial_user_attributes", "value_json"),
    ("trial_system_attributes", "value_json"),
    ("trial_params", "distribution_json"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return  # SQLite does not limit the length of a VARCHAR
    for table, column in _COLUMNS:
        op.alter_column(table, column, type_=sa.Text(), existing_type=sa.String(2048))


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
