"""Easy parallelization, multi-process: five processes share one study in a journal file.

Optuna's tutorial script with ``optuna`` replaced by ``trialstore`` and ``storages`` by
``storage``. Run it from a scratch directory: it writes ``./journal.log``.

    python examples/multi_process_journal.py
"""

import os
from concurrent.futures import ProcessPoolExecutor

import trialstore
from trialstore.storage import JournalStorage
from trialstore.storage.journal import JournalFileBackend


def objective(trial):
    print(f"Running trial {trial.number=} in process {os.getpid()}")
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


def run_optimization(_):
    study = trialstore.create_study(
        study_name="journal_storage_multiprocess",
        storage=JournalStorage(JournalFileBackend(file_path="./journal.log")),
        load_if_exists=True,
    )
    study.optimize(objective, n_trials=3)


if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=5) as pool:
        pool.map(run_optimization, range(12))
