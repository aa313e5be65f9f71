"""A multivariate Parzen estimator: a mixture of product kernels, one per observation (private).

Each observation contributes one component whose dimensions are independent kernels: a
truncated Gaussian per numeric dimension (the adaptive bandwidth of Bergstra et al. 2011, see
``_parzen``, computed per dimension) and a smoothed point mass per categorical dimension. A
prior component (centre of the domain, the width as deviation; uniform over categories) keeps
the density positive everywhere. Sampling a
candidate picks one component and draws every dimension from it, so good combinations of values
are kept together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from trialstore.samplers._parzen import neighbor_sigmas, normal_cdf

__all__ = ["CategoricalDim", "MultivariateParzen", "NumericDim"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_FloatArray = npt.NDArray[np.float64]


class NumericDim:
    """A numeric dimension on the modelling interval ``[low, high]``."""

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high


class CategoricalDim:
    """A categorical dimension with ``n_choices`` choices (values are indices)."""

    def __init__(self, n_choices: int) -> None:
        self.n_choices = n_choices


class MultivariateParzen:
    """The mixture for observations ``points`` (one row per observation, one column per dim)."""

    def __init__(
        self,
        points: _FloatArray,
        weights: _FloatArray,
        dims: Sequence[NumericDim | CategoricalDim],
        *,
        prior_weight: float = 1.0,
        magic_clip: bool = True,
    ) -> None:
        n = points.shape[0]
        w = np.append(weights.astype(np.float64), prior_weight)
        self._log_w = np.log(w / w.sum())
        self._weights = w / w.sum()
        self._dims = list(dims)
        self._params: list[tuple[_FloatArray, _FloatArray, _FloatArray] | _FloatArray] = []
        for j, dim in enumerate(dims):
            column = points[:, j]
            if isinstance(dim, NumericDim):
                width = dim.high - dim.low
                mus = np.append(column, 0.5 * (dim.low + dim.high))
                minimum = width / min(100.0, 2.0 + n) if magic_clip else width * 1e-6
                sigmas = np.append(neighbor_sigmas(column, dim.low, dim.high, minimum), width)
                mass = normal_cdf((dim.high - mus) / sigmas) - normal_cdf((dim.low - mus) / sigmas)
                self._params.append((mus, sigmas, np.log(np.maximum(mass, 1e-300))))
            else:
                k = dim.n_choices
                probs = np.full((n + 1, k), prior_weight / k)
                probs[np.arange(n), column.astype(int)] += 1.0
                probs /= probs.sum(axis=1, keepdims=True)
                self._params.append(np.log(probs))

    def sample(self, rng: np.random.RandomState, size: int) -> _FloatArray:
        """Return ``size`` candidates (rows), each drawn from one component."""
        ks = rng.choice(len(self._weights), size=size, p=self._weights)
        out = np.empty((size, len(self._dims)))
        for j, (dim, params) in enumerate(zip(self._dims, self._params, strict=True)):
            if isinstance(dim, NumericDim):
                assert isinstance(params, tuple)
                mus, sigmas = params[0][ks], params[1][ks]
                draws = rng.normal(mus, sigmas)
                for _ in range(100):
                    outside = (draws < dim.low) | (draws > dim.high)
                    if not outside.any():
                        break
                    draws[outside] = rng.normal(mus[outside], sigmas[outside])
                out[:, j] = np.clip(draws, dim.low, dim.high)
            else:
                assert isinstance(params, np.ndarray)
                cumulative = np.cumsum(np.exp(params[ks]), axis=1)
                u = rng.uniform(size=size)[:, None] * cumulative[:, -1:]
                out[:, j] = np.minimum((cumulative < u).sum(axis=1), dim.n_choices - 1)
        return out

    def log_pdf(self, x: _FloatArray) -> _FloatArray:
        """Return the log density of each candidate row of ``x``."""
        total = np.tile(self._log_w, (x.shape[0], 1))
        for j, (dim, params) in enumerate(zip(self._dims, self._params, strict=True)):
            if isinstance(dim, NumericDim):
                assert isinstance(params, tuple)
                mus, sigmas, log_norm = params
                z = (x[:, j : j + 1] - mus[None, :]) / sigmas[None, :]
                total += -0.5 * z * z - np.log(sigmas)[None, :] - _LOG_SQRT_2PI - log_norm
            else:
                assert isinstance(params, np.ndarray)
                total += params[:, x[:, j].astype(int)].T
        peak = total.max(axis=1)
        result: _FloatArray = peak + np.log(np.exp(total - peak[:, None]).sum(axis=1))
        return result
