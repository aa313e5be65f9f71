"""Exceptions raised by trialstore.

Every error a storage raises on purpose is one of these, a :class:`KeyError` (an id or a name
that does not exist, or a trial that was deleted) or a :class:`ValueError` (an argument outside
what the protocol allows; the message names the argument and the allowed values). The same
types arrive on the far side of the gRPC proxy.
"""

from __future__ import annotations

__all__ = [
    "DuplicatedStudyError",
    "OptunaError",
    "StorageInternalError",
    "StorageNotFoundError",
    "TrialDeletedError",
    "TrialPruned",
    "TrialstoreError",
    "UpdateFinishedTrialError",
]


class TrialstoreError(Exception):
    """Base class of every trialstore-specific error."""


#: Alias kept so that scripts written for Optuna (``optuna.exceptions.OptunaError``) still run
#: after the textual replacement ``optuna`` -> ``trialstore``.
OptunaError = TrialstoreError


class TrialPruned(TrialstoreError):
    """Raised inside an objective function to stop the trial early and mark it PRUNED."""


class StorageInternalError(TrialstoreError):
    """The storage failed for a reason that is not the caller's input.

    Examples: a database that cannot be reached after the retries, a journal whose middle is
    corrupt, a server-side error of the gRPC proxy that maps to no other type. Whether the
    operation took effect is unknown unless the backend's documentation says otherwise.
    """


class StorageNotFoundError(TrialstoreError):
    """No storage exists where one was to be opened without creating it.

    Raised by :func:`trialstore.storage.open_storage` (and ``RDBStorage(...,
    skip_table_creation=True)``) for a missing journal file, a Redis prefix without a journal,
    a missing SQLite file or a database without trialstore's (Optuna's) tables. Nothing was
    created. The message names the place and how to create a storage there.
    """


class DuplicatedStudyError(TrialstoreError):
    """A study with the requested name already exists."""


class UpdateFinishedTrialError(TrialstoreError, RuntimeError):
    """A write was attempted on a trial that is already COMPLETE, PRUNED or FAIL."""


class TrialDeletedError(TrialstoreError, KeyError):
    """The trial named (by id, or by its study and number) was deleted with
    ``BaseStorage.delete_trials``.

    Every storage call naming a deleted trial raises it: reads (``get_trial``, the lookup of
    its id by number), writes (params, values, attributes, heartbeats, a claim) and a second
    deletion. The trial's worker gets it on its next write, and the study layer then drops
    the trial with one warning.

    It is a :class:`KeyError` because to every reader a deleted trial is a missing one: code
    written for Optuna's storages (or for trialstore before deletions existed) that catches
    KeyError for a trial that is not there keeps working, the error precedence of the
    protocol is unchanged (a deleted trial is a missing trial, reported before
    UpdateFinishedTrialError), and the gRPC proxy's NOT_FOUND status still maps to the same
    family. The subclass lets callers that care tell "deleted" from "never existed" (a reader
    scanning a study by number skips a deleted number instead of stopping there). A trial of
    a deleted *study* raises a plain KeyError.
    """
