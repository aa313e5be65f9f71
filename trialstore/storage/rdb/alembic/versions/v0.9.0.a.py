"""The first schema (Optuna 0.9): studies with one direction, trials with one value.

Revision ID: v0.9.0.a
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0.9.0.a"
down_revision = None
branch_labels = None
depends_on = None

_NAME = 512
_JSON = 2048


def _attributes(table: str, id_column: str, owner: str, owner_table: str) -> None:
    op.create_table(
        table,
        sa.Column(id_column, sa.Integer(), primary_key=True),
        sa.Column(owner, sa.Integer(), sa.ForeignKey(f"{owner_table}.{owner}"), nullable=True),
        sa.Column("key", sa.String(_NAME), nullable=True),
        sa.Column("value_json", sa.String(_JSON), nullable=True),
        sa.UniqueConstraint(owner, "key"),
    )


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("study_id", sa.Integer(), primary_key=True),
        sa.Column("study_name", sa.String(_NAME), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("NOT_SET", "MINIMIZE", "MAXIMIZE", name="studydirection"),
            nullable=False,
        ),
    )
    op.create_index("ix_studies_study_name", "studies", ["study_name"], unique=True)
    op.create_table(
        "version_info",
        sa.Column("version_info_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("schema_version", sa.Integer(), nullable=True),
        sa.Column("library_version", sa.String(256), nullable=True),
        sa.CheckConstraint("version_info_id=1"),
    )
    _attributes("study_system_attributes", "study_system_attribute_id", "study_id", "studies")
    _attributes("study_user_attributes", "study_user_attribute_id", "study_id", "studies")
    op.create_table(
        "trials",
        sa.Column("trial_id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.study_id"), nullable=True),
        sa.Column(
            "state",
            sa.Enum("RUNNING", "COMPLETE", "PRUNED", "FAIL", name="trialstate"),
            nullable=False,
        ),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("datetime_start", sa.DateTime(), nullable=True),
        sa.Column("datetime_complete", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "trial_params",
        sa.Column("param_id", sa.Integer(), primary_key=True),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.trial_id"), nullable=True),
        sa.Column("param_name", sa.String(_NAME), nullable=True),
        sa.Column("param_value", sa.Float(), nullable=True),
        sa.Column("distribution_json", sa.String(_JSON), nullable=True),
        sa.UniqueConstraint("trial_id", "param_name"),
    )
    _attributes("trial_system_attributes", "trial_system_attribute_id", "trial_id", "trials")
    _attributes("trial_user_attributes", "trial_user_attribute_id", "trial_id", "trials")
    op.create_table(
        "trial_values",
        sa.Column("trial_value_id", sa.Integer(), primary_key=True),
        sa.Column("trial_id", sa.Integer(), sa.ForeignKey("trials.trial_id"), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.UniqueConstraint("trial_id", "step"),
    )


def downgrade() -> None:
    raise NotImplementedError("trialstore does not downgrade schemas")
