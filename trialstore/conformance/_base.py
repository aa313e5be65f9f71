"""The shared base of the conformance mixins: capability flags, fixtures and helpers (private)."""

from __future__ import annotations

import datetime
import json
import math
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Protocol

import pytest

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.storage.base import BaseStorage

__all__ = [
    "UNKNOWN_IDS",
    "ConformanceBase",
    "StorageFactory",
    "assert_same_trial",
    "canonical_trial",
    "make_template",
    "unique_name",
]


class StorageFactory(Protocol):
    """What the ``storage_factory`` fixture returns: a callable building a storage.

    Each call returns a new storage object: either a fresh, empty store, or a new handle on one
    store shared by every call (the suite only relies on studies it created itself). The suite
    calls ``close()`` on every storage it gets.
    """

    def __call__(
        self, *, heartbeat_interval: float | None = None, grace_period: float | None = None
    ) -> BaseStorage: ...


#: Ids no storage of the suite hands out, of every size: beyond a 32-bit INTEGER column
#: (2**31, 2**40) and beyond 64 bits. Each names no study or trial (KeyError).
UNKNOWN_IDS = (2**31, -(2**31) - 1, 2**40, 2**63, -(2**63) - 1, 2**70)


def unique_name(prefix: str = "conf") -> str:
    """Return a study name no other test (in this or another process) uses."""
    return f"{prefix}-{uuid.uuid4().hex}"


def make_template(
    state: TrialState = TrialState.COMPLETE,
    *,
    values: list[float] | None = None,
    params: dict[str, Any] | None = None,
    distributions: dict[str, BaseDistribution] | None = None,
    user_attrs: dict[str, Any] | None = None,
    system_attrs: dict[str, Any] | None = None,
    intermediate_values: dict[int, float] | None = None,
    datetime_start: datetime.datetime | None = None,
    datetime_complete: datetime.datetime | None = None,
) -> FrozenTrial:
    """Return a consistent template trial in ``state`` (COMPLETE gets ``values=[0.0]``)."""
    start = datetime.datetime(2024, 5, 6, 7, 8, 9, 123456)
    if datetime_start is None and state != TrialState.WAITING:
        datetime_start = start
    if datetime_complete is None and state.is_finished():
        datetime_complete = start + datetime.timedelta(seconds=3, microseconds=654321)
    if values is None and state == TrialState.COMPLETE:
        values = [0.0]
    return FrozenTrial(
        number=-1,
        state=state,
        value=None,
        values=values,
        datetime_start=datetime_start,
        datetime_complete=datetime_complete,
        params=dict(params or {}),
        distributions=dict(distributions or {}),
        user_attrs=dict(user_attrs or {}),
        system_attrs=dict(system_attrs or {}),
        intermediate_values=dict(intermediate_values or {}),
        trial_id=-1,
    )


def _canonical_float(value: Any) -> Any:
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else value.hex())
    return (type(value).__name__, value)


def canonical_trial(trial: FrozenTrial) -> tuple[Any, ...]:
    """Return a hashable, exact form of every field of ``trial`` (NaN-safe, order-aware)."""
    return (
        trial._trial_id,
        trial.number,
        TrialState(trial.state).name,
        None if trial.values is None else tuple(_canonical_float(v) for v in trial.values),
        trial.datetime_start,
        trial.datetime_complete,
        tuple((k, _canonical_float(v)) for k, v in trial.params.items()),
        tuple((k, repr(d)) for k, d in trial.distributions.items()),
        json.dumps(trial.user_attrs, sort_keys=True),
        json.dumps(trial.system_attrs, sort_keys=True),
        tuple(sorted((k, _canonical_float(v)) for k, v in trial.intermediate_values.items())),
    )


def assert_same_trial(actual: FrozenTrial, expected: FrozenTrial) -> None:
    """Assert that two snapshots agree field by field (exact floats, NaN equal to NaN)."""
    got, want = canonical_trial(actual), canonical_trial(expected)
    names = (
        "trial_id",
        "number",
        "state",
        "values",
        "datetime_start",
        "datetime_complete",
        "params",
        "distributions",
        "user_attrs",
        "system_attrs",
        "intermediate_values",
    )
    for name, g, w in zip(names, got, want, strict=True):
        assert g == w, f"trial field {name}: storage has {g!r}, expected {w!r}"


class ConformanceBase:
    """Capability flags, the ``storage`` fixture and helpers shared by every conformance mixin.

    Subclasses (through :class:`~trialstore.conformance.StorageConformance`) define the fixture
    ``storage_factory`` and override the flags below that do not hold for their storage; a test
    that needs a missing capability is skipped with the reason.
    """

    #: The storage implements heartbeats (every trialstore backend does).
    supports_heartbeats: ClassVar[bool] = True
    #: The storage implements ``delete_trials`` (set False for one that keeps BaseStorage's
    #: default, which raises NotImplementedError).
    supports_trial_deletion: ClassVar[bool] = True
    #: A storage pickled to another process sees the same data as the original.
    shared_across_processes: ClassVar[bool] = False
    #: One storage object may be used by many threads at once.
    thread_safe: ClassVar[bool] = True
    #: The most threads the race tests start at once.
    max_threads: ClassVar[int] = 16
    #: How many processes the cross-process race tests start.
    max_processes: ClassVar[int] = 4
    #: multiprocessing start method of the cross-process tests ("spawn" or "fork").
    process_start_method: ClassVar[str] = "spawn"
    #: Heartbeat interval and grace period (seconds) the heartbeat tests build storages with.
    heartbeat_test_interval: ClassVar[float] = 0.2
    heartbeat_test_grace_period: ClassVar[float] = 0.5
    #: State machine size; TRIALSTORE_CONFORMANCE_EXAMPLES / _STEPS override these.
    state_machine_examples: ClassVar[int] = 200
    state_machine_steps: ClassVar[int] = 50
    #: Shrink a failing state machine run to a minimal one: easier to read, but hypothesis may
    #: spend minutes on it, so it is off unless asked for (TRIALSTORE_CONFORMANCE_SHRINK=1).
    state_machine_shrink: ClassVar[bool] = False

    @pytest.fixture
    def storage_factory(self) -> StorageFactory:
        """Override me: return ``make(*, heartbeat_interval=None, grace_period=None)``."""
        pytest.fail(
            f"{type(self).__name__} must define a pytest fixture 'storage_factory' returning "
            "make(*, heartbeat_interval=None, grace_period=None) -> BaseStorage."
        )

    @pytest.fixture
    def storage(self, storage_factory: StorageFactory) -> Iterator[BaseStorage]:
        """A storage from ``storage_factory()`` (heartbeats off), closed after the test."""
        storage = storage_factory()
        yield storage
        storage.close()

    # -- helpers for the tests --------------------------------------------------------------

    def require(self, flag: str) -> None:
        """Skip the calling test unless the capability flag ``flag`` is true."""
        if not getattr(self, flag):
            pytest.skip(f"{type(self).__name__}.{flag} is False")

    @staticmethod
    def new_study(
        storage: BaseStorage,
        directions: Iterable[StudyDirection] = (StudyDirection.MINIMIZE,),
        prefix: str = "conf",
    ) -> int:
        """Create a study with a unique name and return its id."""
        return storage.create_new_study(list(directions), unique_name(prefix))

    @staticmethod
    def all_study_ids(storage: BaseStorage) -> set[int]:
        """Return the ids of every study the storage lists (own or not)."""
        return {s._study_id for s in storage.get_all_studies()}
