"""Copying a study from one storage to another (private; public entry: ``clone_study``)."""

from __future__ import annotations

from collections.abc import Callable

from trialstore._core import FrozenTrial
from trialstore.exceptions import DuplicatedStudyError
from trialstore.storage.base import BaseStorage

__all__ = ["clone_study"]


def clone_study(
    from_storage: BaseStorage,
    to_storage: BaseStorage,
    study_name: str,
    *,
    to_study_name: str | None = None,
    overwrite: bool = False,
    on_trial: Callable[[FrozenTrial], object] | None = None,
) -> int:
    """Copy the study ``study_name`` of ``from_storage`` into ``to_storage``; return its new id.

    The copy has the same directions, user and system attributes, and trials: each trial is
    created from the source trial as a template, in number order, so numbers, states
    (WAITING and RUNNING included), datetimes, params with their distributions, attributes,
    values and intermediate values are the same. Ids are the destination's own. The source is
    only read, from one snapshot of its trials taken before the copy starts: trials the
    source gains meanwhile are not copied. ``on_trial`` is called with each source trial after
    it has been copied (for progress bars).

    With ``overwrite`` an existing destination study of the name is deleted first; without it
    nothing is written. Not atomic: if the copy fails part way, the partial destination study
    is deleted (best effort) and the error raised.

    Raises:
        KeyError: the source has no study named ``study_name``.
        DuplicatedStudyError: the destination has a study of that name and ``overwrite`` is
            False (also when another writer creates one during the copy).
        ValueError: source and destination are the same storage object and the same name; or
            the destination rejects a trial (the message names its number).
        RuntimeError: the destination numbered a trial differently (another writer added
            trials to the new study during the copy).
    """
    target_name = study_name if to_study_name is None else to_study_name
    if from_storage is to_storage and target_name == study_name:
        raise ValueError(f"cannot copy study {study_name!r} onto itself.")
    source_id = from_storage.get_study_id_from_name(study_name)
    directions = from_storage.get_study_directions(source_id)
    user_attrs = from_storage.get_study_user_attrs(source_id)
    system_attrs = from_storage.get_study_system_attrs(source_id)
    trials = from_storage.get_all_trials(source_id, deepcopy=False)

    _make_room(to_storage, target_name, overwrite=overwrite)
    study_id = to_storage.create_new_study(directions, target_name)
    try:
        for key, value in user_attrs.items():
            to_storage.set_study_user_attr(study_id, key, value)
        for key, value in system_attrs.items():
            to_storage.set_study_system_attr(study_id, key, value)
        _copy_trials(trials, to_storage, study_id, study_name, on_trial)
    except BaseException:
        try:
            to_storage.delete_study(study_id)
        except Exception:  # the original error matters more
            pass
        raise
    return study_id


def _make_room(storage: BaseStorage, study_name: str, *, overwrite: bool) -> None:
    """Delete the study ``study_name`` of ``storage`` if ``overwrite``; without it, raise
    DuplicatedStudyError if there is one."""
    try:
        existing = storage.get_study_id_from_name(study_name)
    except KeyError:
        return
    if not overwrite:
        raise DuplicatedStudyError(
            f"the destination already has a study named {study_name!r} "
            "(use overwrite to replace it)."
        )
    storage.delete_study(existing)


def _copy_trials(
    trials: list[FrozenTrial],
    to_storage: BaseStorage,
    study_id: int,
    study_name: str,
    on_trial: Callable[[FrozenTrial], object] | None,
) -> None:
    """Create ``trials`` in number order in the study ``study_id`` of ``to_storage``, and check
    they got the numbers 0..n-1 (the source's numbers, unless trials were deleted there: the
    trials left are numbered again from 0).

    Raises:
        ValueError: the destination rejects a trial (the message names its number).
        RuntimeError: the destination numbered the trials differently.
    """
    ordered = sorted(trials, key=lambda t: t.number)
    for trial in ordered:
        try:
            to_storage.create_new_trial(study_id, template_trial=trial)
        except ValueError as e:
            raise ValueError(f"trial {trial.number} cannot be copied: {e}") from e
        if on_trial is not None:
            on_trial(trial)
    copied = [t.number for t in to_storage.get_all_trials(study_id, deepcopy=False)]
    if copied != list(range(len(ordered))):
        raise RuntimeError(
            f"the copy of study {study_name!r} has trial numbers other than 0..n-1: another "
            "writer added or deleted trials in the destination during the copy."
        )
