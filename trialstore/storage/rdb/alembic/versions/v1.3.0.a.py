"""Move trial numbers from the ``_number`` system attribute to ``trials.number``.

Revision ID: v1.3.0.a
Revises: v1.2.0.a
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "v1.3.0.a"
down_revision = "v1.2.0.a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("trials", sa.Column("number", sa.Integer(), nullable=True))
    bind = op.get_bind()
    trials = sa.table("trials", sa.column("trial_id"), sa.column("number"))
    attrs = sa.table(
        "trial_system_attributes", sa.column("trial_id"), sa.column("key"), sa.column("value_json")
    )
    rows = bind.execute(
        sa.select(attrs.c.trial_id, attrs.c.value_json).where(attrs.c.key == "_number")
    ).all()
    if rows:
        bind.execute(
            trials.update()
            .where(trials.c.trial_id == sa.bindparam("tid"))
            .values(number=sa.bindparam("num")),
            [{"tid": trial_id, "num": int(json.loads(text))} for trial_id, text in rows],
        )
    bind.execute(attrs.delete().where(attrs.c.key == "_number"))


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
