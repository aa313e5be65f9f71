"""Samplers: how trials choose their parameter values (Optuna's ``optuna.samplers`` names).

:class:`TPESampler` is the default of :func:`trialstore.create_study`; :class:`RandomSampler`
samples uniformly; :class:`GridSampler` runs every combination of given values (its workers
share the grid through the storage); :class:`PartialFixedSampler` fixes some parameters and
lets another sampler choose the rest. Write your own by subclassing :class:`BaseSampler`.
"""

from __future__ import annotations

from trialstore.samplers._base import BaseSampler
from trialstore.samplers._grid import GridSampler
from trialstore.samplers._partial_fixed import PartialFixedSampler
from trialstore.samplers._random import RandomSampler
from trialstore.samplers._tpe import TPESampler

__all__ = ["BaseSampler", "GridSampler", "PartialFixedSampler", "RandomSampler", "TPESampler"]
