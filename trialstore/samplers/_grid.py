"""GridSampler: every combination of given values, coordinated through the storage (private;
public: ``trialstore.samplers.GridSampler``)."""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

from trialstore._core import FrozenTrial, TrialState
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.logging import get_logger
from trialstore.samplers._args import check_seed
from trialstore.samplers._base import BaseSampler

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["GRID_ID_KEY", "SEARCH_SPACE_KEY", "GridSampler", "GridValueType"]

_logger = get_logger(__name__)

GridValueType = str | float | int | bool | None

#: The trial system attribute holding the index of the trial's grid point (Optuna's key).
GRID_ID_KEY = "grid_id"
#: The trial system attribute holding the grid's search space (Optuna's key).
SEARCH_SPACE_KEY = "search_space"
#: The trial system attribute of an enqueued trial's values (see ``Study.enqueue_trial``).
_FIXED_PARAMS_KEY = "fixed_params"

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
_STARTED = (*_FINISHED, TrialState.RUNNING)


class GridSampler(BaseSampler):
    """Run each combination of the values in ``search_space`` (a grid point) in one trial.

    The grid is the Cartesian product of the value lists, parameter names sorted, in the
    order of a seeded shuffle (seed ``seed``, or 0 when None); ``grid_id`` is a point's index
    in that order. Optuna 5.0's GridSampler builds the same grid for the same
    ``search_space`` and ``seed``.

    Workers coordinate through the storage alone, as Optuna's do, so trialstore and Optuna
    workers on one storage (any processes and machines) share one grid when their
    ``search_space`` and ``seed`` are equal. When a trial starts, the sampler reads the
    study's trials and writes two system attributes on the new trial:
    ``"search_space"`` (this grid's search space, names sorted) and ``"grid_id"``. Trials
    with another ``"search_space"`` (another grid) are ignored. The point is:

    1. the trial's number, when it is below the grid size and no trial has started that
       point. So while a study has only this grid's trials, and no more of them than the
       grid has points, trial ``k`` runs point ``k``: workers whose ``n_trials`` add up to
       the grid size cover it exactly once, whatever their timing;
    2. else a random point that no trial has started;
    3. else (every point started) a random point started but not finished: the point is run
       again, in case its worker died; if that worker is only slow, the point runs twice;
    4. else (every point finished) a random point, with a logged warning.

    In cases 2 and 3 two workers starting trials at the same moment can pick the same point
    (each reads the study before the other's choice is stored): the point then runs twice.
    That is Optuna's behaviour too. A trial counts a point as finished when it is COMPLETE,
    PRUNED or FAIL: a failed point is not run again (``RetryFailedTrialCallback`` re-enqueues
    it). When a trial finishes and every point is finished, the sampler calls
    ``study.stop()`` (in ``tell`` outside ``optimize`` this raises RuntimeError after the
    trial is stored). So ``optimize`` without ``n_trials`` ends once the grid is covered,
    each point at least once; several workers may run a few points twice near the end
    (case 3).

    Enqueued trials (``Study.enqueue_trial``) get no grid point: they must fix every
    parameter, and they do not mark a point as run. ``suggest_*`` of a name not in
    ``search_space`` raises ValueError; a grid value outside the suggested range is returned
    as given, with a UserWarning (``suggest_*`` then stores it if the storage accepts it).
    Thread-safe.

    Raises:
        ValueError: ``search_space`` is not a mapping of str names to non-empty sequences
            (not str) of None, bool, int, finite float or str values (NumPy scalars are
            converted); ``seed`` is not None or an int in ``[0, 2**32 - 1]``.
    """

    def __init__(
        self, search_space: Mapping[str, Sequence[GridValueType]], seed: int | None = None
    ) -> None:
        self._search_space = _check_search_space(search_space)
        seed = check_seed(seed)
        self._param_names = list(self._search_space)
        points = list(itertools.product(*self._search_space.values()))
        order = np.random.RandomState(0 if seed is None else seed).permutation(len(points))
        self._grid: list[tuple[Any, ...]] = [points[i] for i in order]
        self._rng = random.Random(seed)

    def reseed_rng(self) -> None:
        """Reseed the choice among free points from fresh entropy (the grid stays)."""
        self._rng.seed()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        """Choose the trial's grid point and store it on the trial (see the class docstring);
        nothing for an enqueued trial."""
        if _FIXED_PARAMS_KEY in trial.system_attrs:
            return
        finished, started = self._points(study, _STARTED)
        size = len(self._grid)
        if trial.number < size and trial.number not in started:
            grid_id = trial.number
        else:
            free = [i for i in range(size) if i not in started]
            if not free:
                free = [i for i in range(size) if i not in finished]
            if not free:
                _logger.warning(
                    "GridSampler is running a grid point again: every point of the grid has "
                    "finished (workers that started together, or a study run again)."
                )
                free = list(range(size))
            grid_id = self._rng.choice(free)
        attrs: list[tuple[str, JSONSerializable]] = [
            (
                SEARCH_SPACE_KEY,
                {name: list(values) for name, values in self._search_space.items()},
            ),
            (GRID_ID_KEY, grid_id),
        ]
        for key, value in attrs:
            study._storage.set_trial_system_attr(trial._trial_id, key, value)
            # The running trial's own record, kept current as Trial.set_system_attr does.
            trial.system_attrs[key] = value

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Return the value of ``param_name`` at the trial's grid point.

        Raises:
            ValueError: ``param_name`` is not in the search space, or the trial has no grid
                point (an enqueued trial that does not fix ``param_name``).
        """
        if param_name not in self._search_space:
            raise ValueError(
                f"The parameter {param_name!r} is not in the GridSampler's search space "
                f"(names: {self._param_names})."
            )
        grid_id = trial.system_attrs.get(GRID_ID_KEY)
        if not self._is_grid_id(grid_id):
            raise ValueError(
                f"The trial has no grid point to take {param_name!r} from: an enqueued trial "
                "must fix every parameter when the sampler is a GridSampler."
            )
        value = self._grid[grid_id][self._param_names.index(param_name)]
        try:
            contained = param_distribution._contains(param_distribution.to_internal_repr(value))
        except ValueError:
            contained = False
        if not contained:
            warnings.warn(
                f"The value `{value}` is out of range of the parameter `{param_name}`. The "
                f"value will be used but the actual distribution is: `{param_distribution}`.",
                UserWarning,
                stacklevel=2,
            )
        return value

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        """Call ``study.stop()`` when, with this trial finished, every point is finished.

        Raises:
            RuntimeError: from ``study.stop()`` outside ``optimize`` (the trial is still
                stored as finished by ``tell``).
        """
        finished, _ = self._points(study, _FINISHED)
        if self._is_ours(trial):
            finished.add(trial.system_attrs[GRID_ID_KEY])
        if len(finished) == len(self._grid):
            study.stop()

    def is_exhausted(self, study: Study) -> bool:
        """Return whether every grid point has a finished (COMPLETE, PRUNED or FAIL) trial
        in ``study``. One read of the study's trials."""
        finished, _ = self._points(study, _FINISHED)
        return len(finished) == len(self._grid)

    def _points(self, study: Study, states: tuple[TrialState, ...]) -> tuple[set[int], set[int]]:
        """Return the grid ids of this grid's trials in ``states``: (finished, all of them)."""
        finished: set[int] = set()
        started: set[int] = set()
        for t in study.get_trials(deepcopy=False, states=states):
            if self._is_ours(t):
                grid_id = t.system_attrs[GRID_ID_KEY]
                started.add(grid_id)
                if t.state.is_finished():
                    finished.add(grid_id)
        return finished, started

    def _is_ours(self, trial: FrozenTrial) -> bool:
        attrs = trial.system_attrs
        return (
            self._is_grid_id(attrs.get(GRID_ID_KEY))
            and attrs.get(SEARCH_SPACE_KEY) == self._search_space
        )

    def _is_grid_id(self, value: Any) -> TypeGuard[int]:
        return (
            isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(self._grid)
        )


def _check_search_space(search_space: Any) -> dict[str, list[Any]]:
    """Return ``search_space`` with sorted names and list values, NumPy scalars converted.

    Raises:
        ValueError: see :class:`GridSampler`.
    """
    if not isinstance(search_space, Mapping):
        raise ValueError(
            "search_space must be a dict of value lists by parameter name, got "
            f"{type(search_space).__name__}."
        )
    checked: dict[str, list[Any]] = {}
    for name in search_space:
        if not isinstance(name, str):
            raise ValueError(f"search_space: parameter names must be str, got {name!r}.")
    for name in sorted(search_space):
        values = search_space[name]
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
            raise ValueError(
                f"search_space[{name!r}] must be a list of values, got {type(values).__name__}."
            )
        if len(values) == 0:
            raise ValueError(f"search_space[{name!r}] is empty: give at least one value.")
        checked[name] = [_check_value(name, value) for value in values]
    return checked


def _check_value(name: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"search_space[{name!r}]: values must be finite, got {value!r}.")
        return value
    raise ValueError(
        f"search_space[{name!r}]: values must be None, bool, int, float or str, got {value!r} "
        f"of type {type(value).__name__}."
    )
