"""Trials: what an objective receives (:class:`Trial`, or :class:`FixedTrial` to run it with
given values; both are :class:`BaseTrial`) and what storages return (:class:`FrozenTrial`),
with Optuna's ``optuna.trial`` names; and :class:`ParamBatches`, where a Study object's
trials keep their parameters until they are written (``param_writes="at_tell"``)."""

from __future__ import annotations

from trialstore._core import FrozenTrial, TrialState, create_trial
from trialstore.trial._base import BaseTrial
from trialstore.trial._fixed import FixedTrial
from trialstore.trial._param_batches import ParamBatches
from trialstore.trial._trial import Trial

__all__ = [
    "BaseTrial",
    "FixedTrial",
    "FrozenTrial",
    "ParamBatches",
    "Trial",
    "TrialState",
    "create_trial",
]
