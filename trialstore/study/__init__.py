"""Studies: the study data model (and, with the study layer, ``Study`` and its functions)."""

from __future__ import annotations

from trialstore.study._direction import StudyDirection
from trialstore.study._frozen import FrozenStudy

__all__ = ["FrozenStudy", "StudyDirection"]
