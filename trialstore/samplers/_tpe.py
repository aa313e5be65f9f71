"""TPESampler: Tree-structured Parzen Estimator, joint or per parameter (private).

Written from the description in Bergstra et al., "Algorithms for Hyper-Parameter
Optimization" (NeurIPS 2011): the finished trials are split by loss into a good group (the best
``gamma(n)``) and the rest; each group's values of a parameter define a Parzen density, ``l`` and
``g``; the sampler draws candidates from ``l`` and keeps the one maximising ``l(x) / g(x)``
(which maximises expected improvement).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.samplers._args import check_int, check_positive_float, check_seed
from trialstore.samplers._base import BaseSampler
from trialstore.samplers._multivariate import CategoricalDim, MultivariateParzen, NumericDim
from trialstore.samplers._parzen import ParzenEstimator
from trialstore.samplers._random import sample_uniform

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["TPESampler", "default_gamma", "default_weights"]


def default_gamma(n: int) -> int:
    """Return the size of the good group for ``n`` observations: ``min(ceil(0.1 n), 25)``."""
    return min(math.ceil(0.1 * n), 25)


def default_weights(n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Return observation weights, oldest first: flat for ``n < 25``, else a linear ramp up to
    the 25 most recent, which weigh 1 (the "linear forgetting" of Bergstra et al., 2013)."""
    if n < 25:
        return np.ones(n)
    return np.concatenate((np.linspace(1.0 / n, 1.0, num=n - 25), np.ones(25)))


class _Observation:
    __slots__ = ("internal", "loss", "number")

    def __init__(self, number: int, internal: float, loss: float) -> None:
        self.number = number
        self.internal = internal
        self.loss = loss


