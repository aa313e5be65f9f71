"""The optimization loop behind ``Study.optimize`` (private)."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.exceptions import TrialPruned
from trialstore.logging import get_logger
from trialstore.study._heartbeat import HeartbeatThread, fail_stale_trials
from trialstore.study._tell import tell_trial

if TYPE_CHECKING:
    from trialstore.study._study import ObjectiveFuncType, Study

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
                if self._callbacks:
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


def _run_trial(
    study: Study, func: ObjectiveFuncType, catch: tuple[type[BaseException], ...]
) -> int:
    """Run one trial; return its id. Re-raise the objective's error unless it is caught."""
    if study._storage.get_heartbeat_interval() is not None:
        fail_stale_trials(study)
    trial = study._ask()
    state: TrialState | None = None
    result: Any = None
    error: BaseException | None = None
    exc_info: Any = None
    with HeartbeatThread(trial._trial_id, study._storage):
        try:
            result = func(trial)
        except TrialPruned as e:
            state = TrialState.PRUNED
            error = e
        except (Exception, KeyboardInterrupt) as e:
            state = TrialState.FAIL
            error = e
            exc_info = sys.exc_info()
    number = trial.number
    try:
        try:
            # param_writes="at_tell": buffered parameters the storage might reject are written
            # now (the others go with the finish, in tell_trial's one call).
            if not trial._buffer_is_known():
                trial._flush_params()
        except ValueError as e:
            # The storage rejected them (none is stored): the trial fails as it would have
            # with immediate writes, where suggest_* raises this error inside the objective.
            state, result = TrialState.FAIL, None
            if error is None or isinstance(error, TrialPruned):
                error, exc_info = e, sys.exc_info()
        final, values, message, _ = tell_trial(
            study, trial, result, state, False, warn=False, trusted=True
        )
    except Exception:
        final = study._storage.get_trial(trial._trial_id).state
        values, message = None, None
        raise
    finally:
        if final == TrialState.COMPLETE:
            assert values is not None
            study._log_completed_trial(values, number, trial._cached_frozen.params)
        elif final == TrialState.PRUNED:
            _logger.info(f"Trial {number} pruned. {error}")
        elif final == TrialState.FAIL:
            params = trial._cached_frozen.params
            reason = repr(error) if error is not None else message
            _logger.warning(
                f"Trial {number} failed with parameters: {params} because of the following "
                f"error: {reason}.",
                exc_info=exc_info,
            )
            _logger.warning(f"Trial {number} failed with value {result!r}.")
    if final == TrialState.FAIL and error is not None and not isinstance(error, catch):
        raise error
    return trial._trial_id
