"""Conformance: races with real threads and processes (private).

Every race starts its workers behind a barrier so that they hit the storage at the same moment.
The thread tests use one storage object from many threads (capability ``thread_safe``); the
process tests pickle the storage to child processes (capability ``shared_across_processes``).
"""

from __future__ import annotations

import multiprocessing
import pickle
import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from trialstore._core import StudyDirection, TrialState
from trialstore.conformance._base import (
    ConformanceBase,
    StorageFactory,
    assert_same_trial,
    make_template,
    unique_name,
)
from trialstore.distributions import FloatDistribution
from trialstore.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["ConcurrencyConformance", "run_threads"]

T = TypeVar("T")
_TIMEOUT = 120.0


def run_threads(n: int, target: Callable[[int], T]) -> list[T]:
    """Run ``target(i)`` for i in range(n) in n threads started together; return the results.

    Raises:
        The first exception a thread raised; AssertionError if a thread hangs.
    """
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(_TIMEOUT)
            results[index] = target(index)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def _process_worker(
    payload: bytes, barrier: Any, queue: Any, index: int, task: str, args: tuple[Any, ...]
) -> None:
    """Child process body: unpickle the storage, wait for the others, run ``task``."""
    try:
        storage: BaseStorage = pickle.loads(payload)
        barrier.wait(_TIMEOUT)
        result: Any
        if task == "claim":
            trial_ids = list(args[0])
            random.Random(index).shuffle(trial_ids)
            result = [
                t for t in trial_ids if storage.set_trial_state_values(t, TrialState.RUNNING)
            ]
        elif task == "create":
            study_id, count = args
            result = [storage.create_new_trial(study_id) for _ in range(count)]
        elif task == "study":
            try:
                result = storage.create_new_study([StudyDirection.MINIMIZE], args[0])
            except DuplicatedStudyError:
                result = None
        else:
            raise ValueError(f"unknown task {task!r}")
        storage.close()
        queue.put((index, "ok", result))
    except BaseException as e:
        queue.put((index, "error", f"{type(e).__name__}: {e}"))


