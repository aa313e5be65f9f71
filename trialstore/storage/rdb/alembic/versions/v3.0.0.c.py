"""Intermediate values get a type tag, so that ±inf and NaN are stored exactly.

Before, ±inf were clamped to ±(float32 max) and NaN stored as NULL.

Revision ID: v3.0.0.c
Revises: v3.0.0.b
"""

from __future__ import annotations

import sqlalchemy as sa

from trialstore.storage.rdb._migrate_helpers import add_type_tag

revision = "v3.0.0.c"
down_revision = "v3.0.0.b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_type_tag(
        table="trial_intermediate_values",
        id_column="trial_intermediate_value_id",
        value_column="intermediate_value",
        tag_column="intermediate_value_type",
        enum=sa.Enum("FINITE", "INF_POS", "INF_NEG", "NAN", name="trialintermediatevaluetype"),
        null_is_nan=True,
    )


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
