"""BaseStudyInfo: what a study's snapshot and its summary share (private)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from trialstore._core._direction import StudyDirection

__all__ = ["BaseStudyInfo"]


class BaseStudyInfo:
    """A study's name, id, directions and attributes, as a storage returned them.

    Each direct subclass is a kind of its own (``FrozenStudy``, ``StudySummary``). Exactly one
    of ``direction`` and ``directions`` is given. Two objects of one kind (its class or a
    subclass of it) compare equal when all their fields are equal; they order by ``study_id``
    and hash by it. Objects of different kinds are never equal and do not order. The repr
    and the error messages name the kind.

    Subclasses add their fields as instance attributes and say which fields their repr shows
    (:meth:`_repr_fields`).

    Raises:
        ValueError: both or neither of ``direction`` and ``directions`` are given (the message
            names the subclass).
    """

    #: The direct subclass this object's class is or derives from.
    _kind: ClassVar[type[BaseStudyInfo]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if BaseStudyInfo in cls.__bases__:
            cls._kind = cls

    def __init__(
        self,
        *,
        study_name: str,
        direction: StudyDirection | None,
        directions: Sequence[StudyDirection] | None,
        user_attrs: dict[str, Any],
        system_attrs: dict[str, Any],
        study_id: int,
    ) -> None:
        if (direction is None) == (directions is None):
            raise ValueError(
                f"{self._kind.__name__}: give exactly one of direction and directions."
            )
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
        """All directions, one per objective (a copy)."""
        return list(self._directions)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, self._kind):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, self._kind):
            return NotImplemented
        return self._study_id < other._study_id

    def __le__(self, other: Any) -> bool:
        if not isinstance(other, self._kind):
            return NotImplemented
        return self._study_id <= other._study_id

    def __hash__(self) -> int:
        return hash(self._study_id)

    def _repr_fields(self) -> list[tuple[str, Any]]:
        """The (name, value) pairs the repr shows, in order."""
        return [
            ("study_name", self.study_name),
            ("directions", self._directions),
            ("user_attrs", self.user_attrs),
            ("system_attrs", self.system_attrs),
            ("study_id", self._study_id),
        ]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self._repr_fields())
        return f"{self._kind.__name__}({fields})"


BaseStudyInfo._kind = BaseStudyInfo
