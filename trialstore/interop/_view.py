"""What the two Optuna views share (private): the exception mapping and the wrapper's plumbing.

:class:`ErrorMap` re-raises one library's exceptions as the other's; :class:`StorageView`
holds the wrapped storage and the shared snapshots of finished trials. Each view module states
its direction: which exceptions it maps and how it converts arguments and results, one
explicit method per storage method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["ErrorMap", "StorageView"]

_S = TypeVar("_S")
_T = TypeVar("_T")


class ErrorMap:
    """Context manager re-raising each ``source`` exception as ``convert(exception)``, chained
    to the original; other exceptions pass unchanged. Stateless, so one object serves every
    thread."""

    def __init__(
        self, source: type[BaseException], convert: Callable[[Any], BaseException]
    ) -> None:
        self._source = source
        self._convert = convert

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, self._source):
            raise self._convert(exc) from exc


class StorageView(Generic[_S, _T]):
    """Base of a view of a storage of type ``_S`` whose trials it returns as ``_T``.

    Holds the wrapped storage in ``_storage`` and a cache of converted finished trials (a
    finished trial never changes), which pickling leaves out.
    """

    def __init__(self, storage: _S) -> None:
        self._storage = storage
        self._finished: dict[int, _T] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_finished"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._storage!r})"

    def _forget_finished(self) -> None:
        """Drop every cached snapshot."""
        self._finished = {}

    def _converted_trials(
        self, trials: Iterable[Any], deepcopy: bool, convert: Callable[[Any], _T]
    ) -> list[_T]:
        """Return ``convert`` of each of ``trials`` (the other library's snapshots).

        With ``deepcopy`` every result is new. Without it, a finished trial's conversion is
        made once and the same object returned to every later call, so callers must not
        mutate it.
        """
        if deepcopy:
            return [convert(t) for t in trials]
        finished = self._finished
        converted = []
        for trial in trials:
            snapshot = finished.get(trial._trial_id)
            if snapshot is None:
                snapshot = convert(trial)
                if trial.state.is_finished():
                    finished[trial._trial_id] = snapshot
            converted.append(snapshot)
        return converted
