"""Pruners: stop unpromising trials early (Optuna's ``optuna.pruners`` names).

:class:`MedianPruner` is the default of :func:`trialstore.create_study`; :class:`NopPruner`
never prunes. Write your own by subclassing :class:`BasePruner`.
"""

from __future__ import annotations

from trialstore.pruners._base import BasePruner
from trialstore.pruners._median import MedianPruner
from trialstore.pruners._nop import NopPruner

__all__ = ["BasePruner", "MedianPruner", "NopPruner"]
