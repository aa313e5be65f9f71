"""MaxTrialsCallback: stop optimizing once a study holds enough trials (private)."""

from __future__ import annotations

from collections.abc import Container
from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial, TrialState

if TYPE_CHECKING:
    from trialstore.study._study import Study

__all__ = ["MaxTrialsCallback"]


class MaxTrialsCallback:
    """An ``optimize`` callback that calls ``study.stop()`` once the study has ``n_trials``
    trials in ``states`` (COMPLETE by default; None counts every state), counting the trials
    of every worker sharing the storage."""

    def __init__(
        self, n_trials: int, states: Container[TrialState] | None = (TrialState.COMPLETE,)
    ) -> None:
        self._n_trials = n_trials
        self._states = states

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        """Stop ``study`` if it has reached the trial count."""
        if len(study.get_trials(deepcopy=False, states=self._states)) >= self._n_trials:
            study.stop()
