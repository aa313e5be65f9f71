"""FrozenStudy: an immutable snapshot of a study's metadata."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trialstore._core._direction import StudyDirection

__all__ = ["FrozenStudy"]


class FrozenStudy:
    """A study as a storage returned it: name, id, directions and attributes.

    Exactly one of ``direction`` and ``directions`` is given. Snapshots compare equal when all
    their fields are equal, and order by ``study_id``.
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
        if (direction is None) == (directions is None):
            raise ValueError("FrozenStudy: give exactly one of direction and directions.")
        self.study_name = study_name
        self._directions = [direction] if direction is not None else list(directions or ())
        self.user_attrs = user_attrs
        self.system_attrs = system_attrs
        self._study_id = study_id

    @property
    def direction(self) -> StudyDirection:
        """The single direction. Raises RuntimeError for a multi-objective study."""
        if len(self._directions) > 1:
            raise RuntimeError(
                "This attribute is not available during multi-objective optimization."
            )
        return self._directions[0]

    @property
    def directions(self) -> list[StudyDirection]:
        """All directions, one per objective."""
        return list(self._directions)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, FrozenStudy):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, FrozenStudy):
            return NotImplemented
        return self._study_id < other._study_id

    def __le__(self, other: Any) -> bool:
        if not isinstance(other, FrozenStudy):
            return NotImplemented
        return self._study_id <= other._study_id

    def __hash__(self) -> int:
        return hash(self._study_id)

    def __repr__(self) -> str:
        return (
            f"FrozenStudy(study_name={self.study_name!r}, directions={self._directions!r}, "
            f"user_attrs={self.user_attrs!r}, system_attrs={self.system_attrs!r}, "
            f"study_id={self._study_id!r})"
        )
