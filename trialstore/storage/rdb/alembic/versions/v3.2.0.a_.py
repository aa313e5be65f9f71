"""Index ``trials.study_id``.

Revision ID: v3.2.0.a
Revises: v3.0.0.d
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v3.2.0.a"
down_revision = "v3.0.0.d"
branch_labels = None
depends_on = None


def upgrade() -> None:
    indexes = sa.inspect(op.get_bind()).get_indexes("trials")
    if not any(index["column_names"] == ["study_id"] for index in indexes if index["name"]):
        op.create_index("ix_trials_study_id", "trials", ["study_id"])


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
