"""MedianPruner (private; public entry: ``trialstore.pruners``)."""

from __future__ import annotations

import math
import operator
import statistics
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.pruners._base import BasePruner

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["MedianPruner"]


class MedianPruner(BasePruner):
    """Prune a trial whose best intermediate value so far is worse than the median of the
    values the COMPLETE trials reported at the trial's latest step (Optuna 5.0's decisions).

    Nothing is pruned while fewer than ``n_startup_trials`` trials (and at least one) are
    COMPLETE, before step ``n_warmup_steps``, or when fewer than ``n_min_trials`` COMPLETE
    trials reported a value at the step. A trial is judged once per interval: the pruning
    steps are ``n_warmup_steps + k * interval_steps``, and a report is judged when it is the
    trial's first report at or after the latest pruning step (so a trial that reports only
    every few steps is still judged once per interval). The best value is the smallest
    (largest when maximizing) reported value, NaN left out; a trial whose values are all NaN
    is pruned. NaN values of the COMPLETE trials are left out of the median (they still count
    toward ``n_min_trials``); a value equal to the median is kept.

    Raises:
        ValueError: ``n_startup_trials`` or ``n_warmup_steps`` is not an int >= 0,
            ``interval_steps`` or ``n_min_trials`` not an int >= 1 (NumPy ints are ints).
    """

    def __init__(
        self,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        *,
        n_min_trials: int = 1,
    ) -> None:
        self._n_startup_trials = _check_int("n_startup_trials", n_startup_trials, 0)
        self._n_warmup_steps = _check_int("n_warmup_steps", n_warmup_steps, 0)
        self._interval_steps = _check_int("interval_steps", interval_steps, 1)
        self._n_min_trials = _check_int("n_min_trials", n_min_trials, 1)

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Return True if the trial's best value so far is worse than the median at its
        latest step (see the class docstring for when a trial is judged).

        Raises:
            RuntimeError: the study has several objectives.
        """
        if len(study.directions) > 1:
            raise RuntimeError("MedianPruner does not support multi-objective studies.")
        completed = study._storage.get_all_trials(
            study._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
        )
        if not completed or len(completed) < self._n_startup_trials:
            return False
        step = trial.last_step
        if step is None or not self._judged_at(step, trial):
            return False
        maximize = study.directions[0] == StudyDirection.MAXIMIZE
        reported = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
        if not reported:
            return True
        best = max(reported) if maximize else min(reported)
        at_step = [t.intermediate_values[step] for t in completed if step in t.intermediate_values]
        if len(at_step) < self._n_min_trials:
            return False
        finite = [v for v in at_step if not math.isnan(v)]
        if not finite:
            return False
        median = statistics.median(finite)
        return best < median if maximize else best > median

    def _judged_at(self, step: int, trial: FrozenTrial) -> bool:
        """Whether ``step``, the trial's latest, is its first report at or after the latest
        pruning step (none before the warm-up)."""
        if step < self._n_warmup_steps:
            return False
        since_warmup = step - self._n_warmup_steps
        pruning_step = self._n_warmup_steps + since_warmup // self._interval_steps * (
            self._interval_steps
        )
        previous = max((s for s in trial.intermediate_values if s != step), default=-1)
        return previous < pruning_step


def _check_int(name: str, value: Any, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) >= ``minimum``.

    Raises:
        ValueError: naming ``name``, otherwise.
    """
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if isinstance(value, bool) or number is None or number < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return number
