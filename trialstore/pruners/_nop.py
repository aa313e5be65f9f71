"""NopPruner (private; public entry: ``trialstore.pruners``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialstore.pruners._base import BasePruner
from trialstore.trial._frozen import FrozenTrial

if TYPE_CHECKING:
    from trialstore.study._study import Study

__all__ = ["NopPruner"]


class NopPruner(BasePruner):
    """A pruner that never prunes."""

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Return False."""
        return False
