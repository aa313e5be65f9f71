"""trialstore: a storage engine for parallel and distributed hyperparameter optimization.

The top level mirrors Optuna's, so that a script written for Optuna runs after replacing
``optuna`` with ``trialstore`` and ``storages`` with ``storage``.
"""

from __future__ import annotations

from trialstore import (
    distributions,
    exceptions,
    logging,
    pruners,
    samplers,
    storage,
    study,
    trial,
)
from trialstore.exceptions import TrialPruned
from trialstore.study import (
    Study,
    copy_study,
    create_study,
    delete_study,
    get_all_study_names,
    get_all_study_summaries,
    load_study,
)
from trialstore.trial import Trial, create_trial
from trialstore.version import __version__

__all__ = [
    "Study",
    "Trial",
    "TrialPruned",
    "__version__",
    "copy_study",
    "create_study",
    "create_trial",
    "delete_study",
    "distributions",
    "exceptions",
    "get_all_study_names",
    "get_all_study_summaries",
    "load_study",
    "logging",
    "pruners",
    "samplers",
    "storage",
    "study",
    "trial",
]
