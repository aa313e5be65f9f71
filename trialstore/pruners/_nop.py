"""NopPruner (private; public entry: ``trialstore.pruners``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial
from trialstore.pruners._base import BasePruner

if TYPE_CHECKING:
    from trialstore.study import Study

__all__ = ["NopPruner"]


class NopPruner(BasePruner):
    """A pruner that never prunes."""

    def prune(self, study: Study, trial: FrozenTrial) -> bool:
        """Return False."""
        return False
