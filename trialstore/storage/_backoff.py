"""Backoff between the attempts of one call, within a time budget (private).

One helper for every retry loop of the storage layer (RDB transactions, gRPC calls), so that
they all wait the same way: the first pause is short, each next one doubles up to a ceiling,
and each is jittered by ±50% so that workers that failed together do not retry together.
"""

from __future__ import annotations

import random
import time

__all__ = ["Backoff"]


class Backoff:
    """The pauses of one call's retries, which must begin within ``budget`` seconds of the
    object's creation. Not shared between threads: each call makes its own."""

    __slots__ = ("_deadline", "_delay", "_last")

    def __init__(self, budget: float, *, first: float = 0.005, last: float = 1.0) -> None:
        self._deadline = time.monotonic() + budget
        self._delay = first
        self._last = last

    def pause(self) -> bool:
        """Sleep before the next attempt and return True; return False at once, without
        sleeping, when that attempt would begin after the budget is spent."""
        pause = self._delay * (0.5 + random.random())
        if time.monotonic() + pause > self._deadline:
            return False
        time.sleep(pause)
        self._delay = min(self._delay * 2, self._last)
        return True
