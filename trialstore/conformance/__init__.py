"""The storage conformance suite: the executable form of ``docs/protocol.md``.

Needs pytest and hypothesis: ``pip install trialstore[conformance]``.

Any :class:`~trialstore.storage.BaseStorage` implementation (trialstore's own backends or one in
another project) proves it keeps the protocol by passing this suite. With pytest::

    import pytest
    from trialstore.conformance import StorageConformance
    from mypackage import MyStorage

    class TestMyStorage(StorageConformance):
        shared_across_processes = True  # capability flags: see below

        @pytest.fixture
        def storage_factory(self, tmp_path):
            def make(*, heartbeat_interval=None, grace_period=None):
                return MyStorage(
                    tmp_path / "db", heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                )
            return make

Each ``make()`` call returns a new storage object: a fresh empty store, or (for expensive
backends) a new handle on one shared store; the suite only relies on studies it created itself
and calls ``close()`` on every storage it gets. Without pytest::

    from trialstore.conformance import run_conformance
    exit_code = run_conformance(make, shared_across_processes=True)

Capability flags are class attributes (see :class:`StorageConformance`); a test needing a
capability the storage lacks is skipped with the reason. The hypothesis state machine runs
``state_machine_examples`` x ``state_machine_steps`` (200 x 50); the environment variables
``TRIALSTORE_CONFORMANCE_EXAMPLES`` and ``TRIALSTORE_CONFORMANCE_STEPS`` set them, and
``TRIALSTORE_CONFORMANCE_SEED`` switches from the fixed (derandomized) sequence to a seeded
random one; ``TRIALSTORE_CONFORMANCE_SHRINK=1`` shrinks a failure to a minimal program. A
failure prints the steps it ran and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

from trialstore.conformance._attributes import AttributesConformance
from trialstore.conformance._base import StorageFactory
from trialstore.conformance._combined_writes import CombinedWritesConformance
from trialstore.conformance._concurrency import ConcurrencyConformance
from trialstore.conformance._deletion import DeletionConformance
from trialstore.conformance._errors import ErrorsConformance
from trialstore.conformance._heartbeats import HeartbeatsConformance
from trialstore.conformance._param_batches import ParamBatchesConformance
from trialstore.conformance._runner import run_conformance
from trialstore.conformance._snapshots import SnapshotsConformance
from trialstore.conformance._state_machine import StateMachineConformance
from trialstore.conformance._studies import StudiesConformance
from trialstore.conformance._trials import TrialsConformance
from trialstore.conformance._values import ValuesConformance

__all__ = ["StorageConformance", "StorageFactory", "run_conformance"]


class StorageConformance(
    StudiesConformance,
    TrialsConformance,
    AttributesConformance,
    ValuesConformance,
    ParamBatchesConformance,
    CombinedWritesConformance,
    ErrorsConformance,
    SnapshotsConformance,
    HeartbeatsConformance,
    ConcurrencyConformance,
    DeletionConformance,
    StateMachineConformance,
):
    """The whole conformance suite as one pytest mixin.

    Subclass it in a class whose name starts with ``Test`` and define the pytest fixture
    ``storage_factory`` returning ``make(*, heartbeat_interval=None, grace_period=None)``.
    Capability flags (class attributes, override as needed):

    * ``supports_heartbeats = True``: heartbeat tests run.
    * ``supports_trial_deletion = True``: ``delete_trials`` tests run (and the state machine
      deletes); set False for a storage that keeps BaseStorage's default (NotImplementedError):
      they are then skipped as not implemented for the backend.
    * ``shared_across_processes = False``: set True when a pickled storage used in a child
      process sees the same data; the cross-process race tests then run.
    * ``thread_safe = True``: one storage object may be used by many threads; race tests run.
    * ``max_threads = 16``, ``max_processes = 4``, ``process_start_method = "spawn"``.
    * ``heartbeat_test_interval = 0.2``, ``heartbeat_test_grace_period = 0.5`` (seconds).
    * ``state_machine_examples = 200``, ``state_machine_steps = 50``: the hypothesis state
      machine's size (the environment variables override it).
    * ``state_machine_shrink = False``: shrink a failing run to a minimal one (can take
      minutes; ``TRIALSTORE_CONFORMANCE_SHRINK=1`` turns it on too).

    Every test relies only on studies it created (unique names), so ``make()`` may hand out
    new handles on one shared store. Areas: studies, trials, attributes, values (objective,
    parameter and intermediate), parameter batches (``set_trial_params``: order, all or
    nothing, racing a finish), the combined writes (``create_trial_or_list_waiting``,
    ``set_trial_params_and_state_values``), errors (precedence; a rejected call changes nothing),
    snapshots and pickling, heartbeats, concurrency (threads; processes when shared), deleting
    trials (every read after a deletion, by any handle in any process; numbers never reused;
    a RUNNING trial's worker), and the state machine against an independent reference
    model.
    """
