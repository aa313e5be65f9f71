"""The generic adapter behind the two Optuna views (private): a storage of one library seen
through the other's storage interface.

:class:`StorageView` holds the wrapped storage and implements every read (and
``delete_study``, ``remove_session``) for both directions: it passes the call on, maps the
wrapped library's exceptions (:class:`ErrorMap`) and converts states in and trials,
directions and studies out, as the view's :class:`Conversions` say. Each view module states
its direction: its conversions, and the writes, where the directions differ (which library
checks the arguments, in which order the errors come).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Conversions", "ErrorMap", "StorageView"]


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


_T = TypeVar("_T")
_State = TypeVar("_State")
_Direction = TypeVar("_Direction")
_Study = TypeVar("_Study", bound=_Ordered)


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


@dataclass(frozen=True)
class Conversions(Generic[_T, _State, _Direction, _Study]):
    """One direction of a view: how the wrapped storage's exceptions, trials, directions and
    studies leave as the view's (types ``_T``, ``_Direction``, ``_Study``), and how the view's
    states (``_State``) and state filters reach the wrapped storage."""

    errors: ErrorMap
    trial: Callable[[Any], _T]
    direction: Callable[[Any], _Direction]
    study: Callable[[Any], _Study]
    state: Callable[[_State], Any]
    #: A ``states`` filter: None, a state, or a collection of states.
    states: Callable[[Any], Any]


class _Wrapped(Protocol):
    """What :class:`StorageView` calls on the storage it wraps (either library's storage)."""

    def delete_study(self, study_id: int) -> None: ...
    def get_study_id_from_name(self, study_name: str) -> int: ...
    def get_study_name_from_id(self, study_id: int) -> str: ...
    def get_study_directions(self, study_id: int) -> Sequence[Any]: ...
    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]: ...
    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]: ...
    def get_all_studies(self) -> Sequence[Any]: ...
    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int: ...
    def get_trial_number_from_id(self, trial_id: int) -> int: ...
    def get_trial_param(self, trial_id: int, param_name: str) -> float: ...
    def get_trial(self, trial_id: int) -> Any: ...
    def get_all_trials(self, study_id: int, deepcopy: bool, states: Any) -> Sequence[Any]: ...
    def get_n_trials(self, study_id: int, state: Any) -> int: ...
    def get_best_trial(self, study_id: int) -> Any: ...
    def get_trial_params(self, trial_id: int) -> dict[str, Any]: ...
    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]: ...
    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]: ...
    def remove_session(self) -> None: ...
    def check_trial_is_updatable(self, trial_id: int, trial_state: Any) -> None: ...


_S = TypeVar("_S", bound=_Wrapped)


class StorageView(Generic[_S, _T, _State, _Direction, _Study]):
    """Base of a view of a storage of type ``_S``, returning trials as ``_T``, taking states as
    ``_State`` and returning directions and studies as ``_Direction`` and ``_Study``.

    A subclass sets :attr:`_conversions` and defines the writes. Holds the wrapped storage in
    ``_storage`` and a cache of converted finished trials (a finished trial never changes),
    which pickling leaves out. Every method here is one call to the wrapped storage, so the
    view is as thread-safe as the storage it wraps. Attributes and parameters come back as new
    dicts.
    """

    #: The view's direction.
    _conversions: Conversions[_T, _State, _Direction, _Study]

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

    # -- studies ----------------------------------------------------------------------------

    def delete_study(self, study_id: int) -> None:
        with self._conversions.errors:
            self._storage.delete_study(study_id)
        self._forget_finished()

    def get_study_id_from_name(self, study_name: str) -> int:
        with self._conversions.errors:
            return self._storage.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        with self._conversions.errors:
            return self._storage.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[_Direction]:
        with self._conversions.errors:
            directions = self._storage.get_study_directions(study_id)
        return [self._conversions.direction(d) for d in directions]

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        with self._conversions.errors:
            return dict(self._storage.get_study_user_attrs(study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        with self._conversions.errors:
            return dict(self._storage.get_study_system_attrs(study_id))

    def get_all_studies(self) -> list[_Study]:
        """Every study, ordered by id (as both libraries' studies sort)."""
        with self._conversions.errors:
            studies = self._storage.get_all_studies()
        return sorted(self._conversions.study(s) for s in studies)

    # -- trials -----------------------------------------------------------------------------

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        with self._conversions.errors:
            return self._storage.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        with self._conversions.errors:
            return self._storage.get_trial_number_from_id(trial_id)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        with self._conversions.errors:
            return float(self._storage.get_trial_param(trial_id, param_name))

    def get_trial(self, trial_id: int) -> _T:
        with self._conversions.errors:
            trial = self._storage.get_trial(trial_id)
        return self._conversions.trial(trial)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[_State] | None = None,
    ) -> list[_T]:
        with self._conversions.errors:
            trials = self._storage.get_all_trials(
                study_id, deepcopy=deepcopy, states=self._conversions.states(states)
            )
        return self._converted_trials(trials, deepcopy, self._conversions.trial)

    def get_n_trials(self, study_id: int, state: tuple[_State, ...] | _State | None = None) -> int:
        with self._conversions.errors:
            return self._storage.get_n_trials(study_id, self._conversions.states(state))

    def get_best_trial(self, study_id: int) -> _T:
        with self._conversions.errors:
            trial = self._storage.get_best_trial(study_id)
        return self._conversions.trial(trial)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        with self._conversions.errors:
            return dict(self._storage.get_trial_params(trial_id))

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        with self._conversions.errors:
            return dict(self._storage.get_trial_user_attrs(trial_id))

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        with self._conversions.errors:
            return dict(self._storage.get_trial_system_attrs(trial_id))

    def remove_session(self) -> None:
        with self._conversions.errors:
            self._storage.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: _State) -> None:
        with self._conversions.errors:
            self._storage.check_trial_is_updatable(trial_id, self._conversions.state(trial_state))
