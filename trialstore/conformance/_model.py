"""A small reference model of the storage protocol, written for the suite (private).

It is deliberately independent of every backend and of ``trialstore.storage.validation``: it
restates the rules of ``docs/protocol.md`` in the plainest form, so that the state machine can
compare a storage against it. It knows nothing about ids: creations are planned (checked) first,
the storage picks the id, and the plan is then committed with that id.

Error precedence on every operation: (1) ValueError for an argument wrong whatever is stored,
(2) KeyError for a missing id, (3) UpdateFinishedTrialError, (4) ValueError that depends on
stored data.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import numbers
from collections.abc import Container, Mapping, Sequence
from typing import Any

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from trialstore.exceptions import (
    DuplicatedStudyError,
    TrialDeletedError,
    UpdateFinishedTrialError,
)

__all__ = ["NOW", "Model", "ModelStudy", "ModelTrial"]

MAX_NAME = 512
MAX_STEP = 2**31 - 1
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


class _Now:
    """A datetime the storage sets itself ("now"); the first one observed is kept."""

    def __repr__(self) -> str:
        return "NOW"


NOW: Any = _Now()


@dataclasses.dataclass
class ModelTrial:
    """One trial as the model expects it."""

    trial_id: int
    study_id: int
    number: int
    state: TrialState
    values: list[float] | None
    datetime_start: Any
    datetime_complete: Any
    params: dict[str, Any]
    internal: dict[str, float]
    distributions: dict[str, BaseDistribution]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    intermediate_values: dict[int, float]


@dataclasses.dataclass
class ModelStudy:
    """One study as the model expects it."""

    study_id: int
    name: str
    directions: list[StudyDirection]
    user_attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    system_attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: Every trial created in the study, deleted ones included: index = number.
    trial_ids: list[int] = dataclasses.field(default_factory=list)
    distributions: dict[str, BaseDistribution] = dataclasses.field(default_factory=dict)


# -- argument rules (stage 1) ----------------------------------------------------------------


def _name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise ValueError("a name must be a str of at most 512 characters")
    return value


def _number(value: Any, *, nan: bool, inf: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("not a real number")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError("too large for a float") from None
    if math.isnan(number) and not nan:
        raise ValueError("NaN not allowed")
    if math.isinf(number) and not inf:
        raise ValueError("infinity not allowed")
    return number


def _json(key: Any, value: Any) -> Any:
    _name(key)
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise ValueError("not JSON-serializable") from None


def _values(values: Any) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ValueError("values must be a sequence")
    return [_number(v, nan=False, inf=True) for v in values]


def _step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise ValueError("step must be an int")
    if not 0 <= int(step) <= MAX_STEP:
        raise ValueError("step out of range")
    return int(step)


def _same_choice(a: Any, b: Any) -> bool:
    a_num = isinstance(a, (int, float)) and not isinstance(a, bool)
    b_num = isinstance(b, (int, float)) and not isinstance(b, bool)
    if a_num and b_num:
        return bool(a == b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _local(moment: Any) -> Any:
    """Naive local time: how every storage returns datetimes."""
    if isinstance(moment, datetime.datetime) and moment.tzinfo is not None:
        return moment.astimezone().replace(tzinfo=None)
    return moment


def _representable(dist: BaseDistribution, value: float) -> bool:
    """Whether a storage keeps ``value`` (finite) for ``dist``: inside its range or not, but
    one it can represent."""
    if isinstance(dist, CategoricalDistribution):
        return value == int(value) and 0 <= value < len(dist.choices)
    if isinstance(dist, FloatDistribution):
        return not dist.log or value > 0
    if isinstance(dist, IntDistribution):
        return not dist.log or value >= 1  # the external int(value) must be >= 1
    raise ValueError("not a distribution")


def _external(dist: BaseDistribution, internal: float) -> Any:
    if isinstance(dist, FloatDistribution):
        return float(internal)
    if isinstance(dist, IntDistribution):
        return int(internal)
    assert isinstance(dist, CategoricalDistribution)
    return dist.choices[int(internal)]


def _internal(dist: BaseDistribution, external: Any) -> float:
    if isinstance(dist, CategoricalDistribution):
        for index, choice in enumerate(dist.choices):
            if _same_choice(choice, external):
                return float(index)
        raise ValueError("not one of the choices")
    return _number(external, nan=False, inf=True)


def _param(name: Any, internal: Any, dist: Any) -> tuple[str, float]:
    _name(name)
    if not isinstance(dist, (FloatDistribution, IntDistribution, CategoricalDistribution)):
        raise ValueError("not a distribution")
    value = _number(internal, nan=False, inf=False)
    if not _representable(dist, value):
        raise ValueError("value the distribution cannot represent")
    return name, value


def _read_back(dist: BaseDistribution, internal: float) -> float:
    """The internal value get_trial_param returns: that of the external value."""
    return float(int(internal)) if isinstance(dist, IntDistribution) else internal


def compatible(old: BaseDistribution, new: BaseDistribution) -> bool:
    """Return whether ``new`` may describe the parameter that ``old`` described."""
    if type(old) is not type(new):
        return False
    if isinstance(old, (FloatDistribution, IntDistribution)):
        assert isinstance(new, (FloatDistribution, IntDistribution))
        return old.log == new.log
    assert isinstance(old, CategoricalDistribution) and isinstance(new, CategoricalDistribution)
    return len(old.choices) == len(new.choices) and all(
        _same_choice(a, b) for a, b in zip(old.choices, new.choices, strict=True)
    )


def _template_datetimes(state: TrialState, start: Any, complete: Any) -> None:
    for moment in (start, complete):
        if moment is not None and not isinstance(moment, datetime.datetime):
            raise ValueError("bad datetime")
    if state in FINISHED and complete is None:
        raise ValueError("finished needs datetime_complete")
    if state not in FINISHED and complete is not None:
        raise ValueError("unfinished has no datetime_complete")
    if state == TrialState.RUNNING and start is None:
        raise ValueError("RUNNING needs datetime_start")


def _template_params(template: FrozenTrial) -> tuple[dict[str, Any], dict[str, float]]:
    """The template's params (external values) and their internal values as read back."""
    if set(template.params) != set(template.distributions):
        raise ValueError("params and distributions have different keys")
    params: dict[str, Any] = {}
    internal: dict[str, float] = {}
    for name, external in template.params.items():
        dist = template.distributions[name]
        if not isinstance(dist, BaseDistribution):
            raise ValueError("not a distribution")
        _, value = _param(name, _internal(dist, external), dist)
        params[name] = _external(dist, value)
        internal[name] = _read_back(dist, value)
    return params, internal


