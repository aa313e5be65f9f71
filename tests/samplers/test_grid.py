"""GridSampler: Optuna 5.0's grid and choice of points, the study stops when the grid is
covered, and workers in separate processes (trialstore's and Optuna's) share one grid through
the storage."""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trialstore
from trialstore.distributions import FloatDistribution, IntDistribution
from trialstore.samplers import GridSampler
from trialstore.storage import BaseStorage
from trialstore.trial import FrozenTrial, TrialState

#: 24 points: 4 x 3 x 2.
SPACE: dict[str, list[Any]] = {"x": [-1.0, 0.0, 2.5, 4.0], "n": [1, 2, 3], "c": ["a", None]}
ALL_POINTS = set(itertools.product(SPACE["c"], SPACE["n"], SPACE["x"]))  # names sorted
SIZE = len(ALL_POINTS)


def objective(trial: Any) -> float:
    """Suggest SPACE's parameters (works with a trialstore or an Optuna trial)."""
    x = trial.suggest_float("x", -5, 5)
    n = trial.suggest_int("n", 0, 5)
    c = trial.suggest_categorical("c", ["a", None])
    return float(x + n + (c is None))


def _grid(study: trialstore.Study) -> GridSampler:
    """The study's sampler, a GridSampler."""
    assert isinstance(study.sampler, GridSampler)
    return study.sampler


def _point(trial: Any) -> tuple[Any, ...]:
    return tuple(trial.params[name] for name in sorted(trial.params))


def _complete_points(trials: list[Any]) -> list[tuple[Any, ...]]:
    return [_point(t) for t in trials if t.state.name == "COMPLETE"]


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    level = trialstore.logging.get_verbosity()
    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    yield
    trialstore.logging.set_verbosity(level)


# -- one worker ----------------------------------------------------------------------------


def test_optimize_runs_each_point_once_then_stops() -> None:
    sampler = GridSampler(SPACE, seed=3)
    study = trialstore.create_study(sampler=sampler)
    assert not sampler.is_exhausted(study)
    study.optimize(objective)  # no n_trials: the sampler stops the study
    points = _complete_points(study.trials)
    assert len(points) == SIZE and set(points) == ALL_POINTS
    assert [t.system_attrs["grid_id"] for t in study.trials] == list(range(SIZE))
    assert all(t.system_attrs["search_space"] == dict(sorted(SPACE.items())) for t in study.trials)
    assert sampler.is_exhausted(study)


def test_threads_cover_the_grid_and_stop() -> None:
    study = trialstore.create_study(sampler=GridSampler(SPACE))
    study.optimize(objective, n_jobs=4)
    assert set(_complete_points(study.trials)) == ALL_POINTS
    assert _grid(study).is_exhausted(study)


def _grid_by_id(trials: list[Any]) -> dict[int, dict[str, Any]]:
    return {t.system_attrs["grid_id"]: t.params for t in trials}


def _categorical_objective(space: dict[str, list[Any]]) -> Callable[[Any], float]:
    def run(trial: Any) -> float:
        for name, values in space.items():
            trial.suggest_categorical(name, values)
        return 0.0

    return run


@pytest.mark.parametrize(
    "space",
    [SPACE, {"b": [3, 1, 2], "a": [10, 5]}, {"v": [True, None, "s", 1.5, 7]}, {}],
    ids=["mixed", "unsorted", "types", "empty"],
)
@pytest.mark.parametrize("seed", [None, 0, 5, 2**32 - 1])
def test_grid_ids_name_the_same_points_as_optunas(space: dict[str, list[Any]], seed: Any) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ours = trialstore.create_study(sampler=GridSampler(space, seed=seed))
    ours.optimize(_categorical_objective(space))
    theirs = optuna.create_study(sampler=optuna.samplers.GridSampler(space, seed=seed))
    theirs.optimize(_categorical_objective(space))
    assert _grid_by_id(ours.trials) == _grid_by_id(theirs.trials)
    assert [t.params for t in ours.trials] == [t.params for t in theirs.trials]


def _ask_tell_script(study: Any, states: Any) -> list[Any]:
    """Start 4 trials, finish 3 (COMPLETE, FAIL, PRUNED), run 7 more: the grid ids used."""
    space_size = 10
    ids = []

    def grid_id(trial: Any) -> Any:
        return study._storage.get_trial_system_attrs(trial._trial_id)["grid_id"]

    def tell(*args: Any, **kwargs: Any) -> None:
        try:
            study.tell(*args, **kwargs)
        except RuntimeError:  # study.stop() outside optimize, once the grid is covered
            pass

    for _ in range(4):
        trial = study.ask()
        trial.suggest_int("x", 0, space_size - 1)
        ids.append(grid_id(trial))
    tell(0, 1.0)
    tell(1, state=states.FAIL)
    tell(2, state=states.PRUNED)
    for _ in range(7):
        trial = study.ask()
        trial.suggest_int("x", 0, space_size - 1)
        ids.append(grid_id(trial))
        tell(trial, 1.0)
    return ids


