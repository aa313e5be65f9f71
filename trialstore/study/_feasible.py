"""The best feasible trial of a constrained single-objective study (private)."""

from __future__ import annotations

from trialstore._core import FrozenTrial, StudyDirection, TrialState, is_feasible
from trialstore.storage.base import BaseStorage

__all__ = ["best_feasible_trial"]


def best_feasible_trial(
    storage: BaseStorage, study_id: int, direction: StudyDirection
) -> FrozenTrial:
    """Return a copy of the feasible COMPLETE trial with the best value (the lowest number
    among equals).

    Raises:
        ValueError: no COMPLETE trial is feasible.
    """
    feasible = [
        t
        for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if is_feasible(t)
    ]
    if not feasible:
        raise ValueError("No feasible trials are completed yet.")
    if direction == StudyDirection.MAXIMIZE:
        best = max(feasible, key=lambda t: (_value(t), -t.number))
    else:
        best = min(feasible, key=lambda t: (_value(t), t.number))
    return storage.get_trial(best._trial_id)


def _value(trial: FrozenTrial) -> float:
    values = trial.values
    assert values is not None  # COMPLETE
    return values[0]
