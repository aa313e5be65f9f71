"""trialstore: a storage engine for parallel and distributed hyperparameter optimization."""

from __future__ import annotations

from trialstore import distributions, exceptions, storage, study, trial
from trialstore.version import __version__

__all__ = [
    "__version__",
    "distributions",
    "exceptions",
    "storage",
    "study",
    "trial",
]
