"""Tests of the conformance suite itself (trialstore/conformance/): deliberately broken
storages must fail it, for the right reasons, and the reference storage must pass the same
selection.

Each mutant is InMemoryStorage with one guarantee broken. The suite runs through the public
entry point ``run_conformance`` with a ``-k`` selection, and a small plugin records which tests
failed.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from trialstore._core import copy_trial
from trialstore.conformance import run_conformance
from trialstore.distributions import BaseDistribution
from trialstore.storage import BaseStorage, InMemoryStorage
from trialstore.storage import validation as check
from trialstore.storage.journal import JournalFileBackend, JournalStorage
from trialstore.storage.rdb import RDBStorage
from trialstore.stress.broken import StaleCacheStorage
from trialstore.trial import FrozenTrial, TrialState

YIELD = 0.0005  # seconds: long enough for another thread to enter the critical section


# -- the mutants ------------------------------------------------------------------------------


class _SleepyList(list):  # type: ignore[type-arg]
    def __len__(self) -> int:
        n = super().__len__()
        time.sleep(YIELD)
        return n


class _SleepyDict(dict):  # type: ignore[type-arg]
    def __contains__(self, key: object) -> bool:
        found = super().__contains__(key)
        time.sleep(YIELD)
        return found


class NoLock(InMemoryStorage):
    """The lock is dropped, and every read-then-write gives other threads time to interleave."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = contextlib.nullcontext()  # type: ignore[assignment]
        self._name_to_id = _SleepyDict()

    @property
    def _next_trial_id(self) -> int:
        value: int = self.__dict__["_next_trial_value"]
        time.sleep(YIELD)
        return value

    @_next_trial_id.setter
    def _next_trial_id(self, value: int) -> None:
        self.__dict__["_next_trial_value"] = value

    def _study(self, study_id: int) -> Any:
        study = super()._study(study_id)
        if not isinstance(study.trial_ids, _SleepyList):
            study.trial_ids = _SleepyList(study.trial_ids)
        return study

    def _updatable_trial(self, trial_id: int) -> FrozenTrial:
        trial = super()._updatable_trial(trial_id)
        time.sleep(YIELD)
        return trial


class FinishedUpdatable(InMemoryStorage):
    """Finished trials accept writes."""

    def _updatable_trial(self, trial_id: int) -> FrozenTrial:
        return self._trial(trial_id)


class IdsReused(InMemoryStorage):
    """After a delete, the next ids continue from the largest id still in use."""

    def delete_study(self, study_id: int) -> None:
        super().delete_study(study_id)
        with self._lock:
            self._next_study_id = max(self._studies, default=-1) + 1
            self._next_trial_id = max(self._trials, default=-1) + 1


class NumbersNotDense(InMemoryStorage):
    """A trial's number is its (storage-wide) id, not its index in the study."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            self._trials[trial_id].number = trial_id
        return trial_id

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        for trial in self.get_all_trials(study_id):
            if trial.number == trial_number:
                return trial._trial_id
        raise KeyError(trial_number)


class SnapshotsShared(InMemoryStorage):
    """get_trial hands out the stored object, and attribute writes change it in place."""

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return self._trial(trial_id)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        stored = check.check_attr(key, value)
        with self._lock:
            self._updatable_trial(trial_id).user_attrs[key] = stored


class PartiallyApplied(InMemoryStorage):
    """Bad input is partly written before it is rejected."""

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        with self._lock:
            if (
                isinstance(param_name, str)
                and isinstance(distribution, BaseDistribution)
                and trial_id in self._trial_study
            ):
                study = self._studies[self._trial_study[trial_id]]
                study.distributions.setdefault(param_name, distribution)
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            if isinstance(key, str) and trial_id in self._trials:
                updated = copy_trial(self._trials[trial_id])
                updated.user_attrs[key] = repr(value)
                self._trials[trial_id] = updated
        super().set_trial_user_attr(trial_id, key, value)


class ClaimTwice(InMemoryStorage):
    """RUNNING -> RUNNING reports True (a second worker would run the trial again)."""

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        return changed or state == TrialState.RUNNING


class KeyErrorFirst(InMemoryStorage):
    """A missing trial is reported before a bad argument (wrong error precedence)."""

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self.get_trial(trial_id)
        super().set_trial_intermediate_value(trial_id, step, intermediate_value)


class DefaultParamBatches(InMemoryStorage):
    """set_trial_params is BaseStorage's default: one set_trial_param per entry (an entry
    rejected by the storage leaves the ones before it)."""

    set_trial_params = BaseStorage.set_trial_params


def _reject_outside_range(value: Any, distribution: Any) -> None:
    if not isinstance(distribution, BaseDistribution) or not isinstance(value, (int, float)):
        return
    try:
        inside = distribution._contains(float(value))
    except (OverflowError, ValueError):
        return
    if not inside and math.isfinite(value):
        raise ValueError(f"{value!r} is not in {distribution!r}")


class RangeChecked(InMemoryStorage):
    """A parameter value outside its distribution's range is rejected (Optuna stores it)."""

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        _reject_outside_range(param_value_internal, distribution)
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)

    def set_trial_params(self, trial_id: int, params: Any) -> None:
        if isinstance(params, dict):
            for entry in params.values():
                if isinstance(entry, tuple) and len(entry) == 2:
                    _reject_outside_range(*entry)
        super().set_trial_params(trial_id, params)


