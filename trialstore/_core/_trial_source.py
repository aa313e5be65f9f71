"""Where a compact trial's parameters and intermediate values come from (private).

A storage reader that holds many finished trials may build them *compact*: instead of a dict
of parameters and one of intermediate values per trial, each trial refers to a shared
:class:`TrialSource` (e.g. the columns of a snapshot) that decodes them for one trial when
they are first read (see :class:`~trialstore._core.FrozenTrial`).
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["TrialSource"]


class TrialSource(Protocol):
    """Decodes the parameters and intermediate values of the trials it holds, by trial id.

    A source never changes once trials refer to it, and every call returns new dicts (the
    caller owns them), so trials may share a source freely, across threads too.
    """

    def params_of(self, trial_id: int) -> dict[str, Any]:
        """Return a new dict of the trial's parameters (external values).

        Raises:
            KeyError: the source holds no such trial.
        """
        ...

    def intermediate_values_of(self, trial_id: int) -> dict[int, float]:
        """Return a new dict of the trial's intermediate values by step.

        Raises:
            KeyError: the source holds no such trial.
        """
        ...
