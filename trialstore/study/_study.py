"""Study: a named optimization task in a storage (private; public: ``trialstore.Study``)."""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Callable, Container, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

from trialstore._core import FrozenTrial, StudyDirection, TrialState, create_trial, is_feasible
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import TrialDeletedError, UpdateFinishedTrialError
from trialstore.logging import get_logger
from trialstore.pruners import BasePruner
from trialstore.samplers import BaseSampler
from trialstore.storage import get_storage
from trialstore.storage.base import BaseStorage
from trialstore.study._best import BestTracker
from trialstore.study._dataframe import DEFAULT_ATTRS, build_trials_dataframe
from trialstore.study._feasible import best_feasible_trial
from trialstore.study._metric_names import (
    METRIC_NAMES_KEY,
    check_metric_names,
    read_metric_names,
)
from trialstore.study._scan import probes_by_number, trials_from
from trialstore.trial import ParamBatches, Trial

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PARAM_WRITES", "ObjectiveFuncType", "ParamWrites", "Study", "check_param_writes"]

_logger = get_logger(__name__)

#: The type of an objective: it takes a Trial and returns its value (one objective) or values
#: (several objectives, in the order of the study's directions).
ObjectiveFuncType = Callable[[Trial], "float | Sequence[float]"]
FailedTrialCallback = Callable[["Study", FrozenTrial], None]

#: When a Study object's trials write their parameters (see :class:`Study`).
ParamWrites = Literal["immediate", "at_tell"]
#: The values of ``param_writes``.
PARAM_WRITES: tuple[ParamWrites, ...] = get_args(ParamWrites)


def check_param_writes(param_writes: Any) -> ParamWrites:
    """Return ``param_writes`` if it is one of :data:`PARAM_WRITES`.

    Raises:
        ValueError: any other value (the message names the argument and the allowed values).
    """
    if not isinstance(param_writes, str) or param_writes not in PARAM_WRITES:
        raise ValueError(
            f"param_writes must be one of {', '.join(map(repr, PARAM_WRITES))}, "
            f"got {param_writes!r}."
        )
    return param_writes


