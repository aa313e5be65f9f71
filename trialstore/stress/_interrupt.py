"""Ending a stress run early from outside: SIGINT or SIGTERM while the run phase holds."""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["StopRequest"]


class StopRequest:
    """While entered (in the main thread), SIGTERM and SIGINT ask the run to end early.

    The first signal sets :attr:`signal_name`; the run then stops its workers as at the end of
    its duration, removes what it set up (namespaces, forwarders, proxy), and checks and
    reports what ran. A second signal raises KeyboardInterrupt at once (the set-up is still
    removed, the run is not checked). Without this, SIGTERM ended the harness before it could
    remove its network namespaces.

    A SIGINT that was ignored on entry (a background job of a non-interactive shell) stays
    ignored. Outside the main thread nothing is installed (Python allows handlers there
    only), and :attr:`signal_name` stays None. Handlers are restored on exit.
    """

    _SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """Whether a signal has asked the run to end."""
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} received twice")
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in self._SIGNALS:
                previous = signal.getsignal(sig)
                if sig == signal.SIGINT and previous == signal.SIG_IGN:
                    continue
                self._previous[sig] = previous
                signal.signal(sig, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()
