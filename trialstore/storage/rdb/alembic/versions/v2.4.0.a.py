"""Several objectives: ``study_directions`` and ``trial_intermediate_values``.

Studies' single direction moves to ``study_directions`` (objective 0); the old
``trial_values`` (step, value) rows are intermediate values and move to
``trial_intermediate_values``; ``trial_values`` becomes (objective, value) and takes each
trial's former ``trials.value`` as objective 0.

Revision ID: v2.4.0.a
Revises: v1.3.0.a
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v2.4.0.a"
down_revision = "v1.3.0.a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    if "study_directions" not in tables:
        op.create_table(
            "study_directions",
            sa.Column("study_direction_id", sa.Integer(), primary_key=True),
            sa.Column(
                "direction",
                sa.Enum(
                    "NOT_SET", "MINIMIZE", "MAXIMIZE", name="studydirection", create_type=False
                ),
                nullable=False,
            ),
            sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.study_id"), nullable=False),
            sa.Column("objective", sa.Integer(), nullable=False),
            sa.UniqueConstraint("study_id", "objective"),
        )
    if "trial_intermediate_values" not in tables:
        op.create_table(
            "trial_intermediate_values",
            sa.Column("trial_intermediate_value_id", sa.Integer(), primary_key=True),
            sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.trial_id"), nullable=False),
            sa.Column("step", sa.Integer(), nullable=False),
            sa.Column("intermediate_value", sa.Float(), nullable=False),
            sa.UniqueConstraint("trial_id", "step"),
        )

    studies = sa.table("studies", sa.column("study_id"), sa.column("direction", sa.String()))
    directions = sa.table(
        "study_directions", sa.column("study_id"), sa.column("direction"), sa.column("objective")
    )
    trials = sa.table("trials", sa.column("trial_id"), sa.column("value"))
    old_values = sa.table(
        "trial_values", sa.column("trial_id"), sa.column("step"), sa.column("value")
    )
    intermediate = sa.table(
        "trial_intermediate_values",
        sa.column("trial_id"),
        sa.column("step"),
        sa.column("intermediate_value"),
    )

    rows = bind.execute(sa.select(studies.c.study_id, studies.c.direction)).all()
    if rows:
        bind.execute(
            directions.insert(),
            [{"study_id": s, "direction": d, "objective": 0} for s, d in rows],
        )
    old_rows = bind.execute(
        sa.select(old_values.c.trial_id, old_values.c.step, old_values.c.value).where(
            old_values.c.value.is_not(None), old_values.c.step.is_not(None)
        )
    ).all()
    if old_rows:
        bind.execute(
            intermediate.insert(),
            [{"trial_id": t, "step": s, "intermediate_value": v} for t, s, v in old_rows],
        )
    bind.execute(old_values.delete())

    # trial_values: (trial_id, step, value) -> (trial_id, objective, value). The new unique
    # key comes first: MySQL needs an index on trial_id for the foreign key at all times.
    if bind.dialect.name == "sqlite":
        new_values = sa.Table(
            "trial_values",
            sa.MetaData(),
            sa.Column("trial_value_id", sa.Integer(), primary_key=True),
            sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.trial_id"), nullable=True),
            sa.Column("step", sa.Integer(), nullable=True),
            sa.Column("value", sa.Float(), nullable=True),
        )
        with op.batch_alter_table("trial_values", copy_from=new_values) as batch:
            batch.drop_column("step")
            batch.add_column(sa.Column("objective", sa.Integer(), nullable=False))
            batch.create_unique_constraint(
                "uq_trial_values_trial_id_objective", ["trial_id", "objective"]
            )
    else:
        op.add_column("trial_values", sa.Column("objective", sa.Integer(), nullable=False))
        op.create_unique_constraint(
            "uq_trial_values_trial_id_objective", "trial_values", ["trial_id", "objective"]
        )
        for constraint in inspector.get_unique_constraints("trial_values"):
            if constraint["name"] and "step" in constraint["column_names"]:
                op.drop_constraint(constraint["name"], "trial_values", type_="unique")
        op.drop_column("trial_values", "step")
    values = sa.table(
        "trial_values", sa.column("trial_id"), sa.column("objective"), sa.column("value")
    )
    rows = bind.execute(
        sa.select(trials.c.trial_id, trials.c.value).where(trials.c.value.is_not(None))
    ).all()
    if rows:
        bind.execute(
            values.insert(), [{"trial_id": t, "objective": 0, "value": v} for t, v in rows]
        )
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("direction")
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("value")


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
