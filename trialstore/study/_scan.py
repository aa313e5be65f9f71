"""Reading a study's trials from a given number on, as cheaply as the storage allows (private).

Trials are numbered in creation order and a trial that has left WAITING never returns to it; a
finished trial never changes (it may only be deleted). So a reader that remembers how far it
has looked needs only the trials after that point. For storages whose lookups by number are
local and cheap (InMemoryStorage, JournalStorage), the trials are fetched one by one from that
number, so the cost per call does not grow with the study; for the others (a database, a remote
proxy), one ``get_all_trials`` call is made and cut at that number, which the backend serves in
one round trip. A deleted trial's number is skipped: its lookup raises TrialDeletedError, where
the lookup of a number not given yet raises a plain KeyError.

A storage says which it is with its ``cheap_trial_lookup`` attribute (see BaseStorage).
"""

from __future__ import annotations

from collections.abc import Iterator

from trialstore._core import FrozenTrial
from trialstore.exceptions import TrialDeletedError
from trialstore.storage.base import BaseStorage

__all__ = ["from_number", "probes_by_number", "trial_exists", "trials_from"]

#: Trials looked up one by one before switching to one listing.
_MAX_PROBES = 8


def probes_by_number(storage: BaseStorage) -> bool:
    """Return True if looking trials up one by one is cheaper than listing them all."""
    return getattr(storage, "cheap_trial_lookup", False) is True


def from_number(trials: list[FrozenTrial], start: int) -> list[FrozenTrial]:
    """Return the trials numbered ``start`` or more of ``trials`` (ordered by number)."""
    low, high = 0, len(trials)
    while low < high:
        middle = (low + high) // 2
        if trials[middle].number < start:
            low = middle + 1
        else:
            high = middle
    return trials[low:]


def trial_exists(storage: BaseStorage, study_id: int, trial: FrozenTrial) -> bool:
    """Whether ``trial`` (read from the study earlier) is still in it, i.e. not deleted.
    Meant for storages that :func:`probes_by_number` (a local lookup)."""
    try:
        return storage.get_trial_id_from_study_id_trial_number(study_id, trial.number) == (
            trial._trial_id
        )
    except KeyError:
        return False


def trials_from(storage: BaseStorage, study_id: int, start: int) -> Iterator[FrozenTrial]:
    """Yield the study's trials numbered ``start``, ``start + 1``, … that exist now (deleted
    numbers skipped).

    The snapshots may be shared with the storage: callers must not mutate them.
    """
    if not probes_by_number(storage):
        yield from from_number(storage.get_all_trials(study_id, deepcopy=False), start)
        return
    number = start
    while number < start + _MAX_PROBES:
        try:
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
            trial = storage.get_trial(trial_id)
        except TrialDeletedError:
            number += 1
            continue
        except KeyError:
            return
        yield trial
        number += 1
    # Far behind (e.g. a new reader of a large study): one listing is cheaper than copies.
    yield from from_number(storage.get_all_trials(study_id, deepcopy=False), number)
