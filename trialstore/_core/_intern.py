"""Sharing one ``distributions`` dict between the trials that have equal ones (private).

A study's trials mostly have the same parameters with the same distributions, so a storage
that holds many trials keeps one dict per distinct set instead of one per trial (a dict of 5
entries is 184 bytes, about a seventh of a trial). See the sharing contract of
:class:`~trialstore._core.FrozenTrial`: shared dicts are never mutated.
"""

from __future__ import annotations

from typing import Any

from trialstore._core._frozen_trial import FrozenTrial
from trialstore.distributions import BaseDistribution

__all__ = ["DistributionsInterner", "compact_trial"]


class DistributionsInterner:
    """Hands out one shared dict per distinct distributions dict: the same names in the same
    order, mapped to the same distribution *objects* (equal but distinct objects make
    distinct sets, so a lookup costs no distribution comparison; readers that parse each
    distinct JSON text once get one object per text).

    Holds at most ``max_entries`` sets (then starts afresh). Thread-safe: lookups and
    insertions are single dict operations, and two threads interning one set at once at
    worst hand out two equal dicts.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._max_entries = max_entries
        #: (names, ids of the distributions) -> (the shared dict, the distributions). The
        #: entry holds the distributions themselves, so the ids in its key stay theirs even if
        #: the shared dict were changed.
        self._sets: dict[
            tuple[tuple[str, ...], tuple[int, ...]],
            tuple[dict[str, BaseDistribution], tuple[BaseDistribution, ...]],
        ] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Ids mean nothing in another process (or after a copy): a copy starts empty.
        return {"max_entries": self._max_entries}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._max_entries = state["max_entries"]
        self._sets = {}

    def intern(self, distributions: dict[str, BaseDistribution]) -> dict[str, BaseDistribution]:
        """Return the shared dict equal to ``distributions``: the one handed out before for
        an equal set, or ``distributions`` itself (which the caller must then not mutate
        either)."""
        if not distributions:
            return distributions
        dists = tuple(distributions.values())
        key = (tuple(distributions), tuple(map(id, dists)))
        hit = self._sets.get(key)
        if hit is not None:
            return hit[0]
        if len(self._sets) >= self._max_entries:
            self._sets = {}
        self._sets[key] = (distributions, dists)
        return distributions


def compact_trial(trial: FrozenTrial, interner: DistributionsInterner) -> None:
    """Make a trial the caller owns, and has not handed out, compact in place: its
    distributions dict shared through ``interner``, its empty attribute and intermediate
    value dicts dropped (they are made again when read)."""
    trial._distributions = interner.intern(trial._distributions)
    if not trial._user_dict:
        trial._user_dict = None
    if not trial._system_dict:
        trial._system_dict = None
    if trial._source is None:
        if not trial._iv_dict:
            trial._iv_dict = None
        if not trial._param_dict:
            trial._param_dict = None
