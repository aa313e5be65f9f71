"""trialstore.logging: Optuna's format, levels and handler switches; the study log lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import trialstore
from trialstore.exceptions import TrialPruned
from trialstore.storage import InMemoryStorage

PREFIX = r"\[(?P<level>[IWED]) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\] "


@pytest.fixture(autouse=True)
def _info_level() -> object:
    trialstore.logging.set_verbosity(trialstore.logging.INFO)
    yield
    trialstore.logging.set_verbosity(trialstore.logging.INFO)
    trialstore.logging.enable_default_handler()
    trialstore.logging.disable_propagation()


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line]


def test_study_lifecycle_lines_match_optuna_format(capsys: pytest.CaptureFixture[str]) -> None:
    storage = InMemoryStorage()
    study = trialstore.create_study(
        storage=storage, study_name="demo", sampler=trialstore.samplers.RandomSampler(seed=0)
    )
    trialstore.create_study(storage=storage, study_name="demo", load_if_exists=True)
    values = iter([0.25, 0.01, 0.5])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), next(values))[1], n_trials=3)

    def pruned(trial: trialstore.Trial) -> float:
        raise TrialPruned("too slow")

    study.optimize(pruned, n_trials=1)
    study.optimize(lambda t: 1 / 0, n_trials=1, catch=(ZeroDivisionError,))
    lines = _lines(capsys.readouterr().err)
    bodies = []
    for line in lines:
        match = re.match(PREFIX, line)
        if match:
            bodies.append((match["level"], line[match.end() :]))
    assert bodies[0] == ("I", "A new study created in memory with name: demo")
    assert bodies[1] == (
        "I",
        "Using an existing study with `study_name='demo'` instead of creating a new one.",
    )
    params = [t.params for t in study.trials]
    assert bodies[2] == (
        "I",
        f"Trial 0 finished with value: 0.25 and parameters: {params[0]}. "
        "Best is trial 0 with value: 0.25.",
    )
    assert bodies[3][1].endswith("Best is trial 1 with value: 0.01.")
    assert bodies[4][1].startswith("Trial 2 finished with value: 0.5 and parameters: {'x': ")
    assert bodies[4][1].endswith("Best is trial 1 with value: 0.01.")
    assert bodies[5] == ("I", "Trial 3 pruned. too slow")
    assert bodies[6] == (
        "W",
        "Trial 4 failed with parameters: {} because of the following error: "
        "ZeroDivisionError('division by zero').",
    )
    assert any("Traceback" in line for line in lines)
    assert bodies[7] == ("W", "Trial 4 failed with value None.")


def test_multi_objective_line(capsys: pytest.CaptureFixture[str]) -> None:
    study = trialstore.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (2.0, 1.0), n_trials=1)
    err = capsys.readouterr().err
    assert "Trial 0 finished with values: [2.0, 1.0] and parameters: {}." in err


def test_verbosity_and_handler_switches(capsys: pytest.CaptureFixture[str]) -> None:
    trialstore.logging.set_verbosity(trialstore.logging.WARNING)
    assert trialstore.logging.get_verbosity() == trialstore.logging.WARNING
    trialstore.create_study(study_name="quiet")
    assert capsys.readouterr().err == ""
    trialstore.logging.set_verbosity(trialstore.logging.INFO)
    trialstore.logging.disable_default_handler()
    trialstore.create_study(study_name="unhandled")
    assert capsys.readouterr().err == ""
    trialstore.logging.enable_default_handler()
    trialstore.create_study(study_name="loud")
    assert "with name: loud" in capsys.readouterr().err


def test_propagation_reaches_root_logger(caplog: pytest.LogCaptureFixture) -> None:
    trialstore.logging.enable_propagation()
    with caplog.at_level("INFO"):
        trialstore.create_study(study_name="propagated")
    assert "with name: propagated" in caplog.text
    assert trialstore.logging.get_logger("trialstore.x").name == "trialstore.x"


def _best_claims(err: str) -> list[tuple[int, float]]:
    return [
        (int(m[1]), float(m[2]))
        for m in re.finditer(r"Best is trial (\d+) with value: (\S+)\.", err)
    ]


def test_best_in_log_is_true_best_with_threads(capsys: pytest.CaptureFixture[str]) -> None:
    import random
    import time

    study = trialstore.create_study(sampler=trialstore.samplers.RandomSampler(seed=0))

    def objective(trial: trialstore.Trial) -> float:
        time.sleep(random.random() / 500)
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=40, n_jobs=4)
    claims = _best_claims(capsys.readouterr().err)
    assert len(claims) == 40
    values = {t.number: t.value for t in study.trials}
    assert all(values[number] == value for number, value in claims)
    assert claims[-1] == (study.best_trial.number, study.best_value)


def test_best_in_log_for_a_reloaded_large_study(capsys: pytest.CaptureFixture[str]) -> None:
    storage = InMemoryStorage()
    first = trialstore.create_study(storage=storage, study_name="big", direction="maximize")
    first.add_trials([trialstore.create_trial(value=float(v % 17)) for v in range(30)])
    second = trialstore.load_study(study_name="big", storage=storage)
    second.optimize(lambda t: -1.0, n_trials=1)
    assert _best_claims(capsys.readouterr().err) == [(16, 16.0)]


def test_best_in_log_costs_no_read_of_a_trial_on_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The "Best is trial" line on a storage that is not probed by number (a database, a
    proxy) comes from the listing its cache serves: no ``get_trial`` round trip per trial
    (``BaseStorage.get_best_trial`` lists, then reads the best trial again)."""
    from trialstore.storage import RDBStorage

    storage = RDBStorage(f"sqlite:///{tmp_path}/best.db")
    reads = []
    get_trial = storage.get_trial

    def counted(trial_id: int) -> trialstore.trial.FrozenTrial:
        reads.append(trial_id)
        return get_trial(trial_id)

    storage.get_trial = counted  # type: ignore[method-assign]
    study = trialstore.create_study(
        storage=storage, direction="maximize", sampler=trialstore.samplers.RandomSampler(seed=1)
    )
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=20)
    claims = _best_claims(capsys.readouterr().err)
    assert reads == []
    values: dict[int, float] = {}
    for t in study.trials:
        assert t.value is not None
        values[t.number] = t.value
    assert len(claims) == 20
    assert all(values[number] == value for number, value in claims)
    assert [value for _, value in claims] == [
        max(values[n] for n in range(i + 1)) for i in range(20)
    ]
