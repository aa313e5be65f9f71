"""Trials: what an objective receives (:class:`Trial`, or :class:`FixedTrial` to run it with
given values; both are :class:`BaseTrial`) and what storages return (:class:`FrozenTrial`),
with Optuna's ``optuna.trial`` names."""

from __future__ import annotations

from trialstore._core import FrozenTrial, TrialState, create_trial
from trialstore.trial._base import BaseTrial
from trialstore.trial._fixed import FixedTrial
from trialstore.trial._trial import Trial

__all__ = ["BaseTrial", "FixedTrial", "FrozenTrial", "Trial", "TrialState", "create_trial"]
