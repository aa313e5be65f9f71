"""Multi-node optimization on a shared relational database.

Start this script on several machines at once, all pointing at one database: the first creates
the study (and the tables, in an empty database), the others reuse it, and together they run
``n_trials`` trials per process. Optuna's distributed tutorial with ``optuna`` replaced by
``trialstore``.

    python examples/multi_node_rdb.py mysql://user:password@dbhost/distributed
    python examples/multi_node_rdb.py postgresql://user:password@dbhost/distributed
"""

import sys

import trialstore

STORAGE = sys.argv[1] if len(sys.argv) > 1 else "mysql://root@127.0.0.1/distributed"


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    return (x - 2) ** 2


if __name__ == "__main__":
    study = trialstore.create_study(
        study_name="distributed_test", storage=STORAGE, load_if_exists=True
    )
    study.optimize(objective, n_trials=100)
    print(f"Best value: {study.best_value} (params: {study.best_params})")