def test_choice_of_points_is_optunas() -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = {"x": list(range(10))}
    ours = trialstore.create_study(sampler=GridSampler(space))
    theirs = optuna.create_study(sampler=optuna.samplers.GridSampler(space))
    ids = _ask_tell_script(ours, TrialState)
    assert ids == _ask_tell_script(theirs, optuna.trial.TrialState)
    # Trial k takes point k; a FAIL or PRUNED point is finished (not run again); the RUNNING
    # point 3 is run again only once every point has started.
    assert ids == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3]
    assert _grid(ours).is_exhausted(ours)
    assert ours.trials[3].state == TrialState.RUNNING


@pytest.mark.parametrize("seed", range(12))
def test_a_running_point_is_not_taken_while_an_unstarted_one_remains(seed: int) -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1, 2]}, seed=seed))
    for value in (1, 2):  # trials 0 and 1 are enqueued: they take no grid point
        study.enqueue_trial({"x": value})
        study.optimize(lambda t: t.suggest_int("x", 0, 5), n_trials=1)
    running = study.ask()  # trial 2: past the grid size, a random unstarted point
    other = study.ask()
    assert {running.suggest_int("x", 0, 5), other.suggest_int("x", 0, 5)} == {1, 2}


def test_tell_of_the_last_point_outside_optimize_stores_it_then_raises() -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1, 2]}))
    first = study.ask()
    first.suggest_int("x", 0, 5)
    study.tell(first, 1.0)
    last = study.ask()
    last.suggest_int("x", 0, 5)
    with pytest.raises(RuntimeError, match=r"Study\.stop"):
        study.tell(last, 2.0)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


def test_a_covered_grid_runs_one_point_again_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1, 2]}))
    study.optimize(lambda t: t.suggest_int("x", 0, 5))
    logger = logging.getLogger("trialstore.samplers._grid")
    logger.addHandler(caplog.handler)
    try:
        study.optimize(lambda t: t.suggest_int("x", 0, 5), n_trials=5)
    finally:
        logger.removeHandler(caplog.handler)
    assert len(study.trials) == 3  # stopped after one trial
    assert study.trials[2].params["x"] in (1, 2)
    assert "running a grid point again" in caplog.text


def test_enqueued_trials_take_no_grid_point() -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1, 2, 3]}))
    study.enqueue_trial({"x": 2})
    study.optimize(lambda t: t.suggest_int("x", 0, 5))
    enqueued, *rest = study.trials
    assert "grid_id" not in enqueued.system_attrs and enqueued.params == {"x": 2}
    # The enqueued trial does not mark point 2 as run: the grid runs it too.
    assert sorted(t.params["x"] for t in rest) == [1, 2, 3]


def test_an_enqueued_trial_must_fix_every_parameter() -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1, 2], "y": [3]}))
    study.enqueue_trial({"x": 1})
    trial = study.ask()
    assert trial.suggest_int("x", 0, 5) == 1
    with pytest.raises(ValueError, match="enqueued trial must fix every parameter"):
        trial.suggest_int("y", 0, 5)


def test_a_name_outside_the_search_space_raises_value_error() -> None:
    study = trialstore.create_study(sampler=GridSampler({"x": [1]}))
    trial = study.ask()
    with pytest.raises(ValueError, match=r"'z' is not in the GridSampler's search space"):
        trial.suggest_float("z", 0, 1)
    assert trial.params == {}


def _frozen(grid_id: int) -> FrozenTrial:
    return trialstore.create_trial(state=TrialState.RUNNING, system_attrs={"grid_id": grid_id})


@pytest.mark.parametrize(
    ("value", "distribution"),
    [
        (7, IntDistribution(0, 5)),
        (0.5, FloatDistribution(1, 2)),
        (3, IntDistribution(0, 4, step=2)),
    ],
)
def test_a_value_outside_the_suggested_range_is_used_with_a_warning(
    value: Any, distribution: Any
) -> None:
    sampler = GridSampler({"p": [value]})
    study = trialstore.create_study(sampler=sampler)
    with pytest.warns(UserWarning) as caught:
        assert sampler.sample_independent(study, _frozen(0), "p", distribution) == value
    assert [str(w.message) for w in caught] == [
        f"The value `{value}` is out of range of the parameter `p`. The value will be used "
        f"but the actual distribution is: `{distribution}`."
    ]


