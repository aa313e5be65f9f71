"""create_study, load_study and the other study functions (private; public: trialstore.*)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.exceptions import DuplicatedStudyError
from trialstore.logging import get_logger
from trialstore.pruners import BasePruner
from trialstore.samplers import BaseSampler
from trialstore.storage import get_storage
from trialstore.storage.base import BaseStorage
from trialstore.study._study import Study, check_param_writes
from trialstore.study._summary import StudySummary

__all__ = [
    "copy_study",
    "create_study",
    "delete_study",
    "get_all_study_names",
    "get_all_study_summaries",
    "load_study",
    "storage_log_name",
]

_logger = get_logger(__name__)

#: Storage class name -> the word Optuna's log line uses for it.
_LOG_NAMES = {"InMemoryStorage": "memory", "JournalStorage": "Journal", "RDBStorage": "RDB"}

FailedTrialCallback = Callable[[Study, FrozenTrial], None]


def storage_log_name(storage: BaseStorage) -> str | None:
    """Return how the "A new study created in ..." line names ``storage``'s kind, or None.

    A storage may say so itself with a ``log_name`` attribute; otherwise its class (or a base
    class) named InMemoryStorage, JournalStorage or RDBStorage decides. Nothing is imported.
    """
    own = getattr(storage, "log_name", None)
    if isinstance(own, str):
        return own
    for cls in type(storage).__mro__:
        if cls.__name__ in _LOG_NAMES:
            return _LOG_NAMES[cls.__name__]
    return None


def _directions(
    direction: str | StudyDirection | None,
    directions: Sequence[str | StudyDirection] | None,
) -> list[StudyDirection]:
    if direction is not None and directions is not None:
        raise ValueError("Specify only one of `direction` and `directions`.")
    if directions is None:
        directions = [direction if direction is not None else StudyDirection.MINIMIZE]
    if isinstance(directions, (str, bytes)) or len(directions) == 0:
        raise ValueError("The number of objectives must be greater than 0.")
    result = []
    for d in directions:
        if isinstance(d, str):
            if d.lower() not in ("minimize", "maximize"):
                raise ValueError(
                    f"Please set either 'minimize' or 'maximize' to direction, got {d!r}."
                )
            result.append(StudyDirection[d.upper()])
        elif isinstance(d, StudyDirection) and d != StudyDirection.NOT_SET:
            result.append(d)
        else:
            raise ValueError(
                f"Please set either 'minimize' or 'maximize' to direction, got {d!r}."
            )
    return result


def create_study(
    *,
    storage: str | BaseStorage | None = None,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    study_name: str | None = None,
    direction: str | StudyDirection | None = None,
    load_if_exists: bool = False,
    directions: Sequence[str | StudyDirection] | None = None,
    failed_trial_callback: FailedTrialCallback | None = None,
    param_writes: str = "immediate",
) -> Study:
    """Create a study in ``storage`` (a URL, a storage, or None for a new in-memory storage).

    ``direction`` (``"minimize"`` by default) or ``directions`` (several objectives) fix the
    objectives. ``failed_trial_callback`` (trialstore's extension; Optuna passes it to
    ``RDBStorage``) runs on each trial failed for a stale heartbeat, e.g.
    :class:`~trialstore.storage.RetryFailedTrialCallback`. ``param_writes`` (trialstore's
    extension): ``"immediate"`` (default) writes each suggested parameter at once,
    ``"at_tell"`` writes a trial's parameters together before its first other write or its
    finish (fewer round trips; see :class:`~trialstore.Study` for what other workers see and
    what a crash loses). Logs "A new study created in ..." (or, with ``load_if_exists`` and an
    existing study, that it is reused).

    Raises:
        DuplicatedStudyError: the name is taken and ``load_if_exists`` is False.
        ValueError: both or neither valid ``direction``/``directions``; a bad storage URL;
            ``param_writes`` is neither ``"immediate"`` nor ``"at_tell"`` (checked before
            anything is created).
    """
    check_param_writes(param_writes)
    checked = _directions(direction, directions)
    backend = get_storage(storage)
    try:
        study_id = backend.create_new_study(checked, study_name)
    except DuplicatedStudyError:
        if not load_if_exists:
            raise
        assert study_name is not None
        _logger.info(
            f"Using an existing study with `{study_name=}` instead of creating a new one."
        )
        study_id = backend.get_study_id_from_name(study_name)
    else:
        kind = storage_log_name(backend)
        if kind is not None:
            name = backend.get_study_name_from_id(study_id)
            _logger.info(f"A new study created in {kind} with name: {name}")
    name = backend.get_study_name_from_id(study_id)
    return Study(
        name,
        backend,
        sampler,
        pruner,
        failed_trial_callback=failed_trial_callback,
        param_writes=param_writes,
    )


def load_study(
    *,
    study_name: str | None,
    storage: str | BaseStorage,
    sampler: BaseSampler | None = None,
    pruner: BasePruner | None = None,
    failed_trial_callback: FailedTrialCallback | None = None,
    param_writes: str = "immediate",
) -> Study:
    """Return the existing study ``study_name`` (None: the only study in the storage).

    ``param_writes``: when the returned Study writes its trials' parameters, as for
    :func:`create_study` (a setting of this Study object, not stored with the study).

    Raises:
        KeyError: no such study.
        ValueError: ``study_name`` is None and the storage does not hold exactly one study;
            ``param_writes`` is neither ``"immediate"`` nor ``"at_tell"``.
    """
    check_param_writes(param_writes)
    backend = get_storage(storage)
    if study_name is None:
        names = get_all_study_names(backend)
        if len(names) != 1:
            raise ValueError(
                "Could not determine the study name since the storage has "
                f"{len(names)} studies; give study_name."
            )
        study_name = names[0]
        _logger.info(
            f"Study name was omitted but trying to load `{study_name=}` because that was the "
            "only study found in the storage."
        )
    return Study(
        study_name,
        backend,
        sampler,
        pruner,
        failed_trial_callback=failed_trial_callback,
        param_writes=param_writes,
    )


def delete_study(*, study_name: str, storage: str | BaseStorage) -> None:
    """Delete the study and its trials.

    Raises:
        KeyError: no such study.
    """
    backend = get_storage(storage)
    backend.delete_study(backend.get_study_id_from_name(study_name))


def copy_study(
    *,
    from_study_name: str,
    from_storage: str | BaseStorage,
    to_storage: str | BaseStorage,
    to_study_name: str | None = None,
) -> None:
    """Copy a study (directions, attributes, all trials with their states) to another storage.

    Trial numbers in the copy are dense in the source's order; ids may differ.

    Raises:
        KeyError: no source study.
        DuplicatedStudyError: the target name exists in ``to_storage``.
    """
    source = get_storage(from_storage)
    target = get_storage(to_storage)
    from_id = source.get_study_id_from_name(from_study_name)
    to_id = target.create_new_study(
        source.get_study_directions(from_id),
        to_study_name if to_study_name is not None else from_study_name,
    )
    for key, value in source.get_study_user_attrs(from_id).items():
        target.set_study_user_attr(to_id, key, value)
    for key, value in source.get_study_system_attrs(from_id).items():
        target.set_study_system_attr(to_id, key, value)
    for trial in source.get_all_trials(from_id, deepcopy=False):
        target.create_new_trial(to_id, template_trial=trial)


def get_all_study_summaries(
    storage: str | BaseStorage, include_best_trial: bool = True
) -> list[StudySummary]:
    """Return a summary of every study in ``storage``, ordered by study id."""
    backend = get_storage(storage)
    summaries = []
    for frozen in backend.get_all_studies():
        study_id = frozen._study_id
        trials = backend.get_all_trials(study_id, deepcopy=False)
        best = None
        if include_best_trial and len(frozen.directions) == 1:
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            if complete:
                sign = -1.0 if frozen.directions[0] == StudyDirection.MAXIMIZE else 1.0
                best = copy.deepcopy(
                    min(complete, key=lambda t: (sign * (t.value or 0.0), t.number))
                )
        starts = [t.datetime_start for t in trials if t.datetime_start is not None]
        summaries.append(
            StudySummary(
                study_name=frozen.study_name,
                direction=None,
                directions=frozen.directions,
                best_trial=best,
                user_attrs=frozen.user_attrs,
                system_attrs=frozen.system_attrs,
                n_trials=len(trials),
                datetime_start=min(starts) if starts else None,
                study_id=study_id,
            )
        )
    return summaries


def get_all_study_names(storage: str | BaseStorage) -> list[str]:
    """Return the names of every study in ``storage``, ordered by study id."""
    return [s.study_name for s in get_storage(storage).get_all_studies()]
