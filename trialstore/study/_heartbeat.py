"""Heartbeats of running trials and failing of stale ones (private)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial
from trialstore.exceptions import StorageInternalError, UpdateFinishedTrialError
from trialstore.logging import get_logger
from trialstore.storage.base import BaseStorage

if TYPE_CHECKING:
    from trialstore.study._study import Study

__all__ = ["HeartbeatThread", "fail_stale_trials", "stale_trial_callback"]

_logger = get_logger(__name__)

StaleTrialCallback = Callable[["Study", FrozenTrial], None]


class HeartbeatThread:
    """A context manager that records the trial's heartbeat every interval while it is open.

    Does nothing when the storage has heartbeats off. The first beat is recorded before the
    context is entered; the thread stops (and is joined) when the context exits or when the
    trial is found finished.
    """

    def __init__(self, trial_id: int, storage: BaseStorage) -> None:
        self._trial_id = trial_id
        self._storage = storage
        self._interval = storage.get_heartbeat_interval()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> None:
        if self._interval is None:
            return
        self._beat()
        self._thread = threading.Thread(
            target=self._run, name=f"trialstore-heartbeat-{self._trial_id}", daemon=True
        )
        self._thread.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def _run(self) -> None:
        assert self._interval is not None
        while not self._stop.wait(self._interval):
            if not self._beat():
                return

    def _beat(self) -> bool:
        try:
            self._storage.record_heartbeat(self._trial_id)
        except (KeyError, UpdateFinishedTrialError):
            return False
        except Exception as e:  # a transient storage error must not kill the trial
            _logger.debug(f"Heartbeat of trial id {self._trial_id} failed: {e!r}")
        return True


def stale_trial_callback(study: Study) -> StaleTrialCallback | None:
    """Return the callback to run on each trial failed for a stale heartbeat, or None.

    The study's own ``failed_trial_callback`` wins; otherwise the storage's, found as Optuna
    names it (``get_heartbeat_stale_trial_callback()``, ``get_failed_trial_callback()``) or as
    an attribute ``failed_trial_callback`` / ``heartbeat_stale_trial_callback``.
    """
    if study._failed_trial_callback is not None:
        return study._failed_trial_callback
    storage = study._storage
    for getter in ("get_heartbeat_stale_trial_callback", "get_failed_trial_callback"):
        method = getattr(storage, getter, None)
        if callable(method):
            found = method()
            if found is not None:
                return found  # type: ignore[no-any-return]
    for attribute in ("heartbeat_stale_trial_callback", "failed_trial_callback"):
        found = getattr(storage, attribute, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


def fail_stale_trials(study: Study) -> list[int]:
    """Fail the study's stale RUNNING trials, run the stale-trial callback on each one this call
    failed, and return their ids (no-op when the storage has heartbeats off)."""
    storage = study._storage
    if storage.get_heartbeat_interval() is None:
        return []
    try:
        failed = storage.fail_stale_trials(study._study_id)
    except StorageInternalError as e:
        # Which trials the call failed is not known (e.g. a call sent again to a restarted
        # gRPC proxy): they stay failed, without their callback. The study goes on.
        _logger.warning("Stale trials may have been failed without their callback: %s", e)
        return []
    callback = stale_trial_callback(study) if failed else None
    for trial_id in failed:
        if callback is not None:
            callback(study, storage.get_trial(trial_id))
    return failed