def test_grids_of_different_search_spaces_in_one_study_are_separate() -> None:
    study = trialstore.create_study()
    study.sampler = GridSampler({"x": [1, 2]})
    study.optimize(lambda t: t.suggest_int("x", 0, 5))
    study.sampler = GridSampler({"x": [3, 4, 5]})
    study.optimize(lambda t: t.suggest_int("x", 0, 5))
    assert [t.params["x"] for t in study.trials][:2] in ([1, 2], [2, 1])
    assert sorted(t.params["x"] for t in study.trials[2:]) == [3, 4, 5]


def test_the_same_seed_gives_the_same_order_and_another_seed_another() -> None:
    def order(seed: int | None) -> list[Any]:
        study = trialstore.create_study(sampler=GridSampler(SPACE, seed=seed))
        study.optimize(objective)
        return [_point(t) for t in study.trials]

    assert order(1) == order(1) != order(2)
    assert order(None) == order(0)


def test_numpy_values_are_stored_as_python_values() -> None:
    space = {"x": np.linspace(0.0, 1.0, 3), "n": [np.int64(2)], "b": [np.bool_(True)]}
    sampler = GridSampler(space)  # type: ignore[arg-type]
    study = trialstore.create_study(sampler=sampler)
    study.optimize(
        lambda t: t.suggest_float("x", 0, 1) + t.suggest_int("n", 0, 3) + t.suggest_int("b", 0, 1)
    )
    stored = study.trials[0].system_attrs["search_space"]
    assert stored == {"b": [True], "n": [2], "x": [0.0, 0.5, 1.0]}
    assert [type(v) for v in stored["n"] + stored["b"]] == [int, bool]
    assert sorted(t.params["x"] for t in study.trials) == [0.0, 0.5, 1.0]


