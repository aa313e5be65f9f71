"""Easy parallelization, multi-thread: one process, four threads share an in-memory study.

Optuna's tutorial script with ``optuna`` replaced by ``trialstore``. Each trial prints the
thread (``ThreadPoolExecutor-…``) that runs it; the library logs each finished trial to stderr.

    python examples/multi_thread.py
"""

import threading

import trialstore


def objective(trial):
    print(f"Running trial {trial.number=} in {threading.current_thread().name}")
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


if __name__ == "__main__":
    study = trialstore.create_study()
    study.optimize(objective, n_trials=20, n_jobs=4)
