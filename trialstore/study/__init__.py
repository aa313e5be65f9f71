"""Studies: :class:`Study` and the functions that create, load, copy and list them, with
Optuna's ``optuna.study`` names."""

from __future__ import annotations

from trialstore._core import FrozenStudy, StudyDirection
from trialstore.study._functions import (
    copy_study,
    create_study,
    delete_study,
    get_all_study_names,
    get_all_study_summaries,
    load_study,
)
from trialstore.study._max_trials import MaxTrialsCallback
from trialstore.study._study import ObjectiveFuncType, Study
from trialstore.study._summary import StudySummary

__all__ = [
    "FrozenStudy",
    "MaxTrialsCallback",
    "ObjectiveFuncType",
    "Study",
    "StudyDirection",
    "StudySummary",
    "copy_study",
    "create_study",
    "delete_study",
    "get_all_study_names",
    "get_all_study_summaries",
    "load_study",
]
