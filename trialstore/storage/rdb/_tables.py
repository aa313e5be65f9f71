"""The database schema: Optuna 5.0's tables (schema version 12, Alembic head ``v3.2.0.a``).

Table, column, enum and constraint names are Optuna's, so that either library opens a database
made by the other. trialstore adds indexes for its hot queries and three tables of its own,
which Optuna ignores (``trialstore_deleted_trials``, the snapshot segments
``trialstore_trial_segments`` and the creates' tokens ``trialstore_trial_creates``), and on
MySQL/MariaDB stores datetimes with microseconds and compares names byte-wise (a binary,
no-pad collation); Optuna reads such databases unchanged.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles

__all__ = [
    "ALEMBIC_HEAD",
    "CREATE_TOKENS_TABLE",
    "CREATE_TOKEN_LIFETIME",
    "DELETED_TRIALS_TABLE",
    "EXTRA_INDEXES",
    "INTERMEDIATE_VALUE_TYPES",
    "SCHEMA_VERSION",
    "SEGMENTS_TABLE",
    "STUDY_DIRECTIONS",
    "TRIAL_STATES",
    "VALUE_TYPES",
    "deleted_trials",
    "max_integer",
    "metadata",
    "studies",
    "study_directions",
    "study_system_attributes",
    "study_user_attributes",
    "trial_creates",
    "trial_heartbeats",
    "trial_intermediate_values",
    "trial_params",
    "trial_segments",
    "trial_system_attributes",
    "trial_user_attributes",
    "trial_values",
    "trials",
    "version_info",
]

#: ``version_info.schema_version`` of every database at the current Alembic head.
SCHEMA_VERSION = 12
#: The Alembic revision of the schema below (Optuna's revision id).
ALEMBIC_HEAD = "v3.2.0.a"

#: The names of trialstore's tables of its own (see ``deleted_trials``, ``trial_segments``,
#: ``trial_creates``).
DELETED_TRIALS_TABLE = "trialstore_deleted_trials"
SEGMENTS_TABLE = "trialstore_trial_segments"
CREATE_TOKENS_TABLE = "trialstore_trial_creates"
#: How long a create's token is kept (SQL interval text, the same in PostgreSQL and MariaDB):
#: a retry of the create must come sooner (see ``trial_creates``).
CREATE_TOKEN_LIFETIME = "1 DAY"

MAX_INDEXED_STRING_LENGTH = 512
MAX_VERSION_LENGTH = 256
FLOAT_PRECISION = 53

TRIAL_STATES = ("RUNNING", "COMPLETE", "PRUNED", "FAIL", "WAITING")
STUDY_DIRECTIONS = ("NOT_SET", "MINIMIZE", "MAXIMIZE")
VALUE_TYPES = ("FINITE", "INF_POS", "INF_NEG")
INTERMEDIATE_VALUE_TYPES = ("FINITE", "INF_POS", "INF_NEG", "NAN")


class NameString(sa.String):
    """VARCHAR(512) holding a name or key; compared byte-wise on MySQL/MariaDB."""

    def __init__(self) -> None:
        super().__init__(MAX_INDEXED_STRING_LENGTH)


@compiles(NameString)
def _compile_name(element: NameString, compiler: Any, **kw: Any) -> str:
    text: str = compiler.visit_string(element, **kw)
    return text


@compiles(NameString, "mysql")
@compiles(NameString, "mariadb")
def _compile_name_mysql(element: NameString, compiler: Any, **kw: Any) -> str:
    # A binary collation without padding, so that "a", "A" and "a " are three names (the
    # server's default collation would make them one), as in every other backend.
    dialect = compiler.dialect
    if getattr(dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"
    elif (getattr(dialect, "server_version_info", None) or (0,)) >= (8,):
        collation = "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_bin"
    varchar: str = compiler.visit_VARCHAR(element, **kw)
    return f"{varchar} CHARACTER SET utf8mb4 COLLATE {collation}"


def _float() -> sa.Float[float]:
    return sa.Float(precision=FLOAT_PRECISION)


def _datetime() -> sa.types.TypeEngine[Any]:
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def _enum(name: str, members: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*members, name=name)


def max_integer(dialect: str) -> int:
    """The largest value the ``sa.Integer`` columns (ids, numbers, steps) hold on
    ``dialect``: 32-bit on PostgreSQL and MySQL/MariaDB, 64-bit on SQLite. PostgreSQL fails a
    comparison of such a column with a larger value, rather than finding no row."""
    return 2**63 - 1 if dialect == "sqlite" else 2**31 - 1


metadata = sa.MetaData()
# SQLite reuses the largest rowid after a delete unless the table is AUTOINCREMENT; ids must
# never be reused. (PostgreSQL sequences and MySQL AUTO_INCREMENT never reuse them.)
_AUTOINCREMENT: dict[str, Any] = {"sqlite_autoincrement": True}

studies = sa.Table(
    "studies",
    metadata,
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("study_name", NameString(), nullable=False),
    sa.Index("ix_studies_study_name", "study_name", unique=True),
    **_AUTOINCREMENT,
)

study_directions = sa.Table(
    "study_directions",
    metadata,
    sa.Column("study_direction_id", sa.Integer, primary_key=True),
    sa.Column("direction", _enum("studydirection", STUDY_DIRECTIONS), nullable=False),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.study_id"), nullable=False),
    sa.Column("objective", sa.Integer, nullable=False),
    sa.UniqueConstraint("study_id", "objective"),
    **_AUTOINCREMENT,
)


def _attribute_table(name: str, id_column: str, owner: str, owner_table: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column(id_column, sa.Integer, primary_key=True),
        sa.Column(owner, sa.Integer, sa.ForeignKey(f"{owner_table}.{owner}")),
        sa.Column("key", NameString()),
        sa.Column("value_json", sa.Text),
        sa.UniqueConstraint(owner, "key"),
        **_AUTOINCREMENT,
    )


study_user_attributes = _attribute_table(
    "study_user_attributes", "study_user_attribute_id", "study_id", "studies"
)
study_system_attributes = _attribute_table(
    "study_system_attributes", "study_system_attribute_id", "study_id", "studies"
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("number", sa.Integer),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.study_id")),
    sa.Column("state", _enum("trialstate", TRIAL_STATES), nullable=False),
    sa.Column("datetime_start", _datetime()),
    sa.Column("datetime_complete", _datetime()),
    sa.Index("ix_trials_study_id", "study_id"),
    # trialstore's: the next number (MAX) and number -> id lookups; incremental reads.
    sa.Index("ix_trials_study_id_number", "study_id", "number"),
    sa.Index("ix_trials_study_id_trial_id", "study_id", "trial_id"),
    **_AUTOINCREMENT,
)

trial_user_attributes = _attribute_table(
    "trial_user_attributes", "trial_user_attribute_id", "trial_id", "trials"
)
trial_system_attributes = _attribute_table(
    "trial_system_attributes", "trial_system_attribute_id", "trial_id", "trials"
)

trial_params = sa.Table(
    "trial_params",
    metadata,
    sa.Column("param_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.trial_id")),
    sa.Column("param_name", NameString()),
    sa.Column("param_value", _float()),
    sa.Column("distribution_json", sa.Text),
    sa.UniqueConstraint("trial_id", "param_name"),
    **_AUTOINCREMENT,
)

trial_values = sa.Table(
    "trial_values",
    metadata,
    sa.Column("trial_value_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.trial_id"), nullable=False),
    sa.Column("objective", sa.Integer, nullable=False),
    sa.Column("value", _float(), nullable=True),
    sa.Column("value_type", _enum("trialvaluetype", VALUE_TYPES), nullable=False),
    sa.UniqueConstraint("trial_id", "objective"),
    **_AUTOINCREMENT,
)

trial_intermediate_values = sa.Table(
    "trial_intermediate_values",
    metadata,
    sa.Column("trial_intermediate_value_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.trial_id"), nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("intermediate_value", _float(), nullable=True),
    sa.Column(
        "intermediate_value_type",
        _enum("trialintermediatevaluetype", INTERMEDIATE_VALUE_TYPES),
        nullable=False,
    ),
    sa.UniqueConstraint("trial_id", "step"),
    **_AUTOINCREMENT,
)

trial_heartbeats = sa.Table(
    "trial_heartbeats",
    metadata,
    sa.Column("trial_heartbeat_id", sa.Integer, primary_key=True),
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.trial_id"), nullable=False),
    sa.Column("heartbeat", _datetime(), nullable=False),
    sa.UniqueConstraint("trial_id"),
    **_AUTOINCREMENT,
)

#: trialstore's own table, beside Optuna's (which ignores it): the trials deleted with
#: ``delete_trials``. Their rows stay in ``trials`` (and their children), so that Optuna's
#: schema, counting and numbering hold; a row here takes the trial out of every trialstore
#: read. ``deletion_id`` is the study's deletion sequence: deleters hold the study row's
#: lock, so within one study the ids become visible in the order they grow, and a reader
#: that has seen a study's deletions up to an id asks only for those above it. Its foreign
#: keys cascade, so that Optuna's ``delete_study`` (which deletes the trial rows) works.
deleted_trials = sa.Table(
    DELETED_TRIALS_TABLE,
    metadata,
    sa.Column("deletion_id", sa.Integer, primary_key=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.study_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column(
        "trial_id",
        sa.Integer,
        sa.ForeignKey("trials.trial_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("number", sa.Integer, nullable=False),
    sa.UniqueConstraint("trial_id"),
    sa.Index("ix_trialstore_deleted_trials_study_id_deletion_id", "study_id", "deletion_id"),
    **_AUTOINCREMENT,
)


# SQLite enforces foreign keys only on connections that ask for it (Optuna's do not): there, a
# trigger deletes the row of a trial whose own row is deleted (by Optuna's delete_study), as
# the cascade does on the other dialects. An id left behind could be given again on SQLite
# when Optuna made the database (its tables reuse the highest id after a delete).
def _create_sqlite_cascade(target: sa.Table, connection: sa.Connection, **kw: Any) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"CREATE TRIGGER {DELETED_TRIALS_TABLE}_cascade AFTER DELETE ON trials "
            f"BEGIN DELETE FROM {DELETED_TRIALS_TABLE} WHERE trial_id = OLD.trial_id; END"
        )


sa.event.listen(deleted_trials, "after_create", _create_sqlite_cascade)

#: trialstore's table of snapshot segments (see ``_segments``): each row holds finished
#: trials of one study as binary columns (``data``) with what they cover (``meta``, JSON). A
#: finished trial never changes, so a segment, once written, is true for good; readers apply
#: the study's deletions to it. Rows of a deleted study go with it (the foreign key cascades;
#: on SQLite, whose connections do not enforce foreign keys, a trigger does it).
trial_segments = sa.Table(
    SEGMENTS_TABLE,
    metadata,
    sa.Column("segment_id", sa.Integer, primary_key=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.study_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("first_trial_id", sa.Integer, nullable=False),
    sa.Column("last_trial_id", sa.Integer, nullable=False),
    sa.Column("n_trials", sa.Integer, nullable=False),
    sa.Column(
        "meta", sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), nullable=False
    ),
    sa.Column(
        "data",
        sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"),
        nullable=False,
    ),
    sa.UniqueConstraint("study_id", "first_trial_id", "last_trial_id"),
    **_AUTOINCREMENT,
)


def _create_sqlite_segments_cascade(
    target: sa.Table, connection: sa.Connection, **kw: Any
) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            f"CREATE TRIGGER {SEGMENTS_TABLE}_cascade AFTER DELETE ON studies "
            f"BEGIN DELETE FROM {SEGMENTS_TABLE} WHERE study_id = OLD.study_id; END"
        )


sa.event.listen(trial_segments, "after_create", _create_sqlite_segments_cascade)

#: trialstore's table of the tokens of trial creates that commit in their own round trip (see
#: ``_fast_paths``). A create inserts its token with the trial, in the same transaction, while
#: it holds the study row's lock; run again after its connection was lost (its commit may or
#: may not have happened), it takes the same lock, finds its token and returns that trial
#: instead of creating a second. Each create deletes the study's tokens older than
#: ``CREATE_TOKEN_LIFETIME`` (by the server's clock). Rows of a deleted study go with it.
trial_creates = sa.Table(
    CREATE_TOKENS_TABLE,
    metadata,
    sa.Column("token", sa.String(32), primary_key=True),
    sa.Column(
        "study_id",
        sa.Integer,
        sa.ForeignKey("studies.study_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("trial_id", sa.Integer, nullable=False),
    sa.Column(
        "created_at",
        sa.DateTime(timezone=True),
        server_default=sa.func.current_timestamp(),
        nullable=False,
    ),
    sa.Index("ix_trialstore_trial_creates_study_id_created_at", "study_id", "created_at"),
)

version_info = sa.Table(
    "version_info",
    metadata,
    sa.Column("version_info_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("schema_version", sa.Integer),
    sa.Column("library_version", sa.String(MAX_VERSION_LENGTH)),
    sa.CheckConstraint("version_info_id=1"),
)

#: Indexes trialstore adds to Optuna's schema: (table name, index).
EXTRA_INDEXES: tuple[sa.Index, ...] = tuple(
    index for index in trials.indexes if index.name != "ix_trials_study_id"
)