class TPESampler(BaseSampler):
    """Independent univariate TPE; random sampling for the first ``n_startup_trials``.

    By default (one objective) the parameters that every COMPLETE trial has are modelled
    jointly; the others, or all of them with ``multivariate=False``, each on its own from the
    COMPLETE trials that have it (PRUNED trials join the bad group). Numeric parameters are
    modelled in log space when ``log`` is set and on the continuous hull of their grid when
    stepped; categorical ones by smoothed frequencies. Studies with several objectives are
    sampled at random. Thread-safe.

    Args:
        n_startup_trials: trials sampled at random before the model is used.
        n_ei_candidates: candidates drawn from ``l`` per suggestion.
        gamma: size of the good group for ``n`` observations.
        weights: observation weights for ``n`` observations, oldest first.
        prior_weight: weight of the prior component of each density.
        consider_magic_clip: lower-bound the bandwidths by ``width / min(100, 1 + n)``.
        seed: seed of the random number generator.
        multivariate: model the parameters that every COMPLETE trial shares jointly (a
            mixture of product kernels); others stay univariate. None (the default) means
            True for one objective and False for several, like Optuna 5.0.

    Raises:
        ValueError: naming the argument: ``n_startup_trials`` is not an int >= 0,
            ``n_ei_candidates`` not an int >= 1, ``prior_weight`` not a finite number > 0,
            ``gamma`` or ``weights`` not callable, ``consider_magic_clip`` not a bool,
            ``multivariate`` not None or a bool, ``seed`` not None or an int in
            ``[0, 2**32 - 1]``.
    """

    def __init__(
        self,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: Callable[[int], int] = default_gamma,
        weights: Callable[[int], np.ndarray[Any, np.dtype[np.float64]]] = default_weights,
        prior_weight: float = 1.0,
        consider_magic_clip: bool = True,
        seed: int | None = None,
        multivariate: bool | None = None,
    ) -> None:
        for name, function in (("gamma", gamma), ("weights", weights)):
            if not callable(function):
                raise ValueError(
                    f"{name} must be a function of the number of observations, got {function!r}."
                )
        if not isinstance(consider_magic_clip, bool):
            raise ValueError(f"consider_magic_clip must be a bool, got {consider_magic_clip!r}.")
        if multivariate is not None and not isinstance(multivariate, bool):
            raise ValueError(f"multivariate must be None or a bool, got {multivariate!r}.")
        seed = check_seed(seed)
        self._n_startup_trials = check_int("n_startup_trials", n_startup_trials, 0)
        self._n_ei_candidates = check_int("n_ei_candidates", n_ei_candidates, 1)
        self._gamma = gamma
        self._weights = weights
        self._prior_weight = check_positive_float("prior_weight", prior_weight)
        self._magic_clip = consider_magic_clip
        self._rng = np.random.RandomState(seed)
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._multivariate = multivariate

    def reseed_rng(self) -> None:
        """Reseed both generators from fresh entropy."""
        with self._lock:
            self._rng.seed()
            self._random.seed()

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """Return a TPE suggestion for ``param_name`` (uniform while the model has too few
        observations)."""
        if len(study.directions) > 1 or param_distribution.single():
            with self._lock:
                return sample_uniform(param_distribution, self._random)
        good, bad = self._split(study, trial, param_name, param_distribution)
        if good is None or bad is None:
            with self._lock:
                return sample_uniform(param_distribution, self._random)
        with self._lock:
            if isinstance(param_distribution, CategoricalDistribution):
                return self._sample_categorical(param_distribution, good, bad)
            return self._sample_numeric(param_distribution, good, bad)

    # -- multivariate ----------------------------------------------------------------------------

    def _is_multivariate(self, study: Study) -> bool:
        if self._multivariate is not None:
            return self._multivariate
        return len(study.directions) == 1

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Return the parameters (with their distributions) of every COMPLETE trial, when
        multivariate; distributions that admit one value are left out."""
        if not self._is_multivariate(study) or len(study.directions) > 1:
            return {}
        space: dict[str, BaseDistribution] | None = None
        for t in self._finished_trials(study, trial):
            if t.state != TrialState.COMPLETE:
                continue
            if space is None:
                space = {n: d for n, d in t.distributions.items() if not d.single()}
            else:
                space = {n: d for n, d in space.items() if t.distributions.get(n) == d}
            if not space:
                return {}
        return space or {}

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Return jointly sampled values for ``search_space`` (nothing during start-up)."""
        if not search_space:
            return {}
        sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
        names = list(search_space)
        rows: list[tuple[float, int, list[float]]] = []
        for t in self._finished_trials(study, trial):
            if t.state != TrialState.COMPLETE or t.values is None:
                continue
            row = []
            for name in names:
                dist = search_space[name]
                if name not in t.params:
                    break
                row.append(_to_model(dist, dist.to_internal_repr(t.params[name])))
            else:
                rows.append((sign * t.values[0], t.number, row))
        if len(rows) < self._n_startup_trials:
            return {}
        rows.sort(key=lambda r: (r[0], r[1]))
        n_good = max(1, min(self._gamma(len(rows)), len(rows)))
        good = sorted(rows[:n_good], key=lambda r: r[1])
        bad = sorted(rows[n_good:], key=lambda r: r[1])
        dims = [_model_dim(search_space[name]) for name in names]
        with self._lock:
            l_est = MultivariateParzen(
                np.asarray([r[2] for r in good], dtype=np.float64).reshape(len(good), len(names)),
                np.ones(len(good)),
                dims,
                prior_weight=self._prior_weight,
                magic_clip=self._magic_clip,
            )
            g_est = MultivariateParzen(
                np.asarray([r[2] for r in bad], dtype=np.float64).reshape(len(bad), len(names)),
                np.asarray(self._weights(len(bad)), dtype=np.float64),
                dims,
                prior_weight=self._prior_weight,
                magic_clip=self._magic_clip,
            )
            candidates = l_est.sample(self._rng, self._n_ei_candidates)
            scores = l_est.log_pdf(candidates) - g_est.log_pdf(candidates)
            best = candidates[int(np.argmax(scores))]
        return {
            name: _from_model(search_space[name], float(best[j])) for j, name in enumerate(names)
        }

    # -- observations --------------------------------------------------------------------------

    def _finished_trials(self, study: Study, trial: FrozenTrial) -> list[FrozenTrial]:
        cached = getattr(self._local, "cache", None)
        if cached is not None and cached[0] == (study._study_id, trial._trial_id):
            trials: list[FrozenTrial] = cached[1]
            return trials
        trials = study._storage.get_all_trials(
            study._study_id, deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        )
        self._local.cache = ((study._study_id, trial._trial_id), trials)
        return trials

    def _split(
        self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution
    ) -> tuple[list[_Observation] | None, list[_Observation] | None]:
        sign = -1.0 if study.directions[0] == StudyDirection.MAXIMIZE else 1.0
        complete: list[_Observation] = []
        pruned: list[_Observation] = []
        for t in self._finished_trials(study, trial):
            known = t.distributions.get(name)
            if known is None or not _compatible(known, dist):
                continue
            internal = known.to_internal_repr(t.params[name])
            if t.state == TrialState.COMPLETE and t.values is not None:
                complete.append(_Observation(t.number, internal, sign * t.values[0]))
            elif t.state == TrialState.PRUNED:
                pruned.append(_Observation(t.number, internal, math.inf))
        if len(complete) < self._n_startup_trials:
            return None, None
        complete.sort(key=lambda o: (o.loss, o.number))
        n_good = max(1, min(self._gamma(len(complete)), len(complete)))
        good = sorted(complete[:n_good], key=lambda o: o.number)
        bad = sorted(complete[n_good:] + pruned, key=lambda o: o.number)
        return good, bad

    # -- numeric -------------------------------------------------------------------------------

    def _sample_numeric(
        self, dist: BaseDistribution, good: list[_Observation], bad: list[_Observation]
    ) -> Any:
        assert isinstance(dist, (FloatDistribution, IntDistribution))
        low, high, to_model, from_model = _model_space(dist)
        l_est = self._estimator([to_model(o.internal) for o in good], low, high, True)
        g_est = self._estimator([to_model(o.internal) for o in bad], low, high, False)
        candidates = l_est.sample(self._rng, self._n_ei_candidates)
        scores = l_est.log_pdf(candidates) - g_est.log_pdf(candidates)
        best = float(candidates[int(np.argmax(scores))])
        return _to_grid(dist, from_model(best))

    def _estimator(self, xs: list[float], low: float, high: float, good: bool) -> ParzenEstimator:
        weights = np.ones(len(xs)) if good else self._weights(len(xs))
        return ParzenEstimator(
            np.asarray(xs, dtype=np.float64),
            np.asarray(weights, dtype=np.float64),
            low,
            high,
            prior_weight=self._prior_weight,
            magic_clip=self._magic_clip,
        )

    # -- categorical ---------------------------------------------------------------------------

    def _sample_categorical(
        self, dist: CategoricalDistribution, good: list[_Observation], bad: list[_Observation]
    ) -> Any:
        k = len(dist.choices)
        l_probs = self._frequencies(good, k, np.ones(len(good)))
        g_probs = self._frequencies(bad, k, self._weights(len(bad)))
        candidates = self._rng.choice(k, size=self._n_ei_candidates, p=l_probs)
        scores = np.log(l_probs[candidates]) - np.log(g_probs[candidates])
        return dist.choices[int(candidates[int(np.argmax(scores))])]

    def _frequencies(
        self, obs: list[_Observation], k: int, weights: np.ndarray[Any, np.dtype[np.float64]]
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        counts = np.full(k, self._prior_weight / k)
        for o, w in zip(obs, weights, strict=True):
            counts[int(o.internal)] += w
        result: np.ndarray[Any, np.dtype[np.float64]] = counts / counts.sum()
        return result


def _compatible(a: BaseDistribution, b: BaseDistribution) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, CategoricalDistribution):
        return a == b
    assert isinstance(a, (FloatDistribution, IntDistribution))
    assert isinstance(b, (FloatDistribution, IntDistribution))
    return a.log == b.log