class KeepsDeletedTrials(InMemoryStorage):
    """delete_trials checks its arguments and returns, deleting nothing."""

    def delete_trials(self, study_id: int, trial_ids: Sequence[int]) -> None:
        check.check_trial_ids(trial_ids)
        self._study(study_id)


class ReusesDeletedNumbers(InMemoryStorage):
    """A new trial's number is the count of the study's trials that are not deleted."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            self._trials[trial_id].number = len(self.get_all_trials(study_id)) - 1
        return trial_id


class DeletionBlindJournal(JournalStorage):
    """A journal whose incremental reads skip the deletions other objects wrote: each object
    sees its own deletions only (a caching client that misses deletions)."""

    def _sync(self) -> None:
        backend = self._backend
        read_new = backend.read_new
        own = self._worker_prefix

        def without_foreign_deletions() -> Any:
            return [
                (n, r)
                for n, r in read_new()
                if r.get("op_code") != 3
                or "trialstore:deleted_trials" not in r.get("system_attr", {})
                or str(r.get("worker_id")).startswith(own)
            ]

        backend.read_new = without_foreign_deletions  # type: ignore[method-assign]
        try:
            super()._sync()
        finally:
            del backend.read_new


# -- running the suite on them ----------------------------------------------------------------


class _Outcomes:
    """A pytest plugin recording the names of failed and passed tests."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.passed: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.failed:
            self.failed.append(name)
        elif report.passed and report.when == "call":
            self.passed.append(name)


def _factory(cls: type[InMemoryStorage]) -> Callable[..., BaseStorage]:
    def make(*, heartbeat_interval: float | None = None, grace_period: float | None = None) -> Any:
        return cls(heartbeat_interval=heartbeat_interval, grace_period=grace_period)

    return make


def _run(cls: type[InMemoryStorage], select: str, **capabilities: Any) -> tuple[int, _Outcomes]:
    outcomes = _Outcomes()
    code = run_conformance(
        _factory(cls),
        select=select,
        pytest_args=["-q", "--tb=line", "-p", "no:randomly"],
        plugins=[outcomes],
        **capabilities,
    )
    return code, outcomes


#: (mutant, -k selection, tests that must be among the failures).
CASES: list[tuple[type[InMemoryStorage], str, list[str]]] = [
    (
        NoLock,
        "threads",
        [
            "test_threads_create_trials_with_dense_numbers",
            "test_threads_claim_a_waiting_trial_once",
            "test_threads_finish_a_trial_once",
            "test_threads_create_study_with_one_name",
            "test_threads_fail_stale_trials_once",
            "test_threads_lose_no_writes",
        ],
    ),
    (
        FinishedUpdatable,
        "finished or precedence",
        ["test_finished_trial_never_changes", "test_error_precedence"],
    ),
    (
        IdsReused,
        "reused or removes",
        ["test_deleted_name_is_free_and_ids_are_never_reused"],
    ),
    (
        NumbersNotDense,
        "dense",
        ["test_numbers_are_dense_per_study_and_ids_fresh"],
    ),
    (
        SnapshotsShared,
        "snapshot or later_writes or mutating",
        [
            "test_returned_trials_are_not_changed_by_later_writes",
            "test_mutating_returned_objects_does_not_change_the_storage",
        ],
    ),
    (
        PartiallyApplied,
        "bad_param or non_json",
        ["test_bad_param_raises_value_error", "test_non_json_value_raises_value_error"],
    ),
    (
        ClaimTwice,
        "claim or running_to_running",
        ["test_claim_waiting_trial", "test_running_to_running_returns_false"],
    ),
    (
        KeyErrorFirst,
        "precedence",
        ["test_error_precedence"],
    ),
    (
        DefaultParamBatches,
        "param_batch or set_trial_params",
        ["test_rejected_param_batch_stores_nothing", "test_error_precedence"],
    ),
    (
        RangeChecked,
        "outside_its_range",
        ["test_param_outside_its_range_is_stored"],
    ),
    (
        StaleCacheStorage,
        "deleted or deleting",
        ["test_deleted_trials_leave_every_read"],
    ),
    (
        KeepsDeletedTrials,
        "deleted or deleting",
        ["test_deleted_trials_leave_every_read", "test_writes_to_a_deleted_trial_raise"],
    ),
    (
        ReusesDeletedNumbers,
        "never_reused",
        ["test_numbers_are_never_reused"],
    ),
]


