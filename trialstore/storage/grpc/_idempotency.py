"""Server-side table that makes retried writes run once (private).

A client sends every write with a request id (metadata ``trialstore-request-id``, a uuid4) and
sends the same id again when it retries the call after a connection error or a timeout. The
table remembers the outcome of the last ``capacity`` ids: a repeated id gets the first
attempt's reply (waiting for it if that attempt is still running) instead of running again.

The table lives in the server's memory, so the guarantee holds while the server process lives:
across dropped connections, client timeouts and a *graceful* stop (which finishes the calls in
flight before it closes, so a call is either answered or never started). A server that dies
between committing a write and sending the reply forgets the id. Trial creates, the one write
whose repetition is not harmless, are covered durably too: the trial is created with its
request id in the system attribute ``CREATE_REQUEST_ATTR`` (same atomic write), and a create
sent again (metadata ``trialstore-resent``) that the table does not know first looks for a
trial carrying its id. The server hides that attribute from every trial it sends.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from trialstore.exceptions import DuplicatedStudyError, UpdateFinishedTrialError

__all__ = ["CREATE_REQUEST_ATTR", "IdempotencyTable"]

T = TypeVar("T")

#: System attribute holding the request id of the create that made a trial through the
#: extension service. Reserved: the server never sends it, and a template's own value for it
#: is replaced.
CREATE_REQUEST_ATTR = "trialstore:create_request_id"

#: Errors that a re-run would raise again: they are remembered. Any other error (a backend
#: failure) forgets the id, so that a retry runs the write again.
_DETERMINISTIC = (KeyError, ValueError, DuplicatedStudyError, UpdateFinishedTrialError)


class _Outcome:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class IdempotencyTable:
    """Remembers the outcome of the last ``capacity`` request ids. Thread-safe."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}.")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._outcomes: collections.OrderedDict[str, _Outcome] = collections.OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._outcomes)

    def run(self, key: str | None, write: Callable[[], T]) -> T:
        """Return ``write()``, or the remembered outcome of an earlier call with ``key``.

        ``key=None`` always runs ``write``. Concurrent calls with one key run ``write`` once;
        the others wait for it and return (or raise) the same.
        """
        if key is None:
            return write()
        with self._lock:
            outcome = self._outcomes.get(key)
            owner = outcome is None
            if outcome is None:
                outcome = self._outcomes[key] = _Outcome()
                while len(self._outcomes) > self._capacity:
                    self._outcomes.popitem(last=False)
        if not owner:
            outcome.done.wait()
            if outcome.error is not None:
                raise outcome.error
            return outcome.result  # type: ignore[no-any-return]
        try:
            outcome.result = write()
        except BaseException as e:
            outcome.error = e
            if not isinstance(e, _DETERMINISTIC):
                with self._lock:
                    if self._outcomes.get(key) is outcome:
                        del self._outcomes[key]
            raise
        finally:
            outcome.done.set()
        return outcome.result  # type: ignore[no-any-return]
