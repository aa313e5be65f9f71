"""RetryFailedTrialCallback: re-enqueue trials failed for a stale heartbeat (private; public
entry: ``trialstore.storage``)."""

from __future__ import annotations

from typing import Any, Protocol

from trialstore._core import FrozenTrial, TrialState, create_trial

__all__ = ["RetryFailedTrialCallback", "RetryHeartbeatStaleTrialCallback", "TrialAdder"]


class TrialAdder(Protocol):
    """What the retry callback needs of a study: a way to add a trial to it.

    :class:`trialstore.study.Study` (and Optuna's ``Study``) satisfy it.
    """

    def add_trial(self, trial: FrozenTrial) -> None:
        """Add ``trial`` (here a WAITING one) to the study."""


class RetryHeartbeatStaleTrialCallback:
    """A stale-trial callback that enqueues a WAITING copy of the failed trial.

    The copy has the failed trial's params, distributions and user attributes, and system
    attributes ``failed_trial`` (the number of the first trial of the retry series) and
    ``retry_history`` (the numbers of every earlier attempt, oldest first). With
    ``max_retry``, a series is not retried more than that many times.
    ``inherit_intermediate_values`` also copies the reported intermediate values.

    Use it with ``create_study(..., failed_trial_callback=...)`` or with a storage that takes
    ``failed_trial_callback`` (Optuna's RDBStorage shape).
    """

    def __init__(
        self, max_retry: int | None = None, inherit_intermediate_values: bool = False
    ) -> None:
        self._max_retry = max_retry
        self._inherit_intermediate_values = inherit_intermediate_values

    def __call__(self, study: TrialAdder, trial: FrozenTrial) -> None:
        """Enqueue the retry of ``trial`` unless it has been retried ``max_retry`` times."""
        system_attrs: dict[str, Any] = {
            "failed_trial": trial.number,
            "retry_history": [],
            **trial.system_attrs,
        }
        system_attrs["retry_history"] = [*system_attrs["retry_history"], trial.number]
        if self._max_retry is not None and self._max_retry < len(system_attrs["retry_history"]):
            return
        study.add_trial(
            create_trial(
                state=TrialState.WAITING,
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
                system_attrs=system_attrs,
                intermediate_values=(
                    trial.intermediate_values if self._inherit_intermediate_values else None
                ),
            )
        )

    @staticmethod
    def retried_trial_number(trial: FrozenTrial) -> int | None:
        """Return the number of the first trial of the retry series, or None if not a retry."""
        number: int | None = trial.system_attrs.get("failed_trial")
        return number

    @staticmethod
    def retry_history(trial: FrozenTrial) -> list[int]:
        """Return the numbers of the earlier attempts of ``trial``, oldest first."""
        history: list[int] = trial.system_attrs.get("retry_history", [])
        return history


#: Optuna's older name of :class:`RetryHeartbeatStaleTrialCallback`.
RetryFailedTrialCallback = RetryHeartbeatStaleTrialCallback
