"""The optimization direction enumeration (values equal Optuna's)."""

from __future__ import annotations

import enum

__all__ = ["StudyDirection"]


class StudyDirection(enum.IntEnum):
    """Direction of one objective. ``NOT_SET`` is never stored by trialstore."""

    NOT_SET = 0
    MINIMIZE = 1
    MAXIMIZE = 2

    def __repr__(self) -> str:
        return str(self)

    def __str__(self) -> str:
        return f"StudyDirection.{self.name}"
