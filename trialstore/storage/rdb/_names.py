"""What the reads of a study tell of its parameter names (private), so that asking for the
distribution a study stored first for a name (``TrialWrites.known_distribution``: the one
of the lowest trial id carrying the name, deleted trials included) need not walk the study.

A finished trial's parameters never change. A :class:`NameScope` remembers, of the trials up
to its floor that were finished when read, the lowest carrying each name; the trials above
the floor, those unfinished when read and the deleted ones (which reads leave out) are asked
about by the database (``Statements.known_distribution``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import NamedTuple

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution

__all__ = ["NameScope", "first_distributions", "scope_after_read"]

#: name -> (id of the lowest trial carrying it, its distribution there)
Carriers = dict[str, tuple[int, BaseDistribution]]


class NameScope(NamedTuple):
    """Of the study's trials at or below ``floor``, every one not in ``unfinished`` was
    finished when read or is deleted (reads leave deleted trials out), and ``first`` holds,
    for each name the finished ones carry, the lowest of them carrying it (more entries, of
    higher trials, are harmless: each is a trial that carries the name). Never changed once
    made (a read makes a new one)."""

    floor: int
    unfinished: frozenset[int]
    first: Carriers


def scope_after_read(
    scope: NameScope | None,
    cursor: int,
    listed: Collection[int],
    trials: Sequence[FrozenTrial],
) -> NameScope | None:
    """The scope after a read that saw every live trial of the study above ``cursor`` and
    among ``listed`` (``trials``; more is harmless), or None when the read cannot extend
    ``scope`` (None: none yet): it skipped trials above the scope's floor, or, with no scope
    yet, some trials at all (``cursor`` >= 0).

    The new floor is the highest trial read (or the old floor): every trial up to it was
    there when the read did (trial ids grow in the order trials are created, as for
    ``StudyCache.note_probe``), and each one the read left out is deleted. Trials unfinished
    before and not read again stay unfinished in the scope."""
    if scope is None:
        if cursor >= 0:
            return None
        scope = NameScope(-1, frozenset(), {})
    elif cursor > scope.floor:
        return None
    unfinished = {t for t in scope.unfinished if t <= cursor and t not in listed}
    floor = max(scope.floor, max((t._trial_id for t in trials), default=-1))
    first = _with_carriers(scope.first, trials, unfinished)  # adds to unfinished
    return NameScope(floor, frozenset(unfinished), first)


def _with_carriers(
    first: Carriers, trials: Sequence[FrozenTrial], unfinished: set[int]
) -> Carriers:
    """``first`` (unchanged) or a new dict, with the lowest finished trials of ``trials``
    carrying each name; the ids of the unfinished ones are added to ``unfinished``. Trials
    come mostly by id: one whose names are all held, above every trial held, is passed over
    without a look at each name."""
    top = max((held for held, _ in first.values()), default=-1)
    copied = False
    covered: object = None  # a distributions dict whose names are all held (trials share them)
    running, waiting = TrialState.RUNNING, TrialState.WAITING
    for trial in trials:
        trial_id, dists, state = trial._trial_id, trial._distributions, trial.state
        if state is running or state is waiting:
            unfinished.add(trial_id)
            continue
        if trial_id >= top and (dists is covered or dists.keys() <= first.keys()):
            covered = dists
            continue
        for name, dist in dists.items():
            held = first.get(name)
            if held is None or trial_id < held[0]:
                if not copied:
                    first, copied = dict(first), True
                first[name] = (trial_id, dist)
        top = max(top, trial_id)
    return first


def first_distributions(
    trials: Sequence[FrozenTrial], deleted_numbers: Collection[int]
) -> dict[str, BaseDistribution]:
    """For each parameter name of ``trials`` (every live trial of a study, in one snapshot,
    whose deleted trials are numbered ``deleted_numbers``), the distribution of the lowest
    trial carrying it, when that is the study's first (no deleted trial below it: within a
    study, trial numbers grow with ids); names first carried above a deletion are left out
    (a deleted trial, which reads leave out, may have carried them first)."""
    below = min(deleted_numbers, default=None)
    found: dict[str, tuple[int, BaseDistribution]] = {}
    top = -1
    covered: object = None  # as in _with_carriers
    for trial in trials:
        if below is not None and trial.number >= below:
            continue
        trial_id, dists = trial._trial_id, trial._distributions
        if trial_id >= top and (dists is covered or dists.keys() <= found.keys()):
            covered = dists
            continue
        for name, dist in dists.items():
            held = found.get(name)
            if held is None or trial_id < held[0]:
                found[name] = (trial_id, dist)
        top = max(top, trial_id)
    return {name: dist for name, (_, dist) in found.items()}
