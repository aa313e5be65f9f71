"""StudySummary: a study's metadata with trial counts (private; public via trialstore.study)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from trialstore._core import BaseStudyInfo, FrozenTrial, StudyDirection

__all__ = ["StudySummary"]


class StudySummary(BaseStudyInfo):
    """What :func:`get_all_study_summaries` returns for each study.

    Exactly one of ``direction`` and ``directions`` is given (else ValueError). ``best_trial``
    is None for a study with several objectives, without COMPLETE trials, or when not
    requested; ``datetime_start`` is the earliest start of its trials (None without started
    trials). Summaries compare equal when all their fields are equal, and order by
    ``study_id``; a summary never equals a :class:`FrozenStudy`.
    """

    def __init__(
        self,
        study_name: str,
        direction: StudyDirection | None,
        best_trial: FrozenTrial | None,
        user_attrs: dict[str, Any],
        system_attrs: dict[str, Any],
        n_trials: int,
        datetime_start: datetime.datetime | None,
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
        self.best_trial = best_trial
        self.n_trials = n_trials
        self.datetime_start = datetime_start

    def _repr_fields(self) -> list[tuple[str, Any]]:
        return [
            ("study_name", self.study_name),
            ("directions", self._directions),
            ("n_trials", self.n_trials),
            ("study_id", self._study_id),
        ]
