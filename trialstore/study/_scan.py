"""Reading a study's trials from a given number on, as cheaply as the storage allows (private).

Trials are numbered densely in creation order and a trial that has left WAITING never returns
to it; a finished trial never changes. So a reader that remembers how far it has looked needs
only the trials after that point. For storages whose lookups by number are local and cheap
(InMemoryStorage, JournalStorage), the trials are fetched one by one from that number, so the
cost per call does not grow with the study; for the others (a database, a remote proxy), one
``get_all_trials`` call is made and sliced, which the backend serves in one round trip.

A storage says which it is with its ``cheap_trial_lookup`` attribute (see BaseStorage).
"""

from __future__ import annotations

from collections.abc import Iterator

from trialstore._core import FrozenTrial
from trialstore.storage.base import BaseStorage

__all__ = ["probes_by_number", "trials_from"]

#: Trials looked up one by one before switching to one listing.
_MAX_PROBES = 8


def probes_by_number(storage: BaseStorage) -> bool:
    """Return True if looking trials up one by one is cheaper than listing them all."""
    return getattr(storage, "cheap_trial_lookup", False) is True


def trials_from(storage: BaseStorage, study_id: int, start: int) -> Iterator[FrozenTrial]:
    """Yield the study's trials numbered ``start``, ``start + 1``, … that exist now.

    The snapshots may be shared with the storage: callers must not mutate them.
    """
    if not probes_by_number(storage):
        yield from storage.get_all_trials(study_id, deepcopy=False)[start:]
        return
    number = start
    while number < start + _MAX_PROBES:
        try:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        except KeyError:
            return
        yield storage.get_trial(trial_id)
        number += 1
    # Far behind (e.g. a new reader of a large study): one listing is cheaper than copies.
    yield from storage.get_all_trials(study_id, deepcopy=False)[number:]
