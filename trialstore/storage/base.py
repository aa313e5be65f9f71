"""The storage protocol: :class:`BaseStorage`.

``docs/protocol.md`` is the long form of this contract and
:mod:`trialstore.conformance` its executable form; the docstrings here are the short form.
The method names and meanings are Optuna's, so a storage written for one library can serve the
other through :mod:`trialstore.interop.optuna`; the heartbeat methods are trialstore's addition
and every backend supports them.

Common rules, stated once:

* Ids are ints, never reused within one storage, not even after a delete. A missing id or name
  raises :class:`KeyError`; a trial deleted by :meth:`BaseStorage.delete_trials` raises
  :class:`~trialstore.exceptions.TrialDeletedError`, a KeyError, wherever it is named.
* An argument outside the protocol raises :class:`ValueError` naming the argument and what is
  allowed, *before* anything is written: stored data never changes on a rejected call.
* When several errors apply, the first of these wins: ValueError for arguments checkable
  without stored state; KeyError; UpdateFinishedTrialError; ValueError that needs stored state
  (value count vs directions, a distribution incompatible with the study's earlier one).
* Every write is atomic: afterwards it is either wholly visible or not at all, to every reader.
* Read-your-writes: once a write returns, every later read through the same storage object
  observes it. Through other storage objects (other processes), every read that starts after
  the write returned observes it, except with caching clients: their reads of a study reflect
  every write acknowledged before their previous sync of that study.
* Objects returned (FrozenTrial, FrozenStudy, dicts, lists) are snapshots; later writes never
  change them. ``deepcopy=False`` only allows a storage to share one snapshot between callers,
  who must then not mutate it.
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Container, Mapping, Sequence
from typing import Any

from trialstore._core import FrozenStudy, FrozenTrial, StudyDirection, TrialState
from trialstore._typing import JSONSerializable
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.validation import (
    check_params,
    check_running_template,
    check_state_values,
    check_template,
)

__all__ = ["BaseStorage"]

#: A finished single-objective trial's ``[value]``.
_VALUES = operator.attrgetter("_values")


class BaseStorage(abc.ABC):
    """A place where studies and their trials live, shared by threads, processes or machines.

    Implementations must be safe to call from many threads at once on one object, and (unless
    their documentation says otherwise) from many processes each with its own object.

    Trial state machine: a trial is created WAITING (from a template) or RUNNING.
    WAITING -> RUNNING is a *claim*: of many concurrent callers exactly one gets True.
    WAITING or RUNNING -> COMPLETE, PRUNED or FAIL finishes it; a finished trial never changes.
    Only unfinished trials take params, intermediate values and attributes. A trial in any
    state may be deleted (:meth:`delete_trials`): it then leaves the study for good.
    """

    #: True when ``get_trial_id_from_study_id_trial_number`` and ``get_trial`` are local and
    #: cheap (no round trip), so a reader that knows how far it has read may fetch only the
    #: trials after that point one by one instead of listing the study. A hint for the study
    #: layer; it changes no result.
    cheap_trial_lookup: bool = False

    # -- studies ----------------------------------------------------------------------------

    @abc.abstractmethod
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        """Create a study and return its id.

        ``study_name=None`` makes a name ``"no-name-<uuid4>"``. Names are at most 512
        characters; ``""`` is a valid name.

        Raises:
            DuplicatedStudyError: a study with this name exists (of several concurrent creators
                of one name exactly one succeeds).
            ValueError: ``directions`` is empty or holds anything but MINIMIZE and MAXIMIZE;
                ``study_name`` is not a str or is longer than 512 characters.
        """

    @abc.abstractmethod
    def delete_study(self, study_id: int) -> None:
        """Delete a study with its trials. Its name becomes free; its ids are never reused.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set one user attribute of a study, replacing any earlier value of ``key``.

        The value read back equals ``json.loads(json.dumps(value))``.

        Raises:
            KeyError: no such study.
            ValueError: ``key`` is not a str of at most 512 characters, or ``value`` is not
                JSON-serializable.
        """

    @abc.abstractmethod
    def set_study_system_attr(self, study_id: int, key: str, value: JSONSerializable) -> None:
        """Set one system attribute of a study; same rules as :meth:`set_study_user_attr`."""

    @abc.abstractmethod
    def get_study_id_from_name(self, study_name: str) -> int:
        """Return the id of the study named ``study_name``.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def get_study_name_from_id(self, study_id: int) -> str:
        """Return the name of the study.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        """Return the study's directions, one per objective.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        """Return a new dict of the study's user attributes.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        """Return a new dict of the study's system attributes.

        Raises:
            KeyError: no such study.
        """

    @abc.abstractmethod
    def get_all_studies(self) -> list[FrozenStudy]:
        """Return every study that exists, ordered by study id."""

    # -- trials -----------------------------------------------------------------------------

    @abc.abstractmethod
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        """Create a trial in a study and return its id.

        Without a template the trial is RUNNING with ``datetime_start`` now. With one, the
        trial copies the template's state, values, datetimes, params, distributions,
        attributes and intermediate values; the template's number and id are ignored.
        The trial's number is the count of trials created in the study before it (deleted
        ones included): numbers are unique per study under any concurrency, never reused, and
        dense until trials are deleted.

        Raises:
            KeyError: no such study.
            ValueError: the template is inconsistent (the rules are listed under
                ``create_new_trial`` in docs/protocol.md; a template may be in any state), its
                values do not match the number of directions, or a distribution is incompatible
                with the study's earlier one of that name.
        """

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        """Delete trials of a study, in any state, all or nothing.

        Once it returns, no read that begins later, through any storage object in any
        process, returns the trials: every call naming one (``get_trial``, writes, the lookup
        of its id by number, a second deletion) raises TrialDeletedError, and listings, counts
        and ``get_best_trial`` leave them out. Their ids and numbers are never handed out
        again: later trials number on from the highest number ever given in the study. A
        deleted WAITING trial is never claimed; a deleted RUNNING trial's worker gets
        TrialDeletedError on its next write (heartbeats included). An empty ``trial_ids``
        deletes nothing, but the study is checked (KeyError).

        This default raises NotImplementedError, so a storage written before deletions
        existed keeps working for everything else; trialstore's in-memory and journal
        backends override it.

        Raises:
            ValueError: ``trial_ids`` is not a sequence of ints, or holds an id twice.
            KeyError: no such study; an id that names no trial of this study (a missing
                trial, or one of another study). Nothing is deleted.
            TrialDeletedError: an id names a trial of this study that was deleted already (a
                KeyError, reported as such in the order above). Nothing is deleted.
            NotImplementedError: the storage cannot delete trials.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement delete_trials.")

    def create_trial_or_list_waiting(
        self, study_id: int, template_trial: FrozenTrial | None = None
    ) -> int | list[int]:
        """Start a trial unless the study has enqueued ones: return the id of a new RUNNING
        trial (as :meth:`create_new_trial` makes it, from ``template_trial`` when given) when
        the study has no WAITING trial; else return the WAITING trials' ids ordered by
        number, creating nothing. The caller claims one of them
        (``set_trial_state_values(id, RUNNING)``) and, if every claim is lost to other
        callers, calls again.

        One round trip where the backend can (the gRPC client: one call; PostgreSQL: one
        transaction); the default lists the WAITING trials, then creates. Not atomic: a trial
        enqueued while this runs may be missed, and a trial created by it then numbers after
        that one. Numbers of created trials are unique and dense under concurrency, as with
        :meth:`create_new_trial`.

        Raises:
            KeyError: no such study.
            ValueError: ``template_trial`` is not None and not a FrozenTrial whose state is
                RUNNING, or :meth:`create_new_trial` rejects it; nothing is stored. (The count
                of its values against the study's directions is checked only when a trial is
                created; the rest before anything is read or written.)
        """
        check_running_template(template_trial)
        if template_trial is not None:
            template_trial = check_template(template_trial)
        waiting = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
        if waiting:
            return [t._trial_id for t in waiting]
        return self.create_new_trial(study_id, template_trial)

    @abc.abstractmethod
    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        """Set one parameter of an unfinished trial (internal representation).

        The value is stored whether or not it lies inside ``distribution``'s range (as Optuna's
        storages do: an enqueued value outside the range of a ``suggest_*`` call is used as
        given); it must be one the distribution can represent.

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: ``param_name`` is not a str of at most 512 characters; the value is not
                a finite number, or ``distribution`` cannot represent it (a categorical index
                that names no choice; on a log scale, a Float value <= 0 or an Int value
                < 1); ``distribution`` is incompatible with one already used for
                ``param_name`` in the study.
        """

    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, BaseDistribution]]
    ) -> None:
        """Set several parameters of an unfinished trial at once: ``params`` maps each name to
        ``(param_value_internal, distribution)``, recorded in the mapping's order (a name the
        trial already has is replaced and keeps its position, as with
        :meth:`set_trial_param`).

        All or nothing: when any entry is rejected, nothing of the batch is stored (no
        parameter, no registered distribution). Atomic against a concurrent finish of the
        trial: either every parameter lands before the finish, or the call raises
        UpdateFinishedTrialError and none does. An empty mapping stores nothing, but the
        trial is checked as for any write (KeyError, UpdateFinishedTrialError).

        This default validates every entry, then calls :meth:`set_trial_param` once per entry:
        it is **not** atomic (an entry the storage rejects, such as a distribution conflicting
        with the study's, or a concurrent finish, leaves the entries before it stored).
        Every backend in trialstore overrides it with an atomic write of the whole batch.

        Raises:
            ValueError: ``params`` is not a mapping of ``(value, distribution)`` pairs, or an
                entry breaks a rule of :meth:`set_trial_param` (the message names the
                parameter); checked before anything else.
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: a distribution is incompatible with one already used for its name in
                the study.
        """
        checked = check_params(params)
        if not checked:
            self.check_trial_is_updatable(trial_id, self.get_trial(trial_id).state)
            return
        for name, internal, distribution in checked:
            self.set_trial_param(trial_id, name, internal, distribution)

    @abc.abstractmethod
    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        """Return the id of the trial with this number in this study.

        Raises:
            KeyError: no such study or no such trial.
            TrialDeletedError: the trial with this number was deleted (a KeyError).
        """

    def get_trial_number_from_id(self, trial_id: int) -> int:
        """Return the trial's number within its study.

        Raises:
            KeyError: no such trial.
        """
        return self.get_trial(trial_id).number

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        """Return one parameter's internal value.

        Raises:
            KeyError: no such trial, or the trial has no such parameter.
        """
        trial = self.get_trial(trial_id)
        return trial.distributions[param_name].to_internal_repr(trial.params[param_name])

    @abc.abstractmethod
    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Move a trial to ``state`` and set its values; return whether the state changed.

        ``state=RUNNING`` claims a WAITING trial: it returns True for exactly one caller,
        setting ``datetime_start``; on a RUNNING trial it returns False and changes nothing.
        A finishing state sets ``datetime_complete`` and returns True. ``values`` replaces any
        earlier values; ``values=None`` keeps them.

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: ``state`` is WAITING or not a TrialState; ``values`` given with RUNNING,
                missing with COMPLETE, of a length other than the number of directions, or
                holding NaN or a non-number.
        """

    def set_trial_params_and_state_values(
        self,
        trial_id: int,
        params: Mapping[str, tuple[float, BaseDistribution]],
        state: TrialState,
        values: Sequence[float] | None = None,
    ) -> bool:
        """:meth:`set_trial_params` then :meth:`set_trial_state_values`, in one round trip
        where the backend can (the gRPC client: one call); return what the state write
        returns.

        Every argument is checked first (the rules of both methods), so bad input stores
        nothing. A batch the storage rejects (KeyError, UpdateFinishedTrialError, a
        distribution conflict) raises with nothing stored and the state unchanged. The pair is
        not one atomic write: once the batch is stored, a failing state write (the trial was
        finished meanwhile, the value count does not match the directions) raises and leaves
        the batch stored, exactly as the two calls would. Raises what :meth:`set_trial_params`
        raises, then what :meth:`set_trial_state_values` raises.
        """
        check_params(params)
        check_state_values(state, values)
        self.set_trial_params(trial_id, params)
        return self.set_trial_state_values(trial_id, state, values)

    @abc.abstractmethod
    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        """Set the intermediate value at ``step``, replacing an earlier one. NaN and ±inf are
        allowed.

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: ``step`` is not an int in ``[0, 2**31)``, or the value is not a number.
        """

    @abc.abstractmethod
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set one user attribute of an unfinished trial.

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished.
            ValueError: as for :meth:`set_study_user_attr`.
        """

    @abc.abstractmethod
    def set_trial_system_attr(self, trial_id: int, key: str, value: JSONSerializable) -> None:
        """Set one system attribute of an unfinished trial; as :meth:`set_trial_user_attr`."""

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> FrozenTrial:
        """Return a snapshot of the trial.

        Raises:
            KeyError: no such trial.
            TrialDeletedError: the trial was deleted (a KeyError).
        """

    @abc.abstractmethod
    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        """Return the study's trials ordered by number, filtered by ``states`` if given
        (deleted trials are not among them).

        Raises:
            KeyError: no such study.
        """

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        """Return the number of the study's trials, filtered by ``state`` if given.

        Raises:
            KeyError: no such study.
        """
        if isinstance(state, TrialState):
            state = (state,)
        return len(self.get_all_trials(study_id, deepcopy=False, states=state))

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        """Return the COMPLETE trial with the best value (the lowest number among equals).

        Raises:
            KeyError: no such study.
            RuntimeError: the study has several objectives.
            ValueError: the study has no COMPLETE trial.
        """
        directions = self.get_study_directions(study_id)
        if len(directions) > 1:
            raise RuntimeError(
                "Best trial can be obtained only for single-objective optimization."
            )
        trials = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if not trials:
            raise ValueError("No trials are completed yet.")
        # Trials come by number and min/max keep the first of equals: the lowest number.
        # The key is the one-value list, read in C (a million trials: 0.05 s, not 0.3 s).
        pick = max if directions[0] == StudyDirection.MAXIMIZE else min
        best = pick(trials, key=_VALUES)
        return self.get_trial(best._trial_id)

    def get_trial_params(self, trial_id: int) -> dict[str, Any]:
        """Return a new dict of the trial's parameters (external values).

        Raises:
            KeyError: no such trial.
        """
        return dict(self.get_trial(trial_id).params)

    def get_trial_user_attrs(self, trial_id: int) -> dict[str, Any]:
        """Return a new dict of the trial's user attributes.

        Raises:
            KeyError: no such trial.
        """
        return dict(self.get_trial(trial_id).user_attrs)

    def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
        """Return a new dict of the trial's system attributes.

        Raises:
            KeyError: no such trial.
        """
        return dict(self.get_trial(trial_id).system_attrs)

    def remove_session(self) -> None:
        """Release per-thread connections (kept for Optuna compatibility; may do nothing)."""
        return None

    def close(self) -> None:
        """Release every resource the storage holds. Calls after ``close`` are undefined."""
        self.remove_session()

    def check_trial_is_updatable(self, trial_id: int, trial_state: TrialState) -> None:
        """Raise UpdateFinishedTrialError if ``trial_state`` is finished.

        Raises:
            UpdateFinishedTrialError: ``trial_state.is_finished()``.
        """
        if trial_state.is_finished():
            trial = self.get_trial(trial_id)
            raise UpdateFinishedTrialError(
                f"Trial#{trial.number} has already finished and can not be updated."
            )

    # -- heartbeats -------------------------------------------------------------------------

    @abc.abstractmethod
    def get_heartbeat_interval(self) -> float | None:
        """Return the heartbeat interval in seconds, or None when heartbeats are off."""

    @abc.abstractmethod
    def get_grace_period(self) -> float | None:
        """Return the grace period in seconds (default twice the interval), or None when off."""

    @abc.abstractmethod
    def record_heartbeat(self, trial_id: int) -> None:
        """Record that the RUNNING trial's worker is alive now. On a WAITING trial it does
        nothing (a heartbeat counts only once the trial is claimed).

        Raises:
            KeyError: no such trial.
            UpdateFinishedTrialError: the trial is finished (the worker should stop beating).
        """

    @abc.abstractmethod
    def get_stale_trial_ids(self, study_id: int) -> list[int]:
        """Return the ids of the study's RUNNING trials whose last heartbeat is older than the
        grace period, ordered by id. A RUNNING trial that never beat is not stale. Always empty
        when heartbeats are off.

        Raises:
            KeyError: no such study.
        """

    def fail_stale_trials(self, study_id: int) -> list[int]:
        """Set every stale RUNNING trial of the study to FAIL; return the ids this call failed.

        Of many concurrent callers, each stale trial is failed by exactly one: the others do
        not list it.

        Raises:
            KeyError: no such study.
        """
        failed = []
        for trial_id in self.get_stale_trial_ids(study_id):
            try:
                if self.set_trial_state_values(trial_id, TrialState.FAIL):
                    failed.append(trial_id)
            except UpdateFinishedTrialError:
                continue
        return failed
