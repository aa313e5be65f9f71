"""Samplers: how trials choose their parameter values (Optuna's ``optuna.samplers`` names).

:class:`TPESampler` is the default of :func:`trialstore.create_study`; :class:`RandomSampler`
samples uniformly. Write your own by subclassing :class:`BaseSampler`.
"""

from __future__ import annotations

from trialstore.samplers._base import BaseSampler
from trialstore.samplers._random import RandomSampler
from trialstore.samplers._tpe import TPESampler

__all__ = ["BaseSampler", "RandomSampler", "TPESampler"]
