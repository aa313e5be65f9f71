"""The pruner interface (private; public entry: ``trialstore.pruners.BasePruner``)."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["BasePruner"]


class BasePruner(abc.ABC):
    """Decides, from reported intermediate values, whether a running trial should stop.

    :meth:`prune` is called by ``Trial.should_prune()`` from the objective's thread; a pruner
    shared by the threads of ``optimize(n_jobs=...)`` must be thread-safe. ``trial`` is a
    read-only view.
    """

    @abc.abstractmethod
    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Return True if ``trial`` should be pruned now."""
