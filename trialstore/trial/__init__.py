"""Trials: what an objective receives (:class:`Trial`) and what storages return
(:class:`FrozenTrial`), with Optuna's ``optuna.trial`` names."""

from __future__ import annotations

from trialstore.trial._create import create_trial
from trialstore.trial._frozen import FrozenTrial
from trialstore.trial._state import TrialState
from trialstore.trial._trial import Trial

__all__ = ["FrozenTrial", "Trial", "TrialState", "create_trial"]
