"""Type aliases shared across trialstore (private)."""

from __future__ import annotations

from typing import TypeAlias

JSONSerializable: TypeAlias = (
    dict[str, "JSONSerializable"] | list["JSONSerializable"] | str | int | float | bool | None
)

__all__ = ["JSONSerializable"]
