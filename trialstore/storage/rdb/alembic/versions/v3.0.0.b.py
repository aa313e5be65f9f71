"""Double precision floats; intermediate values may be NULL (NaN).

Revision ID: v3.0.0.b
Revises: v3.0.0.a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v3.0.0.b"
down_revision = "v3.0.0.a"
branch_labels = None
depends_on = None

_DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    bind = op.get_bind()
    trials = sa.table("trials", sa.column("trial_id"), sa.column("state"))
    values = sa.table("trial_values", sa.column("trial_id"), sa.column("value"))
    broken = bind.execute(
        sa.select(sa.func.count())
        .select_from(values.join(trials, values.c.trial_id == trials.c.trial_id))
        .where(sa.cast(trials.c.state, sa.String(16)) == "COMPLETE", values.c.value.is_(None))
    ).scalar()
    if broken:
        raise ValueError(
            f"{broken} COMPLETE trial(s) have a NULL value in trial_values; fix them first."
        )
    bind.execute(values.delete().where(values.c.value.is_(None)))
    with op.batch_alter_table("trial_intermediate_values") as batch:
        batch.alter_column(
            "intermediate_value", type_=_DOUBLE, existing_type=sa.Float(), nullable=True
        )
    with op.batch_alter_table("trial_params") as batch:
        batch.alter_column(
            "param_value", type_=_DOUBLE, existing_type=sa.Float(), existing_nullable=True
        )
    with op.batch_alter_table("trial_values") as batch:
        batch.alter_column("value", type_=_DOUBLE, existing_type=sa.Float(), nullable=False)


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