def _template(template: Any) -> ModelTrial:
    if not isinstance(template, FrozenTrial):
        raise ValueError("template must be a FrozenTrial")
    state = template.state
    if isinstance(state, bool) or not isinstance(state, TrialState):
        raise ValueError("bad state")
    start, complete = template.datetime_start, template.datetime_complete
    _template_datetimes(state, start, complete)
    raw_values = template.values
    if raw_values is None and state == TrialState.COMPLETE:
        raise ValueError("COMPLETE needs values")
    values = None if raw_values is None else _values(raw_values)
    params, internal = _template_params(template)
    return ModelTrial(
        trial_id=-1,
        study_id=-1,
        number=-1,
        state=state,
        values=values,
        datetime_start=_local(start),
        datetime_complete=_local(complete),
        params=params,
        internal=internal,
        distributions={name: template.distributions[name] for name in template.params},
        user_attrs={k: _json(k, v) for k, v in template.user_attrs.items()},
        system_attrs={k: _json(k, v) for k, v in template.system_attrs.items()},
        intermediate_values={
            _step(s): _number(v, nan=True, inf=True)
            for s, v in template.intermediate_values.items()
        },
    )


class Model:
    """The expected contents of one storage (only the studies the suite created)."""

    def __init__(self) -> None:
        self.studies: dict[int, ModelStudy] = {}
        self.trials: dict[int, ModelTrial] = {}
        self.deleted_study_ids: set[int] = set()
        self.deleted_trial_ids: set[int] = set()
        #: Trials deleted with delete_trials, whose study lives on (id -> study id).
        self.removed_trials: dict[int, int] = {}
        self.deleted_names: list[str] = []

    # -- lookups (stage 2 and 3) ------------------------------------------------------------

    def study(self, study_id: Any) -> ModelStudy:
        """Return the study or raise KeyError."""
        if type(study_id) is not int or study_id not in self.studies:
            raise KeyError(study_id)
        return self.studies[study_id]

    def trial(self, trial_id: Any) -> ModelTrial:
        """Return the trial or raise KeyError (TrialDeletedError for a deleted one)."""
        if type(trial_id) is not int or trial_id not in self.trials:
            if type(trial_id) is int and trial_id in self.removed_trials:
                raise TrialDeletedError(trial_id)
            raise KeyError(trial_id)
        return self.trials[trial_id]

    def updatable(self, trial_id: Any) -> ModelTrial:
        """Return the unfinished trial or raise KeyError / UpdateFinishedTrialError."""
        trial = self.trial(trial_id)
        if trial.state in FINISHED:
            raise UpdateFinishedTrialError(trial_id)
        return trial

    # -- studies ----------------------------------------------------------------------------

    def plan_create_study(self, directions: Any, name: Any) -> list[StudyDirection]:
        """Check a create_new_study call; return the directions it stores."""
        if isinstance(directions, (str, bytes)) or not isinstance(directions, Sequence):
            raise ValueError("directions must be a sequence")
        if not directions:
            raise ValueError("no directions")
        for direction in directions:
            if isinstance(direction, bool) or direction not in (1, 2):
                raise ValueError("bad direction (ints 1 and 2 are MINIMIZE and MAXIMIZE)")
        if name is not None:
            _name(name)
            if any(s.name == name for s in self.studies.values()):
                raise DuplicatedStudyError(name)
        return [StudyDirection(d) for d in directions]

    def commit_create_study(
        self, study_id: int, name: str, directions: list[StudyDirection]
    ) -> None:
        """Record a study the storage created."""
        self.studies[study_id] = ModelStudy(study_id, name, directions)

    def delete_study(self, study_id: Any) -> None:
        """delete_study."""
        study = self.study(study_id)
        for trial_id in study.trial_ids:
            self.trials.pop(trial_id, None)
            self.removed_trials.pop(trial_id, None)
            self.deleted_trial_ids.add(trial_id)
        del self.studies[study_id]
        self.deleted_study_ids.add(study_id)
        self.deleted_names.append(study.name)

    def set_study_attr(self, kind: str, study_id: Any, key: Any, value: Any) -> None:
        """set_study_user_attr / set_study_system_attr."""
        stored = _json(key, value)
        getattr(self.study(study_id), f"{kind}_attrs")[key] = stored

    def get_study_id_from_name(self, name: Any) -> int:
        """get_study_id_from_name."""
        for study in self.studies.values():
            if study.name == name:
                return study.study_id
        raise KeyError(name)

    # -- trials -----------------------------------------------------------------------------

    def plan_create_trial(self, study_id: Any, template: Any) -> ModelTrial:
        """Check a create_new_trial call; return the trial it creates (without ids)."""
        if template is None:
            trial = ModelTrial(
                -1, -1, -1, TrialState.RUNNING, None, NOW, None, {}, {}, {}, {}, {}, {}
            )
        else:
            trial = _template(template)
        study = self.study(study_id)
        if trial.values is not None and len(trial.values) != len(study.directions):
            raise ValueError("wrong number of values")
        for name, dist in trial.distributions.items():
            known = study.distributions.get(name)
            if known is not None and not compatible(known, dist):
                raise ValueError("incompatible distribution")
        trial.study_id = study_id
        trial.number = len(study.trial_ids)
        return trial

    def commit_create_trial(self, trial: ModelTrial, trial_id: int) -> None:
        """Record a trial the storage created with id ``trial_id``."""
        study = self.studies[trial.study_id]
        trial.trial_id = trial_id
        for name, dist in trial.distributions.items():
            study.distributions.setdefault(name, dist)
        study.trial_ids.append(trial_id)
        self.trials[trial_id] = trial

    def delete_trials(self, study_id: Any, trial_ids: Any) -> None:
        """delete_trials: a sequence of distinct ints, all trials of the study, all or
        nothing; numbers are kept (the study's list of ids keeps the deleted ones)."""
        if isinstance(trial_ids, (str, bytes, Mapping)) or not isinstance(trial_ids, Sequence):
            raise ValueError("trial_ids must be a sequence")
        for trial_id in trial_ids:
            if isinstance(trial_id, bool) or not isinstance(trial_id, int):
                raise ValueError("a trial id must be an int")
        if len(set(trial_ids)) != len(trial_ids):
            raise ValueError("a trial id twice")
        self.study(study_id)
        for trial_id in trial_ids:
            if self.removed_trials.get(trial_id) == study_id:
                raise TrialDeletedError(trial_id)
            if trial_id not in self.trials or self.trials[trial_id].study_id != study_id:
                raise KeyError(trial_id)
        for trial_id in trial_ids:
            del self.trials[trial_id]
            self.removed_trials[trial_id] = study_id
            self.deleted_trial_ids.add(trial_id)

    def set_trial_param(self, trial_id: Any, name: Any, internal: Any, dist: Any) -> None:
        """set_trial_param."""
        name, value = _param(name, internal, dist)
        trial = self.updatable(trial_id)
        study = self.studies[trial.study_id]
        known = study.distributions.get(name)
        if known is not None and not compatible(known, dist):
            raise ValueError("incompatible distribution")
        study.distributions.setdefault(name, dist)
        trial.params[name] = _external(dist, value)
        trial.internal[name] = _read_back(dist, value)
        trial.distributions[name] = dist

    def set_trial_params(self, trial_id: Any, params: Any) -> None:
        """set_trial_params: every entry checked as by set_trial_param, then all or nothing."""
        if not isinstance(params, Mapping):
            raise ValueError("params must be a mapping")
        checked = []
        for name, entry in params.items():
            if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                raise ValueError("an entry must be a (value, distribution) pair")
            checked.append((*_param(name, entry[0], entry[1]), entry[1]))
        trial = self.updatable(trial_id)
        study = self.studies[trial.study_id]
        for name, _, dist in checked:
            known = study.distributions.get(name)
            if known is not None and not compatible(known, dist):
                raise ValueError("incompatible distribution")
        for name, value, dist in checked:
            study.distributions.setdefault(name, dist)
            trial.params[name] = _external(dist, value)
            trial.internal[name] = _read_back(dist, value)
            trial.distributions[name] = dist

    def set_trial_state_values(self, trial_id: Any, state: Any, values: Any) -> bool:
        """set_trial_state_values."""
        if isinstance(state, bool) or not isinstance(state, TrialState):
            raise ValueError("bad state")
        if state == TrialState.WAITING:
            raise ValueError("WAITING is not a target state")
        if values is None and state == TrialState.COMPLETE:
            raise ValueError("COMPLETE needs values")
        if values is not None and state == TrialState.RUNNING:
            raise ValueError("RUNNING takes no values")
        checked = None if values is None else _values(values)
        trial = self.updatable(trial_id)
        n_directions = len(self.studies[trial.study_id].directions)
        if checked is not None and len(checked) != n_directions:
            raise ValueError("wrong number of values")
        if state == TrialState.RUNNING:
            if trial.state != TrialState.WAITING:
                return False
            trial.datetime_start = NOW
        else:
            trial.datetime_complete = NOW
        trial.state = state
        if checked is not None:
            trial.values = checked
        return True

    def set_trial_intermediate_value(self, trial_id: Any, step: Any, value: Any) -> None:
        """set_trial_intermediate_value."""
        checked_step = _step(step)
        number = _number(value, nan=True, inf=True)
        self.updatable(trial_id).intermediate_values[checked_step] = number

    def set_trial_attr(self, kind: str, trial_id: Any, key: Any, value: Any) -> None:
        """set_trial_user_attr / set_trial_system_attr."""
        stored = _json(key, value)
        getattr(self.updatable(trial_id), f"{kind}_attrs")[key] = stored

    def record_heartbeat(self, trial_id: Any) -> None:
        """record_heartbeat (staleness is not modelled: the state machine keeps heartbeats
        off; on a WAITING trial it does nothing)."""
        self.updatable(trial_id)

    def get_trial_id_from_number(self, study_id: Any, number: Any) -> int:
        """get_trial_id_from_study_id_trial_number."""
        trial_ids = self.study(study_id).trial_ids
        if isinstance(number, bool) or not isinstance(number, int):
            raise KeyError(number)
        if not 0 <= number < len(trial_ids):
            raise KeyError(number)
        if trial_ids[number] in self.removed_trials:
            raise TrialDeletedError(number)
        return trial_ids[number]

    def get_trial_param(self, trial_id: Any, name: Any) -> float:
        """get_trial_param."""
        trial = self.trial(trial_id)
        if name not in trial.internal:
            raise KeyError(name)
        return trial.internal[name]

    def get_all_trials(
        self, study_id: Any, states: Container[TrialState] | None = None
    ) -> list[ModelTrial]:
        """get_all_trials (ordered by number)."""
        trials = [self.trials[t] for t in self.study(study_id).trial_ids if t in self.trials]
        return [t for t in trials if states is None or t.state in states]

    def get_best_trial(self, study_id: Any) -> ModelTrial:
        """get_best_trial."""
        study = self.study(study_id)
        if len(study.directions) > 1:
            raise RuntimeError("several objectives")
        complete = self.get_all_trials(study_id, (TrialState.COMPLETE,))
        if not complete:
            raise ValueError("no COMPLETE trial")
        best = complete[0]
        maximize = study.directions[0] == StudyDirection.MAXIMIZE
        for trial in complete[1:]:
            assert trial.values is not None and best.values is not None
            if trial.values[0] > best.values[0] if maximize else trial.values[0] < best.values[0]:
                best = trial
        return best