class Study:
    """A study: its trials live in ``storage``; ``sampler`` and ``pruner`` drive new trials.

    Usually made by :func:`trialstore.create_study` or :func:`trialstore.load_study`. One
    Study object may be used by many threads (``optimize(n_jobs=...)``); many Study objects in
    many processes may share one study through a storage that is shared across processes.

    ``param_writes`` says when the parameters of this object's trials are written:

    * ``"immediate"`` (default): each ``suggest_*`` writes its parameter before returning.
    * ``"at_tell"``: a trial's parameters are checked and kept in the trial when suggested,
      and written together, with one ``set_trial_params`` call, before the trial's first
      other write (``report``, ``set_user_attr``, ``set_system_attr``) or before it is
      finished (``tell``, or the end of its objective in :meth:`optimize`, whatever the
      outcome). Fewer round trips per trial (one per trial instead of one per parameter), at
      a price: until that write, other workers and processes do not see the running trial's
      parameters, and a worker that dies mid-trial loses them (the trial is still failed by
      its heartbeat, and ``RetryFailedTrialCallback`` re-runs it with the parameters that were
      written, which may be none). Heartbeats do not write the parameters.
      If the storage rejects the parameters (a distribution incompatible with one another
      process registered), the trial is finished as FAIL without them and the ValueError is
      raised (in :meth:`optimize` as if the objective had raised it).

    Raises:
        KeyError: no study named ``study_name`` in the storage.
        ValueError: ``param_writes`` is not ``"immediate"`` or ``"at_tell"``.
    """

    def __init__(
        self,
        study_name: str,
        storage: str | BaseStorage,
        sampler: BaseSampler | None = None,
        pruner: BasePruner | None = None,
        *,
        failed_trial_callback: FailedTrialCallback | None = None,
        param_writes: ParamWrites = "immediate",
    ) -> None:
        self._param_writes = check_param_writes(param_writes)
        self.study_name = study_name
        self._storage = get_storage(storage)
        self._study_id = self._storage.get_study_id_from_name(study_name)
        self._directions = self._storage.get_study_directions(self._study_id)
        if sampler is None:
            from trialstore.samplers import TPESampler

            sampler = TPESampler()
        if pruner is None:
            from trialstore.pruners import MedianPruner

            pruner = MedianPruner()
        self.sampler: BaseSampler = sampler
        self.pruner: BasePruner = pruner
        self._failed_trial_callback = failed_trial_callback
        self._stop_flag = False
        self._optimize_lock = threading.Lock()
        # Every trial numbered below the cursor is known not to be WAITING.
        self._waiting_lock = threading.Lock()
        self._waiting_cursor = 0
        self._best_tracker = (
            BestTracker(self._storage, self._study_id, self._directions[0])
            if len(self._directions) == 1
            else None
        )
        self._param_batches = (
            ParamBatches(self._storage) if self._param_writes == "at_tell" else None
        )

    @property
    def param_writes(self) -> ParamWrites:
        """When this object's trials write their parameters: ``"immediate"`` or
        ``"at_tell"`` (see the class docstring)."""
        return self._param_writes

    @property
    def param_batches(self) -> ParamBatches | None:
        """With ``param_writes="at_tell"``, where this object's trials keep their parameters
        until they are written (used by its Trials, :meth:`tell` and :meth:`optimize`; an
        objective has no need of it); else None."""
        return self._param_batches

    # -- directions and attributes ---------------------------------------------------------------

    @property
    def direction(self) -> StudyDirection:
        """The single direction. Raises RuntimeError for a multi-objective study."""
        if len(self._directions) > 1:
            raise RuntimeError(
                "A single direction cannot be retrieved from a multi-objective study. Consider "
                "using Study.directions to retrieve a list containing all directions."
            )
        return self._directions[0]

    @property
    def directions(self) -> list[StudyDirection]:
        """The directions, one per objective."""
        return list(self._directions)

    @property
    def user_attrs(self) -> dict[str, Any]:
        """A copy of the study's user attributes."""
        return self._storage.get_study_user_attrs(self._study_id)

    @property
    def system_attrs(self) -> dict[str, Any]:
        """A copy of the study's system attributes."""
        return self._storage.get_study_system_attrs(self._study_id)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON-serializable user attribute of the study.

        Raises:
            ValueError: ``key`` is not a str of at most 512 characters or ``value`` is not
                JSON-serializable.
        """
        self._storage.set_study_user_attr(self._study_id, key, value)

    def set_system_attr(self, key: str, value: Any) -> None:
        """Store a JSON-serializable system attribute of the study (reserved for libraries)."""
        self._storage.set_study_system_attr(self._study_id, key, value)

    @property
    def metric_names(self) -> list[str] | None:
        """The name of each objective (a new list), or None when none were set (see
        :meth:`set_metric_names`). One storage read."""
        return read_metric_names(self._storage.get_study_system_attrs(self._study_id))

    def set_metric_names(self, metric_names: list[str]) -> None:
        """Name the objectives, one name per direction, in order (used by
        :meth:`trials_dataframe`). Stored where Optuna stores them (the study system
        attribute ``"study:metric_names"``), so either library reads the names the other set;
        a later call replaces them.

        Raises:
            ValueError: ``metric_names`` is not a list (or tuple) of str, or its length is not
                the number of objectives. Nothing is stored then.
        """
        names: list[Any] = check_metric_names(metric_names, len(self._directions))
        self._storage.set_study_system_attr(self._study_id, METRIC_NAMES_KEY, names)

    # -- trials ----------------------------------------------------------------------------------

    @property
    def trials(self) -> list[FrozenTrial]:
        """Copies of all trials, ordered by number."""
        return self.get_trials(deepcopy=True, states=None)

    def get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """Return the trials ordered by number, filtered by ``states`` if given.

        With ``deepcopy=False`` the storage may return shared snapshots that must not be mutated.
        """
        return self._storage.get_all_trials(self._study_id, deepcopy=deepcopy, states=states)

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        return self.get_trials(deepcopy=deepcopy, states=states)

    @property
    def best_trial(self) -> FrozenTrial:
        """The COMPLETE trial with the best value (lowest number among equals) among the
        feasible ones: those whose constraint values (``Trial.set_constraint``) are all
        ``<= 0``, which is every trial when none has constraints.

        Raises:
            RuntimeError: the study has several objectives.
            ValueError: no trial is COMPLETE yet, or none of the COMPLETE trials is feasible.
        """
        if len(self._directions) > 1:
            raise RuntimeError(
                "A single best trial cannot be retrieved from a multi-objective study. Consider "
                "using Study.best_trials to retrieve a list containing the best trials."
            )
        best = self._storage.get_best_trial(self._study_id)
        if is_feasible(best):
            return best
        return best_feasible_trial(self._storage, self._study_id, self._directions[0])

    @property
    def best_value(self) -> float:
        """The best trial's value (same errors as :attr:`best_trial`)."""
        value = self.best_trial.value
        assert value is not None
        return value

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's parameters (same errors as :attr:`best_trial`)."""
        return self.best_trial.params

    @property
    def best_trials(self) -> list[FrozenTrial]:
        """The feasible COMPLETE trials (see :attr:`best_trial`) on the Pareto front (for
        one objective: the best trial(s) of equal best value), ordered by number."""
        complete = self._storage.get_all_trials(
            self._study_id, deepcopy=False, states=(TrialState.COMPLETE,)
        )
        complete = [t for t in complete if is_feasible(t)]
        signs = [-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in self._directions]
        losses = [[s * v for s, v in zip(signs, t.values or (), strict=True)] for t in complete]
        front = []
        for i, loss in enumerate(losses):
            dominated = any(
                all(o <= m for o, m in zip(other, loss, strict=True)) and other != loss
                for j, other in enumerate(losses)
                if j != i
            )
            if not dominated:
                front.append(copy.deepcopy(complete[i]))
        return front

    def trials_dataframe(
        self, attrs: tuple[str, ...] = DEFAULT_ATTRS, multi_index: bool = False
    ) -> pd.DataFrame:
        """Return the trials as a pandas DataFrame, one row per trial in number order, with
        Optuna 5.0's columns (needs the ``pandas`` extra: ``pip install
        'trialstore[pandas]'``).

        ``attrs`` names trial fields (``number``, ``value``, ``values``, ``datetime_start``,
        ``datetime_complete``, ``duration``, ``params``, ``distributions``, ``user_attrs``,
        ``system_attrs``, ``intermediate_values``, ``last_step``, ``constraints``, ``state``,
        ``_trial_id``). Columns come in the order of ``attrs``: a plain field is one column
        (``state`` holds the state's name, e.g. ``"COMPLETE"``); a dict field is one column
        per key found in any trial, in sorted key order (``params_x``; a trial without the key
        has NaN); ``values`` is one column per objective (``values_0``, ``values_1``, or
        ``values_<name>`` in the names' order when :attr:`metric_names` are set; NaN for a
        trial without values). With metric names, ``value`` becomes ``value_<name>``. In a
        multi-objective study ``value`` means ``values``. A dict field that no trial has any
        key of gives no column. With ``multi_index=True`` the columns are a two-level
        MultiIndex (``("params", "x")``, ``("number", "")``) instead of names joined by
        ``_``.

        A study without trials gives an empty DataFrame (no rows, no columns); ``attrs``
        that give no column at all give one row per trial and no columns.

        Raises:
            ImportError: pandas is not installed (the message names the extra).
            ValueError: ``attrs`` is a str or names something that is not a trial field.
        """
        return build_trials_dataframe(self, attrs, multi_index)

    # -- ask and tell ----------------------------------------------------------------------------

    def ask(self, fixed_distributions: dict[str, BaseDistribution] | None = None) -> Trial:
        """Start a trial: claim the oldest WAITING (enqueued) trial, else create a new one.

        ``fixed_distributions`` are suggested at once (their values are then in
        ``trial.params``). Thread-safe: concurrent callers never get the same trial.
        """
        trial = self._ask()
        for name, dist in (fixed_distributions or {}).items():
            trial._suggest(name, dist)
        return trial

    def _ask(self) -> Trial:
        if probes_by_number(self._storage):
            found = self._pop_waiting_trial_id_from_cursor()
            claimed = found is not None
            trial_id = (
                found if found is not None else self._storage.create_new_trial(self._study_id)
            )
        else:
            trial_id, claimed = self._create_or_claim()
        if not claimed:
            trial = Trial(self, trial_id)
            with self._waiting_lock:
                if self._waiting_cursor == trial.number:
                    self._waiting_cursor += 1
        else:
            trial = Trial(self, trial_id, self._storage.get_trial(trial_id))
        self.sampler.before_trial(self, trial._cached_frozen)
        return trial

    def _create_or_claim(self) -> tuple[int, bool]:
        """Create a trial, or claim the oldest WAITING one that no one else claims first:
        return (trial id, whether it was claimed). One round trip when the study has nothing
        enqueued (``create_trial_or_list_waiting``)."""
        while True:
            got = self._storage.create_trial_or_list_waiting(self._study_id)
            if isinstance(got, int):
                return got, False
            for trial_id in got:
                try:
                    if self._storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                        return trial_id, True
                except (UpdateFinishedTrialError, TrialDeletedError):
                    continue  # finished or deleted while WAITING: not claimable
            # every one was claimed by others meanwhile: look again

    def _pop_waiting_trial_id_from_cursor(self) -> int | None:
        with self._waiting_lock:
            cursor = self._waiting_cursor
        claimed = None
        for frozen in trials_from(self._storage, self._study_id, cursor):
            cursor = frozen.number + 1
            if frozen.state != TrialState.WAITING:
                continue
            try:
                if self._storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                    claimed = frozen._trial_id
                    break
            except (UpdateFinishedTrialError, TrialDeletedError):
                continue  # finished or deleted since it was read: not claimable
        with self._waiting_lock:
            self._waiting_cursor = max(self._waiting_cursor, cursor)
        return claimed

    def tell(
        self,
        trial: Trial | int,
        values: float | Sequence[float] | None = None,
        state: TrialState | None = None,
        skip_if_finished: bool = False,
    ) -> FrozenTrial:
        """Finish a trial started by :meth:`ask` (``trial`` may be its number).

        Without ``state``: COMPLETE when ``values`` are valid numbers (one per objective), else
        FAIL with a warning. PRUNED takes the last intermediate value as its value.

        With ``param_writes="at_tell"``, the trial's buffered parameters (of a Trial that this
        Study object asked, also when ``trial`` is its number) are written first.

        Returns:
            A copy of the finished trial.

        Raises:
            ValueError: the trial does not exist, is not RUNNING (unless ``skip_if_finished``
                and it is finished), ``state`` is WAITING or RUNNING, COMPLETE without values
                or with values that are not numbers, PRUNED or FAIL with values. Or the
                storage rejected the buffered parameters: the trial is then finished as FAIL,
                without them.
            TrialDeletedError: the trial was deleted (a KeyError).
            TypeError: ``trial`` is neither a Trial nor an int.
        """
        from trialstore.study._tell import tell_trial

        trial_id = tell_trial(self, trial, values, state, skip_if_finished, warn=True)[3]
        return self._storage.get_trial(trial_id)

    # -- deleting trials -------------------------------------------------------------------------

    def delete_trials(
        self,
        numbers: int | Iterable[int] | None = None,
        *,
        states: TrialState | Iterable[TrialState] | None = None,
        dry_run: bool = False,
    ) -> list[int]:
        """Delete trials of the study, all or nothing: those with the given ``numbers`` (one
        int or several), or in one of the given ``states`` (one or several, e.g.
        ``states=TrialState.FAIL``), or both (a trial must then match both). Return the
        numbers of the deleted trials, in order (with ``dry_run``, of the trials that would
        be deleted, deleting nothing).

        Afterwards no reader (this or another process, samplers, ``best_trial``) sees them;
        their numbers are not given again. A RUNNING trial deleted under its worker's
        ``optimize`` is dropped there with one warning. Needs a storage that implements
        ``delete_trials`` (in-memory and journal; see docs/deleting-trials.md).

        Raises:
            ValueError: neither ``numbers`` nor ``states`` is given, a number is not an int,
                or a state is not a TrialState.
            KeyError: a number names no trial of the study (TrialDeletedError, a KeyError,
                when that trial was deleted already). Nothing is deleted.
            NotImplementedError: the storage cannot delete trials.
        """
        if numbers is None and states is None:
            raise ValueError(
                "delete_trials needs numbers, states or both (to delete every trial, pass "
                "states=list(TrialState))."
            )
        wanted_numbers = None if numbers is None else _check_numbers(numbers)
        wanted_states = None if states is None else _check_states(states)
        trials = self._storage.get_all_trials(self._study_id, deepcopy=False)
        by_number = {t.number: t for t in trials}
        if wanted_numbers is not None:
            for number in wanted_numbers:
                if number not in by_number:  # raises the storage's error for it
                    self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number)
                    raise KeyError(f"No trial with number {number} in the study.")
            chosen = [by_number[n] for n in sorted(set(wanted_numbers))]
        else:
            chosen = list(trials)
        if wanted_states is not None:
            chosen = [t for t in chosen if t.state in wanted_states]
        if not dry_run:
            self._storage.delete_trials(self._study_id, [t._trial_id for t in chosen])
        return [t.number for t in chosen]

    # -- adding trials ---------------------------------------------------------------------------

    def enqueue_trial(
        self,
        params: dict[str, Any],
        user_attrs: dict[str, Any] | None = None,
        skip_if_exists: bool = False,
    ) -> None:
        """Add a WAITING trial whose ``suggest_*`` calls return ``params``. The next ``ask`` (of
        any worker sharing the storage) claims the oldest WAITING trial.

        A value outside the range of its ``suggest_*`` call is used as given, with Optuna's
        UserWarning (``Fixed parameter x with value 100.0 is out of range for distribution
        ...``). A value the distribution cannot represent (not one of the categorical choices,
        not a number, NaN or ±inf, on a log scale a Float value <= 0 or an Int value < 1) is
        sampled instead, with a UserWarning saying so.

        With ``skip_if_exists``, nothing is added if a trial (in any state) already has exactly
        these params, either suggested or enqueued.
        """
        if skip_if_exists:
            for t in self._storage.get_all_trials(self._study_id, deepcopy=False):
                fixed = t.system_attrs.get("fixed_params")
                if t.params == params or fixed == params:
                    _logger.info(f"Trial with params {params} already exists. Skipping enqueue.")
                    return
        self.add_trial(
            create_trial(
                state=TrialState.WAITING,
                system_attrs={"fixed_params": params},
                user_attrs=user_attrs,
            )
        )

    def add_trial(self, trial: FrozenTrial) -> None:
        """Store a copy of ``trial`` (e.g. from :func:`trialstore.create_trial`) in the study.

        Raises:
            ValueError: the trial is inconsistent, its values do not match the directions, or a
                distribution conflicts with the study's.
        """
        self._storage.create_new_trial(self._study_id, template_trial=trial)

    def add_trials(self, trials: Iterable[FrozenTrial]) -> None:
        """:meth:`add_trial` for each trial, in order."""
        for trial in trials:
            self.add_trial(trial)

    # -- optimization ----------------------------------------------------------------------------

    def optimize(
        self,
        func: ObjectiveFuncType,
        n_trials: int | None = None,
        timeout: float | None = None,
        n_jobs: int = 1,
        catch: Iterable[type[Exception]] | type[Exception] = (),
        callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None = None,
        gc_after_trial: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        """Run trials of ``func`` until ``n_trials`` have run, ``timeout`` seconds have passed
        (checked before each trial), :meth:`stop` is called, or (without both limits) forever.

        ``n_jobs`` threads (``-1``: the CPU count) of a ``ThreadPoolExecutor`` run trials; each
        trial first claims a WAITING trial if there is one. A trial whose objective raises is
        stored as FAIL and logged; the exception is re-raised (after the other threads finish
        their current trial) unless it is an instance of ``catch``. ``callbacks`` run after each
        trial with a copy of it. With heartbeats on in the storage, each running trial beats
        from its own thread, and stale trials are failed (and the stale-trial callback run)
        before each new trial.

        Raises:
            RuntimeError: ``optimize`` is already running on this Study (nested call).
            TypeError: ``catch`` holds something that is not an exception class.
            ValueError: ``n_jobs`` is 0 or below -1; ``n_trials`` is negative.
        """
        from trialstore.study._optimize import optimize

        optimize(
            self,
            func,
            n_trials=n_trials,
            timeout=timeout,
            n_jobs=n_jobs,
            catch=catch,
            callbacks=callbacks,
            gc_after_trial=gc_after_trial,
            show_progress_bar=show_progress_bar,
        )

    def stop(self) -> None:
        """Ask a running :meth:`optimize` to start no new trial (running ones finish).

        Raises:
            RuntimeError: called while no ``optimize`` is running.
        """
        if not self._optimize_lock.locked():
            raise RuntimeError(
                "`Study.stop` is supposed to be invoked inside an objective function or a "
                "callback."
            )
        self._stop_flag = True

    # -- logging ---------------------------------------------------------------------------------

    def _log_completed_trial(self, values: Sequence[float], number: int, params: Any) -> None:
        if not _logger.isEnabledFor(20):
            return
        if len(values) > 1:
            _logger.info(
                f"Trial {number} finished with values: {list(values)} and parameters: {params}."
            )
            return
        message = f"Trial {number} finished with value: {values[0]} and parameters: {params}."
        best = self._best_tracker.best() if self._best_tracker is not None else None
        if best is not None:
            message += f" Best is trial {best.number} with value: {best.value}."
        _logger.info(message)


def _check_numbers(numbers: int | Iterable[int]) -> list[int]:
    """Return the trial numbers as a list.

    Raises:
        ValueError: ``numbers`` is a str or not iterable, or holds something but an int.
    """
    if isinstance(numbers, int) and not isinstance(numbers, bool):
        return [numbers]
    if isinstance(numbers, (str, bytes)) or not isinstance(numbers, Iterable):
        raise ValueError(f"numbers must be an iterable of ints, got {numbers!r}.")
    checked = list(numbers)
    for number in checked:
        if isinstance(number, bool) or not isinstance(number, int):
            raise ValueError(f"numbers must hold ints (trial numbers), got {number!r}.")
    return checked


def _check_states(states: TrialState | Iterable[TrialState]) -> set[TrialState]:
    """Return the states as a set.

    Raises:
        ValueError: ``states`` is a str or not iterable, or holds something but a TrialState.
    """
    if isinstance(states, TrialState):
        return {states}
    if isinstance(states, (str, bytes)) or not isinstance(states, Iterable):
        raise ValueError(f"states must be an iterable of TrialState, got {states!r}.")
    checked = set()
    for state in states:
        if not isinstance(state, TrialState):
            allowed = ", ".join(s.name for s in TrialState)
            raise ValueError(f"states must hold TrialState members ({allowed}), got {state!r}.")
        checked.add(state)
    return checked


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)
