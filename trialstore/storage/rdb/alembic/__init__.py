"""Alembic migrations of the RDB schema (revision ids are Optuna's, the code trialstore's)."""