@pytest.mark.parametrize(
    ("space", "seed", "match"),
    [
        ([("x", [1])], None, "search_space must be a dict"),
        ({1: [1]}, None, "names must be str, got 1"),
        ({"x": "abc"}, None, r"search_space\['x'\] must be a list"),
        ({"x": {1, 2}}, None, r"search_space\['x'\] must be a list"),
        ({"x": []}, None, r"search_space\['x'\] is empty"),
        ({"x": [[1, 2]]}, None, r"search_space\['x'\]: values must be None, bool, int, float"),
        ({"x": [1 + 2j]}, None, "values must be None, bool, int, float or str"),
        ({"x": [float("nan")]}, None, "must be finite"),
        ({"x": [1]}, -1, "seed must be None or an int"),
        ({"x": [1]}, 2**32, "seed must be None or an int"),
        ({"x": [1]}, 1.5, "seed must be None or an int"),
    ],
)
def test_bad_arguments_raise_value_error(space: Any, seed: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GridSampler(space, seed=seed)


# -- several processes ---------------------------------------------------------------------

_FORK = multiprocessing.get_context("fork")
N_WORKERS = 4


def _run_worker(kind: str, url: str, n_trials: int | None, start: Any, errors: Any) -> None:
    """One worker process: optimize the shared study with a GridSampler of SPACE (kind
    "trialstore" or "optuna", the latter through ``to_optuna`` of the trialstore storage or
    Optuna's own storage when ``url`` starts with ``optuna+``)."""
    try:

        def slow_objective(trial: Any) -> float:
            time.sleep(0.005)  # so that the workers' trials overlap
            return objective(trial)

        if kind == "trialstore":
            trialstore.logging.set_verbosity(trialstore.logging.WARNING)
            study: Any = trialstore.load_study(
                study_name="grid", storage=url, sampler=GridSampler(SPACE)
            )
        else:
            import optuna

            from trialstore.interop.optuna import to_optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            study = optuna.load_study(
                study_name="grid",
                storage=to_optuna(trialstore.storage.get_storage(url)),
                sampler=optuna.samplers.GridSampler(SPACE),
            )
        start.wait(60)
        study.optimize(slow_objective, n_trials=n_trials)
    except BaseException:
        errors.put(traceback.format_exc())
        raise


def _run_workers(url: str, kinds: list[str], n_trials: int | None) -> None:
    trialstore.create_study(study_name="grid", storage=url)
    start = _FORK.Barrier(len(kinds))
    errors = _FORK.Queue()
    procs = [
        _FORK.Process(target=_run_worker, args=(kind, url, n_trials, start, errors))
        for kind in kinds
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(300)  # a guard against a hang, not a timing assertion
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert not failures, failures[0]
    assert [proc.exitcode for proc in procs] == [0] * len(kinds)


def _url(kind: str, tmp_path: Path) -> str:
    if kind == "journal":
        return f"journal://{tmp_path / 'journal.log'}"
    return f"sqlite:///{tmp_path / 'study.db'}"


def _trials(url: str) -> list[FrozenTrial]:
    return trialstore.load_study(study_name="grid", storage=url).trials


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
def test_processes_with_n_trials_adding_up_to_the_grid_run_each_point_exactly_once(
    backend: str, tmp_path: Path
) -> None:
    url = _url(backend, tmp_path)
    _run_workers(url, ["trialstore"] * N_WORKERS, SIZE // N_WORKERS)
    trials = _trials(url)
    assert len(trials) == SIZE
    assert sorted(_complete_points(trials), key=repr) == sorted(ALL_POINTS, key=repr)


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
def test_processes_without_n_trials_cover_the_grid_and_all_stop(
    backend: str, tmp_path: Path
) -> None:
    url = _url(backend, tmp_path)
    _run_workers(url, ["trialstore"] * N_WORKERS, None)
    trials = _trials(url)
    # Every point at least once; near the end some run twice (a worker that starts a trial
    # once every point has started runs a started, unfinished one again).
    assert set(_complete_points(trials)) == ALL_POINTS
    assert all(t.state == TrialState.COMPLETE for t in trials)
    study = trialstore.load_study(study_name="grid", storage=url, sampler=GridSampler(SPACE))
    assert _grid(study).is_exhausted(study)


def test_trialstore_and_optuna_processes_share_one_grid(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    url = _url("journal", tmp_path)
    _run_workers(url, ["trialstore", "optuna"] * (N_WORKERS // 2), SIZE // N_WORKERS)
    trials = _trials(url)
    assert len(trials) == SIZE
    assert sorted(_complete_points(trials), key=repr) == sorted(ALL_POINTS, key=repr)


def _optuna_storage(kind: str, path: Path) -> Any:
    optuna = pytest.importorskip("optuna")
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(str(path / "journal.log")))
    return optuna.storages.RDBStorage(f"sqlite:///{path / 'study.db'}")


@pytest.mark.parametrize("backend", ["journal", "sqlite"])
@pytest.mark.parametrize("optuna_first", [True, False], ids=["optuna-first", "trialstore-first"])
def test_a_grid_started_by_one_library_is_finished_by_the_other(
    backend: str, optuna_first: bool, tmp_path: Path
) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = _url(backend, tmp_path)
    trialstore.create_study(study_name="grid", storage=url)

    def run_optuna(n_trials: int | None) -> None:
        storage = _optuna_storage(backend, tmp_path)
        study = optuna.load_study(
            study_name="grid", storage=storage, sampler=optuna.samplers.GridSampler(SPACE)
        )
        study.optimize(objective, n_trials=n_trials)
        if isinstance(storage, optuna.storages.RDBStorage):
            storage.engine.dispose()

    def run_trialstore(n_trials: int | None) -> None:
        study = trialstore.load_study(study_name="grid", storage=url, sampler=GridSampler(SPACE))
        study.optimize(objective, n_trials=n_trials)

    first, second = (run_optuna, run_trialstore) if optuna_first else (run_trialstore, run_optuna)
    first(SIZE // 3)
    second(None)  # runs the rest, then stops
    trials = _trials(url)
    assert len(trials) == SIZE
    assert sorted(_complete_points(trials), key=repr) == sorted(ALL_POINTS, key=repr)


def test_storage_is_the_only_channel(tmp_path: Path) -> None:
    """Two samplers in one process that share nothing but the storage cover the grid once."""
    storage: BaseStorage = trialstore.storage.get_storage(_url("journal", tmp_path))
    trialstore.create_study(study_name="grid", storage=storage)
    a = trialstore.load_study(study_name="grid", storage=storage, sampler=GridSampler(SPACE))
    b = trialstore.load_study(study_name="grid", storage=storage, sampler=GridSampler(SPACE))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i in range(SIZE):
            (a if i % 2 else b).optimize(objective, n_trials=1)
    trials = _trials(_url("journal", tmp_path))
    assert sorted(_complete_points(trials), key=repr) == sorted(ALL_POINTS, key=repr)
    assert _grid(a).is_exhausted(a) and _grid(b).is_exhausted(b)
