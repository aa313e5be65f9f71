"""Steps shared by several migrations (private; used by ``alembic/versions``)."""

from __future__ import annotations

import math

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

__all__ = ["FLOAT32_MAX", "add_type_tag"]

#: What Optuna < 3.0 stored for ±inf (the largest float32), since servers reject inf.
FLOAT32_MAX = 3.4028234663852886e38


def _classify(value: float | None, null_is_nan: bool) -> tuple[float | None, str] | None:
    if value is None:
        return (None, "NAN") if null_is_nan else None
    if math.isnan(value):
        return (None, "NAN") if null_is_nan else None
    if value == math.inf or math.isclose(value, FLOAT32_MAX, rel_tol=1e-5):
        return None, "INF_POS"
    if value == -math.inf or math.isclose(value, -FLOAT32_MAX, rel_tol=1e-5):
        return None, "INF_NEG"
    return None


def add_type_tag(
    *,
    table: str,
    id_column: str,
    value_column: str,
    tag_column: str,
    enum: sa.Enum,
    null_is_nan: bool,
) -> None:
    """Add the NOT NULL enum column ``tag_column`` (FINITE for existing rows), then turn the
    rows that encode ±inf (and NULL = NaN when ``null_is_nan``) into NULL + tag."""
    bind = op.get_bind()
    columns = {column["name"] for column in sa.inspect(bind).get_columns(table)}
    column_type: sa.types.TypeEngine[str] = enum
    if bind.dialect.name == "postgresql":
        enum.create(bind, checkfirst=True)
        column_type = postgresql.ENUM(*enum.enums, name=enum.name, create_type=False)
    if tag_column not in columns:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(tag_column, column_type, nullable=False, server_default="FINITE")
            )
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                tag_column,
                existing_type=column_type,
                existing_nullable=False,
                server_default=None,
            )
    rows_table = sa.table(
        table, sa.column(id_column), sa.column(value_column), sa.column(tag_column)
    )
    value = rows_table.c[value_column]
    rows = bind.execute(
        sa.select(rows_table.c[id_column], value).where(
            sa.or_(value > 1e16, value < -1e16, value.is_(None))
        )
    ).all()
    updates = []
    for row_id, stored in rows:
        classified = _classify(stored, null_is_nan)
        if classified is not None:
            updates.append({"rid": row_id, "val": classified[0], "tag": classified[1]})
    if updates:
        bind.execute(
            rows_table.update()
            .where(rows_table.c[id_column] == sa.bindparam("rid"))
            .values({value_column: sa.bindparam("val"), tag_column: sa.bindparam("tag")}),
            updates,
        )
