"""The optimization loop behind ``Study.optimize`` (private)."""

from __future__ import annotations

import dataclasses
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.exceptions import TrialDeletedError, TrialPruned
from trialstore.logging import get_logger
from trialstore.study._heartbeat import HeartbeatThread, fail_stale_trials
from trialstore.study._tell import tell_trial

if TYPE_CHECKING:
    from trialstore.study._study import ObjectiveFuncType, Study
    from trialstore.trial import Trial

__all__ = ["optimize"]

_logger = get_logger(__name__)


class _Budget:
    """Hands out permission to start trials, up to ``n_trials`` and until ``timeout``."""

    def __init__(self, study: Study, n_trials: int | None, timeout: float | None) -> None:
        self._study = study
        self._n_trials = n_trials
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._started = 0
        self._lock = threading.Lock()
        self.failed = False

    def take(self) -> bool:
        with self._lock:
            if self.failed or self._study._stop_flag:
                return False
            if self._n_trials is not None and self._started >= self._n_trials:
                return False
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return False
            self._started += 1
            return True


def _check_catch(
    catch: Iterable[type[Exception]] | type[Exception],
) -> tuple[type[BaseException], ...]:
    if isinstance(catch, type):
        catch = (catch,)
    result = tuple(catch)
    for item in result:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"The catch argument must hold exception classes, got {item!r} of type "
                f"{type(item).__name__}."
            )
    return result


def optimize(
    study: Study,
    func: ObjectiveFuncType,
    *,
    n_trials: int | None,
    timeout: float | None,
    n_jobs: int,
    catch: Iterable[type[Exception]] | type[Exception],
    callbacks: Iterable[Callable[[Study, FrozenTrial], None]] | None,
    gc_after_trial: bool,
    show_progress_bar: bool,
) -> None:
    """Run ``Study.optimize`` (see its docstring for the contract)."""
    catch_tuple = _check_catch(catch)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive int or -1, got {n_jobs!r}.")
    if n_trials is not None and n_trials < 0:
        raise ValueError(f"n_trials must be >= 0 or None, got {n_trials!r}.")
    if not study._optimize_lock.acquire(blocking=False):
        raise RuntimeError("Nested optimization is not allowed.")
    try:
        study._stop_flag = False
        budget = _Budget(study, n_trials, timeout)
        bar = _progress_bar(show_progress_bar, n_trials, timeout)
        worker = _Worker(
            study, func, catch_tuple, list(callbacks or ()), gc_after_trial, budget, bar
        )
        try:
            if n_jobs == 1:
                worker.run()
            else:
                # The threads start their first trials together (see _Worker.run).
                start = threading.Barrier(n_jobs)
                with ThreadPoolExecutor(max_workers=n_jobs) as executor:
                    futures = [executor.submit(worker.run, start) for _ in range(n_jobs)]
                errors = [f.exception() for f in futures]
                for error in errors:
                    if error is not None:
                        raise error
        finally:
            if bar is not None:
                bar.close()
    finally:
        study._stop_flag = False
        study._storage.remove_session()
        study._optimize_lock.release()


def _progress_bar(show: bool, n_trials: int | None, timeout: float | None) -> Any:
    if not show:
        return None
    from tqdm.auto import tqdm

    if n_trials is None and timeout is not None:
        return tqdm(total=timeout, unit="s", bar_format="{l_bar}{bar}{r_bar}")
    return tqdm(total=n_trials, unit="trial")


class _Worker:
    """The loop each optimizing thread runs."""

    def __init__(
        self,
        study: Study,
        func: ObjectiveFuncType,
        catch: tuple[type[BaseException], ...],
        callbacks: list[Callable[[Study, FrozenTrial], None]],
        gc_after_trial: bool,
        budget: _Budget,
        bar: Any,
    ) -> None:
        self._study = study
        self._func = func
        self._catch = catch
        self._callbacks = callbacks
        self._gc = gc_after_trial
        self._budget = budget
        self._bar = bar
        self._bar_lock = threading.Lock()
        self._bar_time = time.monotonic()
        self._timed_bar = bar is not None and bar.unit == "s"

    def run(self, start: threading.Barrier | None = None) -> None:
        """Run trials while the budget lasts.

        With ``start``, first take one trial from the budget, then wait (at most 10 s, then go
        on regardless) until every thread of the call is ready. Each thread thus runs at least
        one trial when the budget has one for each: without the reservation, the first thread
        past the barrier can run every short trial before the others are scheduled.
        """
        reserved = False
        if start is not None:
            reserved = self._budget.take()
            try:
                start.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
        try:
            while reserved or self._budget.take():
                reserved = False
                try:
                    trial_id = _run_trial(self._study, self._func, self._catch)
                finally:
                    if self._gc:
                        gc.collect()
                if self._callbacks and trial_id is not None:
                    frozen = self._study._storage.get_trial(trial_id)
                    for callback in self._callbacks:
                        callback(self._study, frozen)
                if self._bar is not None:
                    self._update_bar()
        except BaseException:
            self._budget.failed = True
            raise

    def _update_bar(self) -> None:
        with self._bar_lock:
            if self._timed_bar:
                now = time.monotonic()
                self._bar.update(min(now - self._bar_time, self._bar.total - self._bar.n))
                self._bar_time = now
            else:
                self._bar.update(1)
            tracker = self._study._best_tracker
            best = tracker.best() if tracker is not None else None
            if best is not None:
                self._bar.set_description(
                    f"Best trial: {best.number}. Best value: {best.value:.6g}", refresh=False
                )