def _model_space(
    dist: FloatDistribution | IntDistribution,
) -> tuple[float, float, Callable[[float], float], Callable[[float], float]]:
    """Return the modelling interval and the maps into and out of it."""
    half = 0.0
    if isinstance(dist, IntDistribution):
        half = 0.5 if dist.log else 0.5 * dist.step
    elif dist.step is not None:
        half = 0.5 * dist.step
    low, high = dist.low - half, dist.high + half
    if dist.log:
        return math.log(low), math.log(high), math.log, math.exp
    return low, high, (lambda x: x), (lambda x: x)


def _model_dim(dist: BaseDistribution) -> NumericDim | CategoricalDim:
    if isinstance(dist, CategoricalDistribution):
        return CategoricalDim(len(dist.choices))
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    low, high, _, _ = _model_space(dist)
    return NumericDim(low, high)


def _to_model(dist: BaseDistribution, internal: float) -> float:
    if isinstance(dist, CategoricalDistribution):
        return internal
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    return _model_space(dist)[2](internal)


def _from_model(dist: BaseDistribution, x: float) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(x)]
    assert isinstance(dist, (FloatDistribution, IntDistribution))
    return _to_grid(dist, _model_space(dist)[3](x))


def _to_grid(dist: FloatDistribution | IntDistribution, x: float) -> Any:
    if isinstance(dist, IntDistribution):
        if dist.log:
            return min(max(round(x), dist.low), dist.high)
        k = round((x - dist.low) / dist.step)
        return min(max(dist.low + k * dist.step, dist.low), dist.high)
    if dist.step is not None:
        k = round((x - dist.low) / dist.step)
        return min(max(dist.low + k * dist.step, dist.low), dist.high)
    return min(max(x, dist.low), dist.high)
