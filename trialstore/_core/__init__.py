"""The data model every layer shares: trial states, study directions, frozen trials and
studies (and the base a study's summary shares with its snapshot), building and copying
frozen trials, and how constraints are stored (private; the ground floor).

This package imports nothing of trialstore's but the other ground-floor modules
(:mod:`trialstore.distributions`, :mod:`trialstore.exceptions`), so the storage layer and
everything above it can use these types. Users import them where Optuna has them:
``trialstore.trial`` (``FrozenTrial``, ``TrialState``) and ``trialstore.study``
(``StudyDirection``, ``FrozenStudy``).
"""

from __future__ import annotations

from trialstore._core._constraints import (
    constraint_attr,
    constraints_from_system_attrs,
    is_feasible,
    warn_constraint_already_set,
)
from trialstore._core._copy import copy_trial
from trialstore._core._create import create_trial, new_running_trial
from trialstore._core._direction import StudyDirection
from trialstore._core._frozen_study import FrozenStudy
from trialstore._core._frozen_trial import FrozenTrial
from trialstore._core._intern import DistributionsInterner, compact_trial
from trialstore._core._state import TrialState
from trialstore._core._study_info import BaseStudyInfo
from trialstore._core._trial_source import TrialSource

__all__ = [
    "BaseStudyInfo",
    "DistributionsInterner",
    "FrozenStudy",
    "FrozenTrial",
    "StudyDirection",
    "TrialSource",
    "TrialState",
    "compact_trial",
    "constraint_attr",
    "constraints_from_system_attrs",
    "copy_trial",
    "create_trial",
    "is_feasible",
    "new_running_trial",
    "warn_constraint_already_set",
]
