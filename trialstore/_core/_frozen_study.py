"""FrozenStudy: an immutable snapshot of a study's metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trialstore._core._direction import StudyDirection
from trialstore._core._study_info import BaseStudyInfo

__all__ = ["FrozenStudy"]


class FrozenStudy(BaseStudyInfo):
    """A study as a storage returned it: name, id, directions and attributes.

    Exactly one of ``direction`` and ``directions`` is given (else ValueError). Snapshots
    compare equal when all their fields are equal, and order by ``study_id``.
    """

    def __init__(
        self,
        study_name: str,
        direction: StudyDirection | None,
        user_attrs: dict[str, Any],
        system_attrs: dict[str, Any],
        study_id: int,
        *,
        directions: Sequence[StudyDirection] | None = None,
    ) -> None:
        super().__init__(
            study_name=study_name,
            direction=direction,
            directions=directions,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
            study_id=study_id,
        )
