"""Copying trial snapshots (private; used by the backends that keep trials in memory)."""

from __future__ import annotations

import copy

from trialstore._core._frozen_trial import FrozenTrial

__all__ = ["copy_trial"]


def copy_trial(trial: FrozenTrial) -> FrozenTrial:
    """Return a copy of ``trial`` that shares nothing mutable with it.

    Distributions are values and are shared. Attributes are deep-copied (they are JSON data).
    Built with ``object.__new__`` rather than the constructor because this runs for every trial a
    read hands out: it is about twice as fast, and the copy keeps every field by construction.
    """
    new = object.__new__(FrozenTrial)
    new.__dict__.update(trial.__dict__)
    new._values = None if trial._values is None else list(trial._values)
    new._params = dict(trial._params)
    new._distributions = dict(trial._distributions)
    new._user_attrs = copy.deepcopy(trial._user_attrs) if trial._user_attrs else {}
    new._system_attrs = copy.deepcopy(trial._system_attrs) if trial._system_attrs else {}
    new.intermediate_values = dict(trial.intermediate_values)
    return new