@pytest.mark.parametrize(
    ("mutant", "select", "must_fail"), CASES, ids=[cls.__name__ for cls, _, _ in CASES]
)
def test_mutant_fails_the_suite(
    mutant: type[InMemoryStorage], select: str, must_fail: list[str]
) -> None:
    # A race test catches a lockless storage only when the threads interleave, which a loaded
    # machine can delay: each named test must catch the mutant in at least one of three runs.
    failed: set[str] = set()
    for _ in range(3):
        code, outcomes = _run(mutant, select)
        assert code == pytest.ExitCode.TESTS_FAILED
        failed |= {name.split("[")[0] for name in outcomes.failed}
        missing = [name for name in must_fail if name not in failed]
        if not missing:
            break
    assert not missing, f"{mutant.__name__} was not caught by {missing}; failed: {failed}"


@pytest.mark.parametrize("select", sorted({select for _, select, _ in CASES}))
def test_reference_storage_passes_the_same_selection(select: str) -> None:
    code, outcomes = _run(InMemoryStorage, select)
    assert code == pytest.ExitCode.OK, outcomes.failed
    assert outcomes.passed


@pytest.mark.parametrize(
    "mutant",
    [
        FinishedUpdatable,
        IdsReused,
        NumbersNotDense,
        SnapshotsShared,
        PartiallyApplied,
        ClaimTwice,
        RangeChecked,
        StaleCacheStorage,
        KeepsDeletedTrials,
        ReusesDeletedNumbers,
    ],
    ids=lambda cls: cls.__name__,
)
def test_state_machine_catches_mutant(
    mutant: type[InMemoryStorage], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIALSTORE_CONFORMANCE_EXAMPLES", raising=False)
    monkeypatch.delenv("TRIALSTORE_CONFORMANCE_STEPS", raising=False)
    code, outcomes = _run(
        mutant, "test_state_machine", state_machine_examples=100, state_machine_shrink=False
    )
    assert code == pytest.ExitCode.TESTS_FAILED
    assert outcomes.failed == ["test_state_machine"]


def test_run_conformance_rejects_unknown_capabilities() -> None:
    with pytest.raises(ValueError, match="unknown capabilities"):
        run_conformance(_factory(InMemoryStorage), thread_unsafe=True)


def test_capability_flags_skip_tests() -> None:
    code, outcomes = _run(
        NoLock, "threads", thread_safe=False
    )  # the lockless mutant passes once it admits it is not thread-safe
    assert code == pytest.ExitCode.OK
    assert outcomes.failed == []


def test_process_races_catch_a_storage_that_is_not_shared() -> None:
    # InMemoryStorage claiming to be shared: each child process works on its own copy.
    code, outcomes = _run(
        InMemoryStorage, "processes", shared_across_processes=True, max_processes=2
    )
    assert code == pytest.ExitCode.TESTS_FAILED
    assert {
        "test_processes_claim_waiting_trials_once",
        "test_processes_create_trials_with_dense_numbers",
        "test_processes_create_study_with_one_name",
        "test_processes_see_each_others_writes",
    } <= set(outcomes.failed)


@pytest.fixture
def journal_factory(tmp_path: Path) -> Iterator[Callable[[type[JournalStorage]], Any]]:
    """``factory(cls)``: a storage factory of ``cls`` objects, each a new handle on one
    journal file."""

    def factory(cls: type[JournalStorage]) -> Any:
        counter = itertools.count()
        path = tmp_path / "journal.log"

        def make(**settings: Any) -> BaseStorage:
            next(counter)
            return cls(JournalFileBackend(path), **settings)

        return make

    yield factory


#: The tests where a second handle (in a thread, or in-process) reads after the deletions.
_SECOND_HANDLE = "caching_handle or threads_readers_never"


def test_a_handle_that_misses_others_deletions_fails_the_suite(
    journal_factory: Callable[[type[JournalStorage]], Any],
) -> None:
    outcomes = _Outcomes()
    code = run_conformance(
        journal_factory(DeletionBlindJournal),
        select=_SECOND_HANDLE,
        pytest_args=["-q", "--tb=line", "-p", "no:randomly"],
        plugins=[outcomes],
        shared_across_processes=True,
    )
    assert code == pytest.ExitCode.TESTS_FAILED
    assert {
        "test_a_caching_handle_learns_of_deletions",
        "test_threads_readers_never_see_a_trial_once_its_deletion_returned",
    } <= set(outcomes.failed)
    code = run_conformance(
        journal_factory(JournalStorage),
        select=_SECOND_HANDLE,
        pytest_args=["-q", "-p", "no:randomly"],
        shared_across_processes=True,
    )
    assert code == pytest.ExitCode.OK


def test_deletion_tests_skip_for_a_storage_that_cannot_delete() -> None:
    outcomes = _Outcomes()
    code = run_conformance(
        _factory(InMemoryStorage),
        select="deleted or deleting or state_machine",
        pytest_args=["-q", "-p", "no:randomly", "-rs"],
        plugins=[outcomes],
        supports_trial_deletion=False,
        state_machine_examples=5,
    )
    assert code == pytest.ExitCode.OK
    assert "test_state_machine" in outcomes.passed
    deletion_tests = {
        "test_deleted_trials_leave_every_read",
        "test_numbers_are_never_reused",
        "test_writes_to_a_deleted_trial_raise",
        "test_bad_deletions_delete_nothing",
    }
    assert not deletion_tests & set(outcomes.passed)


class DeletionBlindRDB(RDBStorage):
    """An RDB storage whose incremental reads drop the deletions the database tells them of:
    its cache keeps the deleted trials it holds (a caching client that misses deletions)."""

    def _setup_statements(self) -> None:
        super()._setup_statements()
        fetch = self._cache._fetch_and_learn

        def blind(study_id: int, view: Any) -> Any:
            return fetch(study_id, view)._replace(deleted_numbers=[])

        self._cache._fetch_trials = blind


def _deletion_blind_outcomes(factory: Callable[..., BaseStorage]) -> set[str]:
    """The failed tests of the second-handle deletion tests on ``factory``'s storages."""
    outcomes = _Outcomes()
    code = run_conformance(
        factory,
        select=_SECOND_HANDLE,
        pytest_args=["-q", "--tb=line", "-p", "no:randomly"],
        plugins=[outcomes],
        shared_across_processes=True,
    )
    assert code == pytest.ExitCode.TESTS_FAILED
    return set(outcomes.failed)


def test_an_rdb_cache_that_misses_deletions_fails_the_suite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'blind.db'}"

    def make(**settings: Any) -> BaseStorage:
        return DeletionBlindRDB(url, **settings)

    assert _deletion_blind_outcomes(make) >= {
        "test_a_caching_handle_learns_of_deletions",
        "test_threads_readers_never_see_a_trial_once_its_deletion_returned",
    }


def test_a_grpc_client_that_misses_deletions_fails_the_suite() -> None:
    pytest.importorskip("grpc")
    from trialstore.storage.grpc import GrpcProxyServer, GrpcStorageProxy

    class DeletionBlindProxy(GrpcStorageProxy):
        """A client whose syncs drop the deleted numbers the server sends."""

        def _fetch_trials(self, study_id: int, view: Any) -> Any:
            fetched = super()._fetch_trials(study_id, view)
            return fetched._replace(deleted_numbers=[], every=False)

    server = GrpcProxyServer(InMemoryStorage(), port=0)
    server.start()
    try:

        def make(**settings: Any) -> BaseStorage:
            return DeletionBlindProxy(port=server.port)

        assert "test_a_caching_handle_learns_of_deletions" in _deletion_blind_outcomes(make)
    finally:
        server.stop(grace=0)