def run_processes(
    storage: BaseStorage, n: int, method: str, task: str, args: tuple[Any, ...]
) -> list[Any]:
    """Run ``task`` in n child processes that each unpickle ``storage``; return the results."""
    ctx: Any = multiprocessing.get_context(method)
    barrier = ctx.Barrier(n)
    queue = ctx.Queue()
    payload = pickle.dumps(storage)
    processes = [
        ctx.Process(target=_process_worker, args=(payload, barrier, queue, i, task, args))
        for i in range(n)
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [queue.get(timeout=_TIMEOUT) for _ in range(n)]
    finally:
        for process in processes:
            process.join(_TIMEOUT)
            if process.is_alive():
                process.kill()
    results: list[Any] = [None] * n
    for index, status, result in outcomes:
        assert status == "ok", f"child process {index} failed: {result}"
        results[index] = result
    return results


class ConcurrencyConformance(ConformanceBase):
    """Exactly-one-winner claims, dense numbers and no lost writes under real races."""

    def n_threads(self) -> int:
        """The number of threads a race test uses (skips unless ``thread_safe``)."""
        self.require("thread_safe")
        return max(2, min(16, self.max_threads))

    def n_processes(self) -> int:
        """The number of processes a race test uses (skips unless shared across processes)."""
        self.require("shared_across_processes")
        return max(2, self.max_processes)

    # -- threads ----------------------------------------------------------------------------

    def test_threads_create_trials_with_dense_numbers(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        study_id = self.new_study(storage)
        per_thread = 8

        def create(index: int) -> list[int]:
            created = []
            for i in range(per_thread):
                template = make_template(TrialState.WAITING) if (index + i) % 3 == 0 else None
                created.append(storage.create_new_trial(study_id, template))
            return created

        ids = [t for result in run_threads(n, create) for t in result]
        assert len(set(ids)) == len(ids) == n * per_thread, "trial ids are not unique"
        trials = storage.get_all_trials(study_id)
        assert sorted(t._trial_id for t in trials) == sorted(ids)
        assert [t.number for t in trials] == list(range(n * per_thread)), "numbers not dense"
        for trial in trials:
            assert storage.get_trial_id_from_study_id_trial_number(study_id, trial.number) == (
                trial._trial_id
            )

    def test_threads_readers_see_dense_prefixes(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        study_id = self.new_study(storage)

        def work(index: int) -> list[int]:
            if index % 2:
                return [storage.create_new_trial(study_id) for _ in range(10)]
            for _ in range(10):
                numbers = [t.number for t in storage.get_all_trials(study_id, deepcopy=False)]
                assert numbers == list(range(len(numbers))), f"a reader saw {numbers}"
            return []

        run_threads(n, work)
        assert storage.get_n_trials(study_id) == 10 * (n // 2)

    def test_threads_claim_a_waiting_trial_once(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        study_id = self.new_study(storage)
        trial_ids = [
            storage.create_new_trial(study_id, make_template(TrialState.WAITING)) for _ in range(5)
        ]

        def claim(index: int) -> list[int]:
            order = list(trial_ids)
            random.Random(index).shuffle(order)
            return [t for t in order if storage.set_trial_state_values(t, TrialState.RUNNING)]

        won = Counter(t for result in run_threads(n, claim) for t in result)
        assert won == Counter(trial_ids), f"claims won per trial: {dict(won)}"
        for trial_id in trial_ids:
            assert storage.get_trial(trial_id).state == TrialState.RUNNING

    def test_threads_finish_a_trial_once(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)

        def finish(index: int) -> float | None:
            try:
                assert storage.set_trial_state_values(
                    trial_id, TrialState.COMPLETE, [float(index)]
                )
                return float(index)
            except UpdateFinishedTrialError:
                return None

        winners = [v for v in run_threads(n, finish) if v is not None]
        assert len(winners) == 1, f"{len(winners)} threads finished the same trial"
        assert storage.get_trial(trial_id).values == winners

    def test_threads_create_study_with_one_name(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        for _ in range(3):
            name = unique_name("race")

            def create(index: int, name: str = name) -> int | None:
                try:
                    return storage.create_new_study([StudyDirection.MINIMIZE], name)
                except DuplicatedStudyError:
                    return None

            ids = [i for i in run_threads(n, create) if i is not None]
            assert len(ids) == 1, f"{len(ids)} threads created study {name!r}"
            assert storage.get_study_id_from_name(name) == ids[0]
            assert [s._study_id for s in storage.get_all_studies() if s.study_name == name] == ids

    def test_threads_fail_stale_trials_once(self, storage_factory: StorageFactory) -> None:
        n = self.n_threads()
        self.require("supports_heartbeats")
        storage = storage_factory(
            heartbeat_interval=self.heartbeat_test_interval,
            grace_period=self.heartbeat_test_grace_period,
        )
        try:
            study_id = self.new_study(storage)
            trial_ids = [storage.create_new_trial(study_id) for _ in range(8)]
            for trial_id in trial_ids:
                storage.record_heartbeat(trial_id)
            threading.Event().wait(self.heartbeat_test_grace_period * 1.2 + 0.1)
            failed = Counter(
                t
                for result in run_threads(n, lambda _: storage.fail_stale_trials(study_id))
                for t in result
            )
            assert failed == Counter(trial_ids), f"failures per trial: {dict(failed)}"
            assert storage.get_n_trials(study_id, TrialState.FAIL) == len(trial_ids)
        finally:
            storage.close()

    def test_threads_lose_no_writes(self, storage: BaseStorage) -> None:
        n = self.n_threads()
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        per_thread = 4
        dist = FloatDistribution(0, 100)

        def write(index: int) -> None:
            for i in range(per_thread):
                key = f"t{index}-{i}"
                storage.set_trial_user_attr(trial_id, key, index)
                storage.set_trial_system_attr(trial_id, key, i)
                storage.set_trial_param(trial_id, key, float(index), dist)
                storage.set_trial_intermediate_value(trial_id, index * per_thread + i, float(i))
                storage.set_study_user_attr(study_id, key, [index, i])
                storage.set_study_system_attr(study_id, key, {"i": i})

        run_threads(n, write)
        keys = {f"t{index}-{i}": (index, i) for index in range(n) for i in range(per_thread)}
        trial = storage.get_trial(trial_id)
        assert trial.user_attrs == {k: index for k, (index, _) in keys.items()}
        assert trial.system_attrs == {k: i for k, (_, i) in keys.items()}
        assert trial.params == {k: float(index) for k, (index, _) in keys.items()}
        assert trial.intermediate_values == {
            index * per_thread + i: float(i) for index, i in keys.values()
        }
        assert storage.get_study_user_attrs(study_id) == {k: list(v) for k, v in keys.items()}
        assert storage.get_study_system_attrs(study_id) == {
            k: {"i": i} for k, (_, i) in keys.items()
        }

    # -- processes --------------------------------------------------------------------------

    def test_processes_claim_waiting_trials_once(self, storage: BaseStorage) -> None:
        n = self.n_processes()
        study_id = self.new_study(storage)
        trial_ids = [
            storage.create_new_trial(study_id, make_template(TrialState.WAITING)) for _ in range(8)
        ]
        results = run_processes(storage, n, self.process_start_method, "claim", (trial_ids,))
        won = Counter(t for result in results for t in result)
        assert won == Counter(trial_ids), f"claims won per trial: {dict(won)}"
        assert storage.get_n_trials(study_id, TrialState.RUNNING) == len(trial_ids)

    def test_processes_create_trials_with_dense_numbers(self, storage: BaseStorage) -> None:
        n = self.n_processes()
        study_id = self.new_study(storage)
        results = run_processes(storage, n, self.process_start_method, "create", (study_id, 10))
        ids = [t for result in results for t in result]
        assert len(set(ids)) == len(ids) == 10 * n
        trials = storage.get_all_trials(study_id)
        assert sorted(t._trial_id for t in trials) == sorted(ids)
        assert [t.number for t in trials] == list(range(10 * n))

    def test_processes_create_study_with_one_name(self, storage: BaseStorage) -> None:
        n = self.n_processes()
        name = unique_name("process-race")
        results = run_processes(storage, n, self.process_start_method, "study", (name,))
        ids = [r for r in results if r is not None]
        assert len(ids) == 1, f"{len(ids)} processes created study {name!r}"
        assert storage.get_study_id_from_name(name) == ids[0]

    def test_write_after_a_finish_through_another_handle_is_rejected(
        self, storage_factory: StorageFactory
    ) -> None:
        """Each trial write is decided on the store's newest state, not on what this handle
        last read: after another handle (another process) finishes a trial, every write to it
        through a handle that still holds it as RUNNING raises UpdateFinishedTrialError and
        changes nothing."""
        self.require("shared_across_processes")
        settings = {"heartbeat_interval": 60.0} if self.supports_heartbeats else {}
        storage = storage_factory(**settings)
        other = pickle.loads(pickle.dumps(storage))
        dist = FloatDistribution(0, 1)
        writes: dict[str, Callable[[int], object]] = {
            "set_trial_param": lambda t: storage.set_trial_param(t, "y", 0.25, dist),
            "set_trial_intermediate_value": lambda t: storage.set_trial_intermediate_value(
                t, 0, 1.0
            ),
            "set_trial_user_attr": lambda t: storage.set_trial_user_attr(t, "k", 1),
            "set_trial_system_attr": lambda t: storage.set_trial_system_attr(t, "k", 1),
            "set_trial_state_values": lambda t: storage.set_trial_state_values(
                t, TrialState.COMPLETE, [1.0]
            ),
        }
        if self.supports_heartbeats:
            writes["record_heartbeat"] = storage.record_heartbeat
        try:
            study_id = self.new_study(storage)
            for write in writes.values():
                trial_id = storage.create_new_trial(study_id)
                storage.set_trial_param(trial_id, "x", 0.5, dist)
                assert storage.get_trial(trial_id).state == TrialState.RUNNING
                assert other.set_trial_state_values(trial_id, TrialState.FAIL)
                finished = other.get_trial(trial_id)
                with pytest.raises(UpdateFinishedTrialError, match=f"Trial#{finished.number} "):
                    write(trial_id)
                assert_same_trial(other.get_trial(trial_id), finished)
                assert_same_trial(storage.get_trial(trial_id), finished)
        finally:
            other.close()
            storage.close()

    def test_processes_see_each_others_writes(self, storage: BaseStorage) -> None:
        self.n_processes()
        study_id = self.new_study(storage)
        results = run_processes(storage, 1, self.process_start_method, "create", (study_id, 1))
        assert storage.get_trial(results[0][0]).number == 0
        assert storage.create_new_trial(study_id) not in results[0]
        name = unique_name("from-child")
        [child_study] = run_processes(storage, 1, self.process_start_method, "study", (name,))
        assert storage.get_study_id_from_name(name) == child_study
