"""The trial whose round trips the backends' tests count (tests/storage/*/test_*_round_trips.py):
the bench's shape, :data:`N_PARAMS` float parameters and ``reports`` intermediate values."""

from __future__ import annotations

from collections.abc import Callable

from trialstore.trial import Trial

__all__ = ["N_PARAMS", "objective"]

N_PARAMS = 5


def objective(reports: int) -> Callable[[Trial], float]:
    """An objective that suggests :data:`N_PARAMS` floats and reports ``reports`` values."""

    def run(trial: Trial) -> float:
        values = [trial.suggest_float(f"x{i}", -10.0, 10.0) for i in range(N_PARAMS)]
        for step in range(reports):
            trial.report(float(step), step)
        return float(sum((value - i) ** 2 for i, value in enumerate(values)))

    return run
