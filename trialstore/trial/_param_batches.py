"""ParamBatches: the parameters a Study object's trials hold unwritten (private; public:
``trialstore.trial.ParamBatches``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage import validation as check

if TYPE_CHECKING:
    from trialstore.storage.base import BaseStorage

__all__ = ["ParamBatches"]

#: A buffered parameter: its internal value and distribution, as ``set_trial_params`` takes it.
Buffered = tuple[float, BaseDistribution]


class _Batch:
    """One trial's unwritten parameters, and the snapshot that shows them (the Trial's own)."""

    __slots__ = ("params", "shown")

    def __init__(self, shown: FrozenTrial) -> None:
        self.params: dict[str, Buffered] = {}
        self.shown = shown


class ParamBatches:
    """What ``param_writes="at_tell"`` keeps for one Study object: for each of its trials, the
    parameters suggested but not written yet (its batch), and the distributions of the
    study's parameter names that this object knows (from trials it read or batches it wrote;
    a name's distribution in a study never changes once registered, so a known one stays
    right).

    The Study makes one (``Study.param_batches``); its Trials add to it and flush it, and
    ``Study.tell`` and ``Study.optimize`` write a trial's batch when the trial finishes.
    Objective code has no need of it.

    Thread-safe: the trials of one Study object may run in many threads (``optimize(n_jobs=...)``);
    each trial's batch is meant to be filled and flushed by the one thread running that trial.
    No lock is held during a storage call.
    """

    def __init__(self, storage: BaseStorage) -> None:
        self._storage = storage
        self._lock = threading.Lock()
        self._batches: dict[int, _Batch] = {}
        self._known: dict[str, BaseDistribution] = {}

    # -- the study's distributions -------------------------------------------------------------

    def learn(self, distributions: Mapping[str, BaseDistribution]) -> None:
        """Remember the study's distribution of each name (one already known is kept)."""
        for name, distribution in distributions.items():
            self._known.setdefault(name, distribution)

    def is_known(self, trial_id: int) -> bool:
        """Whether every name in the trial's batch (none: True) has a known distribution:
        then the storage cannot reject the batch for a conflicting distribution
        (compatibility was checked by :meth:`add`)."""
        return all(name in self._known for name in self.pending(trial_id))

    # -- filling a batch -----------------------------------------------------------------------

    def add(
        self,
        trial_id: int,
        shown: FrozenTrial,
        name: str,
        internal: float,
        distribution: BaseDistribution,
    ) -> None:
        """Check a parameter as the storage would (as far as this object knows the study) and
        add it to the trial's batch. ``shown`` is the snapshot that shows the trial's
        parameters to its user (the Trial's own): if the storage rejects the batch, its names
        are removed from it.

        Raises:
            ValueError: the name or value is invalid, or the distribution is incompatible
                with the study's distribution of the name known here. Nothing is added then.
        """
        check.check_param(name, internal, distribution)
        check.check_distribution_against(name, self._known.get(name), distribution)
        with self._lock:
            batch = self._batches.get(trial_id)
            if batch is None:
                batch = self._batches[trial_id] = _Batch(shown)
            batch.params[name] = (internal, distribution)

    def pending(self, trial_id: int) -> dict[str, Buffered]:
        """A copy of the trial's batch, in suggestion order (empty when it has none)."""
        with self._lock:
            batch = self._batches.get(trial_id)
            return {} if batch is None else dict(batch.params)

    def trial_ids(self) -> list[int]:
        """The ids of the trials whose batch is not empty, in no particular order."""
        with self._lock:
            return list(self._batches)

    def discard(self, trial_id: int) -> None:
        """Drop the trial's batch unwritten (e.g. the trial was finished elsewhere)."""
        with self._lock:
            self._batches.pop(trial_id, None)

    # -- writing a batch -----------------------------------------------------------------------

    def flush(self, trial_id: int) -> None:
        """Write the trial's batch with one ``set_trial_params`` call (nothing to do when it
        has none), and learn its distributions.

        On a ValueError (the storage rejected the batch: nothing of it was stored) the batch
        is dropped, and its names removed from the snapshot given to :meth:`add`; on KeyError
        or UpdateFinishedTrialError (the trial is gone or finished) it is dropped too. After
        any other error (the outcome of the write is unknown) it stays, and the next flush
        writes it again (the same values: harmless).

        Raises:
            ValueError: the storage rejected the batch (it is dropped).
            KeyError: the trial does not exist (the batch is dropped).
            UpdateFinishedTrialError: the trial is finished (the batch is dropped).
            StorageInternalError: the outcome is unknown (the batch stays); so does any other
                error ``set_trial_params`` raised.
        """
        params = self.pending(trial_id)
        if not params:
            return
        try:
            self._storage.set_trial_params(trial_id, params)
        except ValueError:
            self._drop(trial_id, params, unshow=True)
            raise
        except (KeyError, UpdateFinishedTrialError):
            self._drop(trial_id, params)
            raise
        self.learn({name: distribution for name, (_, distribution) in params.items()})
        self._drop(trial_id, params)

    def flush_unless_known(self, trial_id: int) -> None:
        """:meth:`flush` the trial's batch unless :meth:`is_known` (then the batch can go with
        the trial's finish, :meth:`finish`, since the storage cannot reject it).

        Raises:
            ValueError: see :meth:`flush`; so do its other errors.
        """
        if not self.is_known(trial_id):
            self.flush(trial_id)

    def finish(self, trial_id: int, state: TrialState, values: list[float] | None) -> bool:
        """Finish the trial: write its batch with its final state in one
        ``set_trial_params_and_state_values`` call (``set_trial_state_values`` when the batch
        is empty); return what the call returns. Meant for a batch that :meth:`is_known`.
        After a KeyError or UpdateFinishedTrialError (the trial is gone or finished) or a
        ValueError (the values were rejected) the batch is dropped; after any other error
        (the outcome is unknown) it stays, as with :meth:`flush`.

        Raises:
            ValueError: the storage rejected the values (the batch is dropped).
            KeyError: the trial does not exist (the batch is dropped).
            UpdateFinishedTrialError: the trial is finished (the batch is dropped).
            StorageInternalError: the outcome is unknown (the batch stays); so does any other
                error the storage call raised.
        """
        params = self.pending(trial_id)
        if not params:
            return self._storage.set_trial_state_values(trial_id, state, values)
        try:
            updated = self._storage.set_trial_params_and_state_values(
                trial_id, params, state, values
            )
        except (ValueError, KeyError, UpdateFinishedTrialError):
            self._drop(trial_id, params)
            raise
        self._drop(trial_id, params)
        return updated

    def _drop(self, trial_id: int, names: Iterable[str], *, unshow: bool = False) -> None:
        """Remove ``names`` from the trial's batch (and, with ``unshow``, from its shown
        snapshot); forget the batch once empty."""
        with self._lock:
            batch = self._batches.get(trial_id)
            if batch is None:
                return
            for name in names:
                batch.params.pop(name, None)
                if unshow:
                    batch.shown.params.pop(name, None)
                    batch.shown.distributions.pop(name, None)
            if not batch.params:
                del self._batches[trial_id]