@dataclasses.dataclass
class _Outcome:
    """How a trial's objective ended: the final state it asks for (None: judge the result),
    what it returned, and what it raised."""

    state: TrialState | None = None
    result: Any = None
    error: BaseException | None = None
    exc_info: Any = None


def _run_trial(
    study: Study, func: ObjectiveFuncType, catch: tuple[type[BaseException], ...]
) -> int | None:
    """Run one trial; return its id, or None when the trial was deleted while it ran (one
    warning is logged and the loop goes on). Re-raise the objective's error unless it is
    caught (an error other than the deletion's, when the trial was deleted)."""
    if study._storage.get_heartbeat_interval() is not None:
        fail_stale_trials(study)
    try:
        trial = study._ask()
    except TrialDeletedError as e:  # deleted between its claim and its first read
        _logger.warning(f"A trial was deleted as it started; none was run: {e}")
        return None
    outcome = _call_objective(study, func, trial)
    try:
        _write_unknown_params(study, trial._trial_id, outcome)
        final, values, message, _ = tell_trial(
            study, trial, outcome.result, outcome.state, False, warn=False, trusted=True
        )
    except TrialDeletedError:
        _logger.warning(
            f"Trial {trial.number} was deleted while it ran; its outcome is discarded."
        )
        error = outcome.error
        if error is not None and not isinstance(error, (TrialDeletedError, TrialPruned, *catch)):
            raise error from None
        return None
    except Exception:
        final = study._storage.get_trial(trial._trial_id).state
        _log_finished(study, trial, final, None, outcome, None)
        raise
    _log_finished(study, trial, final, values, outcome, message)
    error = outcome.error
    if final == TrialState.FAIL and error is not None and not isinstance(error, catch):
        raise error
    return trial._trial_id


def _call_objective(study: Study, func: ObjectiveFuncType, trial: Trial) -> _Outcome:
    """Run ``func`` on ``trial`` (with its heartbeat); catch what it raises."""
    outcome = _Outcome()
    with HeartbeatThread(trial._trial_id, study._storage):
        try:
            outcome.result = func(trial)
        except TrialPruned as e:
            outcome.state, outcome.error = TrialState.PRUNED, e
        except (Exception, KeyboardInterrupt) as e:
            outcome.state, outcome.error, outcome.exc_info = TrialState.FAIL, e, sys.exc_info()
    return outcome


def _write_unknown_params(study: Study, trial_id: int, outcome: _Outcome) -> None:
    """``param_writes="at_tell"``: write now the trial's unwritten parameters the storage
    might reject (the others go with the finish, in tell_trial's one call). A rejection
    (none is stored) fails the trial as it would have with immediate writes, where
    ``suggest_*`` raises the error inside the objective.

    Raises:
        whatever the write raised but a ValueError.
    """
    batches = study.param_batches
    if batches is None:
        return
    try:
        batches.flush_unless_known(trial_id)
    except ValueError as e:
        outcome.state, outcome.result = TrialState.FAIL, None
        if outcome.error is None or isinstance(outcome.error, TrialPruned):
            outcome.error, outcome.exc_info = e, sys.exc_info()


def _log_finished(
    study: Study,
    trial: Trial,
    final: TrialState,
    values: list[float] | None,
    outcome: _Outcome,
    message: str | None,
) -> None:
    number = trial.number
    if final == TrialState.COMPLETE:
        assert values is not None
        study._log_completed_trial(values, number, trial._cached_frozen.params)
    elif final == TrialState.PRUNED:
        _logger.info(f"Trial {number} pruned. {outcome.error}")
    elif final == TrialState.FAIL:
        params = trial._cached_frozen.params
        reason = repr(outcome.error) if outcome.error is not None else message
        _logger.warning(
            f"Trial {number} failed with parameters: {params} because of the following "
            f"error: {reason}.",
            exc_info=outcome.exc_info,
        )
        _logger.warning(f"Trial {number} failed with value {outcome.result!r}.")
