"""Conformance: deleting trials with ``delete_trials`` (private).

Every test needs the capability ``supports_trial_deletion``; the tests with a second handle
(another storage object on the same store, in a thread or another process) also need
``shared_across_processes``. The second handle is the storage pickled and unpickled: a caching
backend's copy starts with an empty cache, fills it with the first reads, and must then learn
of the other handle's deletions.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.conformance._base import (
    ConformanceBase,
    StorageFactory,
    assert_same_trial,
    make_template,
)
from trialstore.conformance._concurrency import run_threads
from trialstore.distributions import FloatDistribution
from trialstore.exceptions import TrialDeletedError
from trialstore.storage.base import BaseStorage

__all__ = ["DeletionConformance"]

_TIMEOUT = 120.0
_DIST = FloatDistribution(0.0, 1.0)


def _study_with_every_state(storage: BaseStorage, study_id: int) -> dict[str, int]:
    """Create one trial per state (and a second COMPLETE one, the best); return their ids."""
    ids = {
        "best": storage.create_new_trial(study_id, make_template(values=[-1.0])),
        "complete": storage.create_new_trial(study_id, make_template(values=[5.0])),
        "pruned": storage.create_new_trial(study_id, make_template(TrialState.PRUNED)),
        "fail": storage.create_new_trial(study_id, make_template(TrialState.FAIL)),
        "waiting": storage.create_new_trial(study_id, make_template(TrialState.WAITING)),
        "running": storage.create_new_trial(study_id),
    }
    storage.set_trial_param(ids["running"], "x", 0.5, _DIST)
    return ids


def _assert_gone(storage: BaseStorage, study_id: int, trial: FrozenTrial) -> None:
    """No listing holds ``trial``; every read naming it raises TrialDeletedError. The
    listings come first: a caching object may learn of a deletion from a read that names
    the trial, which must not be what makes its listings right."""
    trial_id = trial._trial_id
    listed = [t._trial_id for t in storage.get_all_trials(study_id)]
    assert trial_id not in listed, f"get_all_trials lists deleted trial {trial_id}"
    for state in TrialState:
        listed = [t._trial_id for t in storage.get_all_trials(study_id, states=(state,))]
        assert trial_id not in listed, f"get_all_trials(states={state.name}) lists it"
    reads: dict[str, Callable[[], object]] = {
        "get_trial": lambda: storage.get_trial(trial_id),
        "get_trial_number_from_id": lambda: storage.get_trial_number_from_id(trial_id),
        "get_trial_params": lambda: storage.get_trial_params(trial_id),
        "get_trial_user_attrs": lambda: storage.get_trial_user_attrs(trial_id),
        "get_trial_system_attrs": lambda: storage.get_trial_system_attrs(trial_id),
        "get_trial_id_from_study_id_trial_number": (
            lambda: storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        ),
    }
    for name, read in reads.items():
        with pytest.raises(TrialDeletedError):
            read()
            pytest.fail(f"{name} of deleted trial {trial_id} returned")


def _deleting_child(payload: bytes, queue: Any, study_id: int, trial_ids: list[int]) -> None:
    """Child process: delete the trials through its own handle, then create one trial."""
    try:
        storage: BaseStorage = pickle.loads(payload)
        storage.delete_trials(study_id, trial_ids)
        created = storage.create_new_trial(study_id)
        queue.put(("ok", storage.get_trial(created).number))
        storage.close()
    except BaseException as e:
        queue.put(("error", f"{type(e).__name__}: {e}"))


def _writing_child(payload: bytes, started: Any, queue: Any, trial_id: int) -> None:
    """Child process: write to a RUNNING trial until a write fails; report how it failed and
    what a write after that raises."""
    try:
        storage: BaseStorage = pickle.loads(payload)
        step = 0
        failure: BaseException | None = None
        while failure is None and step < 1_000_000:
            try:
                storage.set_trial_intermediate_value(trial_id, step, float(step))
                storage.set_trial_user_attr(trial_id, "last", step)
            except Exception as e:
                failure = e
            else:
                step += 1
                started.set()
        try:
            storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
            again = "returned"
        except Exception as e:
            again = type(e).__name__
        storage.close()
        queue.put(("ok", type(failure).__name__, again, step))
    except BaseException as e:
        queue.put(("error", f"{type(e).__name__}: {e}", "", 0))


def _run_child(method: str, target: Callable[..., None], *args: Any) -> tuple[Any, ...]:
    """Run ``target(*args, queue)`` in a child process; return what it put on the queue."""
    ctx: Any = multiprocessing.get_context(method)
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args[:1], queue, *args[1:]))
    process.start()
    try:
        result: tuple[Any, ...] = queue.get(timeout=_TIMEOUT)
    finally:
        process.join(_TIMEOUT)
        if process.is_alive():
            process.kill()
    assert result[0] == "ok", f"child process failed: {result[1]}"
    return result


class DeletionConformance(ConformanceBase):
    """delete_trials: what every reader sees afterwards, numbers, errors, and other handles."""

    @pytest.fixture
    def deleting_storage(self, storage: BaseStorage) -> BaseStorage:
        """The storage, for a backend that deletes trials (skips otherwise)."""
        self.require_deletion()
        return storage

    @pytest.fixture
    def second_handle(self, deleting_storage: BaseStorage) -> Iterator[BaseStorage]:
        """Another storage object on the same store (the storage pickled), closed after."""
        self.require("shared_across_processes")
        other: BaseStorage = pickle.loads(pickle.dumps(deleting_storage))
        yield other
        other.close()

    def require_deletion(self) -> None:
        """Skip unless the storage implements ``delete_trials``."""
        if not self.supports_trial_deletion:
            pytest.skip(
                "trial deletion is not yet implemented for this backend "
                f"({type(self).__name__}.supports_trial_deletion is False)"
            )

    # -- one handle ---------------------------------------------------------------------------

    def test_deleted_trials_leave_every_read(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        ids = _study_with_every_state(storage, study_id)
        before = {t._trial_id: t for t in storage.get_all_trials(study_id)}
        assert storage.get_best_trial(study_id)._trial_id == ids["best"]
        doomed = [ids["best"], ids["waiting"], ids["running"], ids["fail"]]
        storage.delete_trials(study_id, doomed)
        for trial_id in doomed:
            _assert_gone(storage, study_id, before[trial_id])
        survivors = [t for t in before.values() if t._trial_id not in doomed]
        listed = storage.get_all_trials(study_id)
        assert [t._trial_id for t in listed] == [t._trial_id for t in survivors]
        for got, want in zip(listed, survivors, strict=True):
            assert_same_trial(got, want)
        assert storage.get_n_trials(study_id) == len(survivors)
        assert storage.get_n_trials(study_id, TrialState.FAIL) == 0
        assert storage.get_n_trials(study_id, (TrialState.WAITING, TrialState.RUNNING)) == 0
        assert storage.get_best_trial(study_id)._trial_id == ids["complete"]
        for trial in survivors:
            assert (
                storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
                == trial._trial_id
            )

    def test_deleting_every_complete_trial_leaves_no_best(
        self, deleting_storage: BaseStorage
    ) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        ids = _study_with_every_state(storage, study_id)
        storage.delete_trials(study_id, [ids["best"], ids["complete"]])
        with pytest.raises(ValueError):
            storage.get_best_trial(study_id)

    def test_numbers_are_never_reused(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        ids = [storage.create_new_trial(study_id) for _ in range(4)]
        storage.delete_trials(study_id, ids[2:])  # the highest numbers
        created = storage.create_new_trial(study_id, make_template(TrialState.WAITING))
        assert created not in ids, "a deleted trial's id was handed out again"
        assert storage.get_trial(created).number == 4, "numbers must count on from 3"
        storage.delete_trials(study_id, [ids[0], created])
        assert storage.get_trial(storage.create_new_trial(study_id)).number == 5
        assert [t.number for t in storage.get_all_trials(study_id)] == [1, 5]
        with pytest.raises(KeyError):
            storage.get_trial_id_from_study_id_trial_number(study_id, 6)

    def test_writes_to_a_deleted_trial_raise(self, storage_factory: StorageFactory) -> None:
        self.require_deletion()
        settings = {"heartbeat_interval": 60.0} if self.supports_heartbeats else {}
        storage = storage_factory(**settings)
        writes: dict[str, Callable[[int], object]] = {
            "set_trial_param": lambda t: storage.set_trial_param(t, "y", 0.25, _DIST),
            "set_trial_params": lambda t: storage.set_trial_params(t, {"y": (0.25, _DIST)}),
            "empty set_trial_params": lambda t: storage.set_trial_params(t, {}),
            "set_trial_intermediate_value": (
                lambda t: storage.set_trial_intermediate_value(t, 0, 1.0)
            ),
            "set_trial_user_attr": lambda t: storage.set_trial_user_attr(t, "k", 1),
            "set_trial_system_attr": lambda t: storage.set_trial_system_attr(t, "k", 1),
            "finish": lambda t: storage.set_trial_state_values(t, TrialState.COMPLETE, [1.0]),
            "claim": lambda t: storage.set_trial_state_values(t, TrialState.RUNNING),
            "set_trial_params_and_state_values": (
                lambda t: storage.set_trial_params_and_state_values(
                    t, {"y": (0.25, _DIST)}, TrialState.FAIL
                )
            ),
        }
        if self.supports_heartbeats:
            writes["record_heartbeat"] = storage.record_heartbeat
        try:
            study_id = self.new_study(storage)
            for name, write in writes.items():
                for template in (None, make_template(TrialState.WAITING)):
                    trial_id = storage.create_new_trial(study_id, template)
                    storage.set_trial_param(trial_id, "x", 0.5, _DIST)
                    storage.delete_trials(study_id, [trial_id])
                    with pytest.raises(TrialDeletedError):
                        write(trial_id)
                        pytest.fail(f"{name} on deleted trial {trial_id} returned")
            assert storage.get_all_trials(study_id) == []
            # the rejected writes registered nothing: "y" may take any distribution
            fresh = storage.create_new_trial(study_id)
            storage.set_trial_param(fresh, "y", 1.0, FloatDistribution(0.5, 2.0, log=True))
        finally:
            storage.close()

    def test_deleted_waiting_trial_is_never_claimed(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        waiting = [
            storage.create_new_trial(study_id, make_template(TrialState.WAITING)) for _ in range(2)
        ]
        storage.delete_trials(study_id, [waiting[0]])
        assert storage.create_trial_or_list_waiting(study_id) == [waiting[1]]
        storage.delete_trials(study_id, [waiting[1]])
        created = storage.create_trial_or_list_waiting(study_id)
        assert isinstance(created, int), "only deleted trials were WAITING: one is created"
        assert storage.get_trial(created).state == TrialState.RUNNING
        for trial_id in waiting:
            with pytest.raises(TrialDeletedError):
                storage.set_trial_state_values(trial_id, TrialState.RUNNING)

    def test_bad_deletions_delete_nothing(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        other_study = self.new_study(storage)
        ids = [storage.create_new_trial(study_id) for _ in range(3)]
        foreign = storage.create_new_trial(other_study)
        storage.delete_trials(study_id, [ids[2]])
        gone_study = self.new_study(storage)
        gone_trial = storage.create_new_trial(gone_study)
        storage.delete_study(gone_study)
        before = storage.get_all_trials(study_id)

        def unchanged() -> None:
            after = storage.get_all_trials(study_id)
            assert [t._trial_id for t in after] == [t._trial_id for t in before]
            assert storage.get_trial(foreign).state == TrialState.RUNNING

        bad_arguments: list[Any] = [
            None,
            ids[0],
            str(ids[0]),
            b"\x00",
            {ids[0]: 1},
            [ids[0], str(ids[1])],
            [ids[0], True],
            [float(ids[0])],
            [ids[0], ids[0]],
        ]
        for trial_ids in bad_arguments:
            with pytest.raises(ValueError):
                storage.delete_trials(study_id, trial_ids)
            unchanged()
        with pytest.raises(ValueError):  # the argument first, then the missing study
            storage.delete_trials(gone_study, [ids[0], ids[0]])
        cases: list[tuple[Any, list[int]]] = [
            (study_id, [ids[0], -1]),
            (study_id, [ids[0], foreign]),
            (study_id, [ids[0], gone_trial]),
            (study_id, [ids[0], 2**70]),
            (gone_study, [ids[0]]),
            (-1, [ids[0]]),
            ("0", [ids[0]]),
        ]
        for study, trial_ids in cases:
            with pytest.raises(KeyError):
                storage.delete_trials(study, trial_ids)
            unchanged()
        with pytest.raises(TrialDeletedError):
            storage.delete_trials(study_id, [ids[0], ids[2]])
        unchanged()

    def test_empty_batch_deletes_nothing(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        storage.delete_trials(study_id, [])
        storage.delete_trials(study_id, ())
        assert [t._trial_id for t in storage.get_all_trials(study_id)] == [trial_id]
        gone = self.new_study(storage)
        storage.delete_study(gone)
        with pytest.raises(KeyError):
            storage.delete_trials(gone, [])

    def test_deleting_the_study_afterwards(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        study_id = self.new_study(storage, prefix="del-then-study")
        name = storage.get_study_name_from_id(study_id)
        ids = [storage.create_new_trial(study_id) for _ in range(2)]
        storage.delete_trials(study_id, [ids[0]])
        storage.delete_study(study_id)
        for trial_id in ids:
            with pytest.raises(KeyError):
                storage.get_trial(trial_id)
        again = storage.create_new_study([StudyDirection.MINIMIZE], name)
        trial_id = storage.create_new_trial(again)
        assert trial_id not in ids and storage.get_trial(trial_id).number == 0

    def test_deleted_trials_are_never_stale(self, storage_factory: StorageFactory) -> None:
        self.require_deletion()
        self.require("supports_heartbeats")
        storage = storage_factory(
            heartbeat_interval=self.heartbeat_test_interval,
            grace_period=self.heartbeat_test_grace_period,
        )
        try:
            study_id = self.new_study(storage)
            kept, doomed = (storage.create_new_trial(study_id) for _ in range(2))
            storage.record_heartbeat(kept)
            storage.record_heartbeat(doomed)
            storage.delete_trials(study_id, [doomed])
            threading.Event().wait(self.heartbeat_test_grace_period * 1.2 + 0.1)
            assert storage.get_stale_trial_ids(study_id) == [kept]
            assert storage.fail_stale_trials(study_id) == [kept]
        finally:
            storage.close()

    # -- two handles --------------------------------------------------------------------------

    def test_a_caching_handle_learns_of_deletions(
        self, deleting_storage: BaseStorage, second_handle: BaseStorage
    ) -> None:
        storage, other = deleting_storage, second_handle
        study_id = self.new_study(storage)
        ids = _study_with_every_state(storage, study_id)
        cached = {t._trial_id: t for t in other.get_all_trials(study_id)}  # fills its cache
        assert set(cached) == set(ids.values())
        for trial_id in ids.values():
            other.get_trial(trial_id)
        assert other.get_best_trial(study_id)._trial_id == ids["best"]
        doomed = [ids["best"], ids["pruned"], ids["waiting"]]
        storage.delete_trials(study_id, doomed)
        for trial_id in doomed:
            _assert_gone(other, study_id, cached[trial_id])
        assert other.get_best_trial(study_id)._trial_id == ids["complete"]
        assert other.get_n_trials(study_id) == len(ids) - len(doomed)
        assert other.create_trial_or_list_waiting(study_id) != [ids["waiting"]]
        created = other.create_new_trial(study_id)
        assert storage.get_trial(created).number == len(ids) + 1

    def test_threads_readers_never_see_a_trial_once_its_deletion_returned(
        self, deleting_storage: BaseStorage, second_handle: BaseStorage
    ) -> None:
        storage, other = deleting_storage, second_handle
        self.require("thread_safe")
        study_id = self.new_study(storage)
        ids = [
            storage.create_new_trial(study_id, make_template(values=[float(i)])) for i in range(24)
        ]
        other.get_all_trials(study_id)  # the reader's cache holds every trial
        deleted: list[int] = []
        lock = threading.Lock()
        done = threading.Event()

        def work(index: int) -> int:
            if index == 0:
                try:
                    for trial_id in ids[::2]:
                        storage.delete_trials(study_id, [trial_id])
                        with lock:
                            deleted.append(trial_id)
                finally:
                    done.set()
                return len(deleted)
            reads = 0
            while not done.is_set() or reads < 3:
                with lock:
                    known = set(deleted)
                listed = {t._trial_id for t in other.get_all_trials(study_id, deepcopy=False)}
                seen = known & listed
                assert not seen, f"trials {sorted(seen)} listed after their deletion returned"
                for trial_id in known:
                    with pytest.raises(TrialDeletedError):
                        other.get_trial(trial_id)
                reads += 1
            return reads

        run_threads(2, work)
        assert {t._trial_id for t in other.get_all_trials(study_id)} == set(ids[1::2])

    def test_processes_agree_on_deletions(self, deleting_storage: BaseStorage) -> None:
        storage = deleting_storage
        self.require("shared_across_processes")
        study_id = self.new_study(storage)
        ids = _study_with_every_state(storage, study_id)
        cached = {t._trial_id: t for t in storage.get_all_trials(study_id)}
        doomed = [ids["best"], ids["running"], ids["waiting"]]
        _, number = _run_child(
            self.process_start_method, _deleting_child, pickle.dumps(storage), study_id, doomed
        )
        assert number == len(ids), "the child's new trial must number on after every trial"
        for trial_id in doomed:
            _assert_gone(storage, study_id, cached[trial_id])
        assert storage.get_best_trial(study_id)._trial_id == ids["complete"]
        assert storage.get_trial(storage.create_new_trial(study_id)).number == len(ids) + 1

    def test_a_running_trial_deleted_under_its_worker_process(
        self, deleting_storage: BaseStorage
    ) -> None:
        storage = deleting_storage
        self.require("shared_across_processes")
        study_id = self.new_study(storage)
        trial_id = storage.create_new_trial(study_id)
        ctx: Any = multiprocessing.get_context(self.process_start_method)
        started, queue = ctx.Event(), ctx.Queue()
        process = ctx.Process(
            target=_writing_child, args=(pickle.dumps(storage), started, queue, trial_id)
        )
        process.start()
        try:
            assert started.wait(_TIMEOUT), "the worker process never wrote"
            storage.delete_trials(study_id, [trial_id])
            status, failure, again, steps = queue.get(timeout=_TIMEOUT)
        finally:
            process.join(_TIMEOUT)
            if process.is_alive():
                process.kill()
        assert status == "ok", f"worker process failed: {failure}"
        assert steps >= 1
        assert failure == "TrialDeletedError", f"its write after the deletion raised {failure}"
        assert again == "TrialDeletedError", f"its finish after the deletion: {again}"
        with pytest.raises(TrialDeletedError):
            storage.get_trial(trial_id)
        assert storage.get_all_trials(study_id) == []
