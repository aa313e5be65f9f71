"""The seed's multi-process journal script runs on trialstore after the two textual
replacements (``optuna`` -> ``trialstore``, ``storages`` -> ``storage``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SEED_SCRIPT = """
from multiprocessing import Pool

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def run(_):
    storage = JournalStorage(JournalFileBackend("./journal.log"))
    study = optuna.load_study(study_name="journal-mp", storage=storage)
    study.optimize(objective, n_trials=3)


if __name__ == "__main__":
    storage = JournalStorage(JournalFileBackend("./journal.log"))
    study = optuna.create_study(study_name="journal-mp", storage=storage)
    with Pool(4) as pool:
        pool.map(run, range(12))
    study = optuna.load_study(study_name="journal-mp", storage=storage)
    print(sorted(t.number for t in study.trials))
"""


def ported(script: str) -> str:
    return script.replace("optuna", "trialstore").replace("storages", "storage")


def test_seed_multiprocess_script_yields_each_number_once(tmp_path: Path) -> None:
    (tmp_path / "seed.py").write_text(ported(SEED_SCRIPT))
    done = subprocess.run(
        [sys.executable, "seed.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == str(list(range(36)))
    # Optuna 5.0 reads the journal the script wrote.
    optuna = pytest.importorskip("optuna")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log"))
    )
    study = optuna.load_study(study_name="journal-mp", storage=storage)
    assert sorted(t.number for t in study.trials) == list(range(36))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
