"""MedianPruner (private; public entry: ``trialstore.pruners``)."""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.pruners._base import BasePruner

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["MedianPruner"]


class MedianPruner(BasePruner):
    """Prune a trial whose latest intermediate value is worse than the median of the COMPLETE
    trials' values reported at the same step.

    Nothing is pruned before ``n_startup_trials`` trials have completed, before step
    ``n_warmup_steps``, at steps not on the ``interval_steps`` grid counted from the warm-up,
    or when fewer than ``n_min_trials`` completed trials reported at that step. A NaN
    intermediate value is always pruned.

    Raises:
        ValueError: a negative ``n_startup_trials`` or ``n_warmup_steps``, an ``interval_steps``
            or ``n_min_trials`` below 1.
    """

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        if n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be >= 0, got {n_startup_trials}.")
        if n_warmup_steps < 0:
            raise ValueError(f"n_warmup_steps must be >= 0, got {n_warmup_steps}.")
        if interval_steps < 1:
            raise ValueError(f"interval_steps must be >= 1, got {interval_steps}.")
        if n_min_trials < 1:
            raise ValueError(f"n_min_trials must be >= 1, got {n_min_trials}.")
        self._n_startup_trials = n_startup_trials
        self._n_warmup_steps = n_warmup_steps
        self._interval_steps = interval_steps
        self._n_min_trials = n_min_trials

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Return True if the trial's latest value is worse than the median at its step.

        Raises:
            RuntimeError: the study has several objectives.
        """
        if len(study.directions) > 1:
            raise RuntimeError("MedianPruner does not support multi-objective studies.")
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        if (step - self._n_warmup_steps) % self._interval_steps != 0:
            return False
        value = trial.intermediate_values[step]
        if math.isnan(value):
            return True
        completed = study._storage.get_all_trials(
            study._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
        )
        if len(completed) < self._n_startup_trials:
            return False
        at_step = [
            v
            for t in completed
            if (v := t.intermediate_values.get(step)) is not None and not math.isnan(v)
        ]
        if len(at_step) < self._n_min_trials:
            return False
        median = statistics.median(at_step)
        if study.directions[0] == StudyDirection.MAXIMIZE:
            return value < median
        return value > median
