"""Copying trial snapshots (private; used by the backends that keep trials in memory)."""

from __future__ import annotations

import copy

from trialstore._core._frozen_trial import FrozenTrial

__all__ = ["copy_trial"]


def copy_trial(trial: FrozenTrial) -> FrozenTrial:
    """Return a copy of ``trial`` that shares nothing mutable with it.

    Distributions are values and are shared (the dict holding them is not). Attributes are
    deep-copied (they are JSON data). A compact trial's copy is compact too: it shares the
    immutable source and decodes its own dicts from it when first read. Built without the
    constructor because this runs for every trial a read hands out: it is about twice as
    fast, and the copy keeps every field by construction.
    """
    new = trial._shallow_copy()
    values = trial._values
    new._values = None if values is None else list(values)
    params = trial._param_dict
    new._param_dict = None if params is None else dict(params)
    new._distributions = dict(trial._distributions)
    user_attrs = trial._user_dict
    new._user_dict = copy.deepcopy(user_attrs) if user_attrs else None
    system_attrs = trial._system_dict
    new._system_dict = copy.deepcopy(system_attrs) if system_attrs else None
    ivs = trial._iv_dict
    new._iv_dict = None if ivs is None else dict(ivs)
    return new
