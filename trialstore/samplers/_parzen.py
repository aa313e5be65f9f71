"""A one-dimensional truncated Gaussian mixture (adaptive Parzen estimator) for TPE (private).

Each observation is the centre of one Gaussian; a prior Gaussian sits at the middle of the
domain with the domain's width as its deviation. The deviation of an observation's Gaussian is
the larger distance to its neighbours among the sorted observations, clipped to
``[width / min(100, 2 + n), width]``: this is the adaptive Parzen estimator of Bergstra et
al., "Algorithms for Hyper-Parameter Optimization" (NeurIPS 2011). The mixture is truncated to
the domain.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["ParzenEstimator", "neighbor_sigmas", "normal_cdf"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_FloatArray = npt.NDArray[np.float64]


def normal_cdf(z: _FloatArray) -> _FloatArray:
    """Return the standard normal CDF at each point of ``z``."""
    return np.array([0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in z], dtype=np.float64)


def neighbor_sigmas(
    mus: _FloatArray, low: float, high: float, minimum: float, *, endpoints: bool = False
) -> _FloatArray:
    """Return each centre's bandwidth: the larger distance to its neighbours in sorted order,
    clipped to ``[minimum, high - low]``. The domain bounds count as neighbours when
    ``endpoints`` is set; otherwise an extreme centre uses its one inner neighbour."""
    n = len(mus)
    if n == 0:
        return np.empty(0)
    order = np.argsort(mus, kind="stable")
    padded = np.concatenate(([low], mus[order], [high]))
    sorted_sigmas = np.maximum(padded[1:-1] - padded[:-2], padded[2:] - padded[1:-1])
    if not endpoints and n >= 2:
        sorted_sigmas[0] = padded[2] - padded[1]
        sorted_sigmas[-1] = padded[-2] - padded[-3]
    sigmas = np.empty(n)
    sigmas[order] = sorted_sigmas
    return np.clip(sigmas, minimum, high - low)


class ParzenEstimator:
    """A weighted mixture of truncated Gaussians on ``[low, high]`` (``low < high``)."""

    def __init__(
        self,
        observations: _FloatArray,
        weights: _FloatArray,
        low: float,
        high: float,
        *,
        prior_weight: float = 1.0,
        magic_clip: bool = True,
    ) -> None:
        width = high - low
        centre = 0.5 * (low + high)
        observed = observations.astype(np.float64)
        mus = np.append(observed, centre)
        w = np.append(weights.astype(np.float64), prior_weight)
        n = len(observations)
        minimum = width / min(100.0, 2.0 + n) if magic_clip else width * 1e-6
        self._sigmas = np.append(neighbor_sigmas(observed, low, high, minimum), width)
        self._mus = mus
        self._weights = w / w.sum()
        self._low = low
        self._high = high
        mass = normal_cdf((high - mus) / self._sigmas) - normal_cdf((low - mus) / self._sigmas)
        self._log_norm = np.log(np.maximum(mass, 1e-300))

    def sample(self, rng: np.random.RandomState, size: int) -> _FloatArray:
        """Return ``size`` draws from the truncated mixture."""
        ks = rng.choice(len(self._weights), size=size, p=self._weights)
        mus, sigmas = self._mus[ks], self._sigmas[ks]
        draws = rng.normal(mus, sigmas)
        for _ in range(100):
            outside = (draws < self._low) | (draws > self._high)
            if not outside.any():
                break
            draws[outside] = rng.normal(mus[outside], sigmas[outside])
        return np.clip(draws, self._low, self._high)

    def log_pdf(self, x: _FloatArray) -> _FloatArray:
        """Return the log density of the truncated mixture at each point of ``x``."""
        z = (x[:, None] - self._mus[None, :]) / self._sigmas[None, :]
        log_components = (
            -0.5 * z * z
            - np.log(self._sigmas)[None, :]
            - _LOG_SQRT_2PI
            - self._log_norm[None, :]
            + np.log(self._weights)[None, :]
        )
        peak = log_components.max(axis=1)
        result: _FloatArray = peak + np.log(np.exp(log_components - peak[:, None]).sum(axis=1))
        return result
