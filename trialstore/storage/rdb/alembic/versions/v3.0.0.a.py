"""Rewrite pre-3.0 distributions (Uniform, LogUniform, IntUniform, ...) as Float/Int ones.

Revision ID: v3.0.0.a
Revises: v2.6.0.a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from trialstore.distributions import distribution_to_json, json_to_distribution

revision = "v3.0.0.a"
down_revision = "v2.6.0.a"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    bind = op.get_bind()
    params = sa.table("trial_params", sa.column("param_id"), sa.column("distribution_json"))
    last = -1
    while True:
        rows = bind.execute(
            sa.select(params.c.param_id, params.c.distribution_json)
            .where(params.c.param_id > last)
            .order_by(params.c.param_id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        changed = []
        for param_id, text in rows:
            new_text = distribution_to_json(json_to_distribution(text))
            if new_text != text:
                changed.append({"pid": param_id, "text": new_text})
        if changed:
            bind.execute(
                params.update()
                .where(params.c.param_id == sa.bindparam("pid"))
                .values(distribution_json=sa.bindparam("text")),
                changed,
            )


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
