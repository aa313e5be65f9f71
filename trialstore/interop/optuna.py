"""Optuna on trialstore storages, and trialstore on Optuna's storages.

:func:`to_optuna` turns a trialstore storage into an object Optuna 5.0 accepts as a storage::

    import optuna
    from trialstore.interop.optuna import to_optuna
    from trialstore.storage import get_storage

    study = optuna.create_study(storage=to_optuna(get_storage("sqlite:///db.sqlite3")))

:func:`from_optuna` does the reverse: it wraps an Optuna storage (``InMemoryStorage``,
``JournalStorage``, ``RDBStorage``, ...) so that trialstore code, such as
:func:`trialstore.storage.clone_study` or the conformance suite, can use it.

Optuna is an optional dependency (``pip install trialstore[optuna]``): this module imports
without it, and the functions raise ImportError naming the extra when it is missing.
``docs/compatibility.md`` lists what differs between the two libraries.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from trialstore.storage import get_storage
from trialstore.storage.base import BaseStorage

if TYPE_CHECKING:
    import optuna

__all__ = ["from_optuna", "to_optuna"]


def _require_optuna() -> None:
    try:
        importlib.import_module("optuna")
    except ImportError as e:
        raise ImportError(
            "trialstore.interop.optuna needs Optuna: pip install 'trialstore[optuna]'"
        ) from e


def to_optuna(
    storage: BaseStorage | str,
    *,
    heartbeat_stale_trial_callback: Callable[[optuna.Study, optuna.trial.FrozenTrial], None]
    | None = None,
) -> optuna.storages.BaseStorage:
    """Return an Optuna storage that reads and writes ``storage``.

    ``storage`` is a trialstore storage or a trialstore storage URL (see
    :func:`trialstore.storage.get_storage`). The result is an instance of
    ``optuna.storages.BaseStorage``; when ``storage`` has heartbeats on, it is also Optuna's
    heartbeat base, so ``Study.optimize`` records heartbeats, fails stale trials before each
    new trial and then calls ``heartbeat_stale_trial_callback`` (for example Optuna's
    ``RetryFailedTrialCallback``) with each trial it failed.

    Each call of the result is one call of ``storage``, so atomicity, concurrency (threads,
    ``n_jobs``, processes) and durability are those of ``storage``. Types are converted both
    ways (the enumerations have the same values; distributions travel as their JSON text);
    trialstore's exceptions arrive as Optuna's of the same name, and KeyError and ValueError
    unchanged. The result pickles when ``storage`` does. A storage made by
    :func:`from_optuna` is unwrapped instead of wrapped twice.

    Raises:
        ValueError: ``heartbeat_stale_trial_callback`` is given but ``storage`` has heartbeats
            off; or the URL is not a known one.
        ImportError: Optuna is not installed.
    """
    _require_optuna()
    from trialstore.interop._from_optuna import TrialstoreView
    from trialstore.interop._to_optuna import OptunaHeartbeatView, OptunaView

    ts_storage = get_storage(storage)
    if isinstance(ts_storage, TrialstoreView) and heartbeat_stale_trial_callback is None:
        return ts_storage.optuna_storage
    if ts_storage.get_heartbeat_interval() is None:
        if heartbeat_stale_trial_callback is not None:
            raise ValueError(
                "heartbeat_stale_trial_callback needs a storage with heartbeats on "
                "(heartbeat_interval set); this storage has them off."
            )
        return OptunaView(ts_storage)
    return OptunaHeartbeatView(ts_storage, heartbeat_stale_trial_callback)


def from_optuna(optuna_storage: optuna.storages.BaseStorage | str) -> BaseStorage:
    """Return a trialstore storage that reads and writes ``optuna_storage``.

    ``optuna_storage`` is an Optuna storage object, or a URL that Optuna's own
    ``optuna.storages.get_storage`` accepts (an RDB URL). Arguments are checked by trialstore's
    rules before they reach the Optuna storage; atomicity, concurrency and durability are the
    Optuna storage's. Optuna's exceptions arrive as trialstore's of the same name.

    Heartbeats are on when the Optuna storage has them (RDBStorage with ``heartbeat_interval``)
    and off otherwise. A storage made by :func:`to_optuna` is unwrapped instead of wrapped
    twice. The result pickles when the Optuna storage does.

    Raises:
        ValueError: ``optuna_storage`` is neither an Optuna storage nor a string.
        ImportError: Optuna is not installed.
    """
    _require_optuna()
    import optuna

    from trialstore.interop._from_optuna import TrialstoreView
    from trialstore.interop._to_optuna import OptunaView

    if isinstance(optuna_storage, str):
        optuna_storage = optuna.storages.get_storage(optuna_storage)
    if isinstance(optuna_storage, OptunaView):
        return optuna_storage.trialstore_storage
    if not isinstance(optuna_storage, optuna.storages.BaseStorage):
        raise ValueError(
            "optuna_storage must be an optuna.storages.BaseStorage or a URL, got "
            f"{type(optuna_storage).__name__}."
        )
    return TrialstoreView(optuna_storage)
