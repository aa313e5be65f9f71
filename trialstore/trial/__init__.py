"""Trials: the trial data model (and, with the study layer, the ``Trial`` handed to objectives)."""

from __future__ import annotations

from trialstore.trial._frozen import FrozenTrial
from trialstore.trial._state import TrialState

__all__ = ["FrozenTrial", "TrialState"]
