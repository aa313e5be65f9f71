"""Plain-data views of trials: the digests workers record and the final contents checked."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from trialstore._core import FrozenTrial
from trialstore.storage.base import BaseStorage

__all__ = ["snapshot_storage", "trial_digest", "trial_record"]


def _num(x: float) -> Any:
    """JSON-safe float (NaN and infinities as strings)."""
    return x if math.isfinite(x) else repr(x)


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """Return the trial as plain JSON data (no system attributes: backends may keep their own
    bookkeeping there)."""
    return {
        "id": trial._trial_id,
        "number": trial.number,
        "state": trial.state.name,
        "values": None if trial.values is None else [_num(v) for v in trial.values],
        "params": {k: _num(v) if isinstance(v, float) else v for k, v in trial.params.items()},
        "iv": {str(k): _num(v) for k, v in sorted(trial.intermediate_values.items())},
        "user_attrs": trial.user_attrs,
        "complete": None
        if trial.datetime_complete is None
        else trial.datetime_complete.isoformat(),
    }


def trial_digest(trial: FrozenTrial) -> str:
    """Return a short hash of everything :func:`trial_record` holds except the ids."""
    record = trial_record(trial)
    del record["id"]
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def snapshot_storage(storage: BaseStorage, prefix: str) -> dict[str, Any]:
    """Return every study whose name starts with ``prefix`` with all its trials.

    The result maps ``"studies"`` to a list of ``{"id", "name", "trials": [record...]}`` where
    each record is :func:`trial_record` plus its ``"digest"``.
    """
    studies = []
    for study in storage.get_all_studies():
        if not study.study_name.startswith(prefix):
            continue
        trials = []
        for trial in storage.get_all_trials(study._study_id, deepcopy=False):
            record = trial_record(trial)
            record["digest"] = trial_digest(trial)
            trials.append(record)
        studies.append({"id": study._study_id, "name": study.study_name, "trials": trials})
    return {"studies": studies}
