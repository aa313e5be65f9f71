"""A storage for tests of the study layer: records its trial writes in order."""

from __future__ import annotations

from typing import Any

from trialstore.storage import InMemoryStorage

__all__ = ["Recording"]


class Recording(InMemoryStorage):
    """InMemoryStorage that records its trial writes in order, as (method, trial id)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writes: list[tuple[str, int]] = []

    def set_trial_param(self, trial_id: int, *args: Any) -> None:
        self.writes.append(("set_trial_param", trial_id))
        super().set_trial_param(trial_id, *args)

    def set_trial_params(self, trial_id: int, params: Any) -> None:
        self.writes.append(("set_trial_params", trial_id))
        super().set_trial_params(trial_id, params)

    def set_trial_intermediate_value(self, trial_id: int, *args: Any) -> None:
        self.writes.append(("set_trial_intermediate_value", trial_id))
        super().set_trial_intermediate_value(trial_id, *args)

    def set_trial_user_attr(self, trial_id: int, *args: Any) -> None:
        self.writes.append(("set_trial_user_attr", trial_id))
        super().set_trial_user_attr(trial_id, *args)

    def set_trial_system_attr(self, trial_id: int, *args: Any) -> None:
        self.writes.append(("set_trial_system_attr", trial_id))
        super().set_trial_system_attr(trial_id, *args)

    def set_trial_state_values(self, trial_id: int, *args: Any) -> bool:
        self.writes.append(("set_trial_state_values", trial_id))
        return super().set_trial_state_values(trial_id, *args)

    def methods(self) -> list[str]:
        return [method for method, _ in self.writes]
