"""Study: attributes, trials, best trial(s), ask/tell, enqueue and add_trial."""

from __future__ import annotations

import threading
import warnings

import pytest

import trialstore
from trialstore.distributions import CategoricalDistribution, FloatDistribution
from trialstore.storage import InMemoryStorage
from trialstore.trial import FrozenTrial, TrialState, create_trial


def _study(**kwargs: object) -> trialstore.Study:
    return trialstore.create_study(
        sampler=trialstore.samplers.RandomSampler(seed=1),
        **kwargs,  # type: ignore[arg-type]
    )


def test_user_and_system_attrs() -> None:
    study = _study()
    study.set_user_attr("k", {"a": [1, 2]})
    study.set_system_attr("s", 3)
    assert study.user_attrs == {"k": {"a": [1, 2]}}
    assert study.system_attrs == {"s": 3}
    with pytest.raises(ValueError):
        study.set_user_attr("bad", object())


def test_ask_tell_complete_and_return_value() -> None:
    study = _study()
    trial = study.ask()
    x = trial.suggest_float("x", -1, 1)
    frozen = study.tell(trial, x * x)
    assert isinstance(frozen, FrozenTrial)
    assert frozen.state == TrialState.COMPLETE and frozen.value == x * x
    assert frozen.params == {"x": x}
    assert study.best_trial.number == 0 and study.best_value == x * x
    assert study.best_params == {"x": x}


def test_tell_by_number_states_and_errors() -> None:
    study = _study()
    t0, t1, t2 = study.ask(), study.ask(), study.ask()
    t1.report(0.5, step=3)
    study.tell(0, state=TrialState.FAIL)
    pruned = study.tell(1, state=TrialState.PRUNED)
    assert pruned.state == TrialState.PRUNED and pruned.value == 0.5
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(t0, 1.0)
    skipped = study.tell(t0, 1.0, skip_if_finished=True)
    assert skipped.state == TrialState.FAIL
    with pytest.raises(ValueError, match="not been created"):
        study.tell(99, 1.0)
    with pytest.raises(TypeError):
        study.tell("0", 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="No values"):
        study.tell(t2, state=TrialState.COMPLETE)
    with pytest.raises(ValueError, match="Values were told"):
        study.tell(t2, 1.0, state=TrialState.FAIL)
    with pytest.raises(ValueError, match="Cannot tell with state"):
        study.tell(t2, state=TrialState.WAITING)
    with pytest.warns(UserWarning, match="could not be cast"):
        failed = study.tell(t2, "abc")  # type: ignore[arg-type]
    assert failed.state == TrialState.FAIL and failed.values is None


def test_tell_nan_fails_with_warning_and_multi_objective_count() -> None:
    study = _study()
    with pytest.warns(UserWarning, match="not acceptable"):
        assert study.tell(study.ask(), float("nan")).state == TrialState.FAIL
    multi = _study(directions=["minimize", "maximize"])
    with pytest.warns(UserWarning, match="did not match"):
        assert multi.tell(multi.ask(), 1.0).state == TrialState.FAIL
    assert multi.tell(multi.ask(), [1.0, 2.0]).values == [1.0, 2.0]


def test_ask_fixed_distributions() -> None:
    study = _study()
    trial = study.ask({"x": FloatDistribution(0, 1), "c": CategoricalDistribution(["a"])})
    assert set(trial.params) == {"x", "c"} and trial.params["c"] == "a"


def test_enqueue_trial_is_claimed_first_with_fixed_params() -> None:
    study = _study()
    study.enqueue_trial({"x": 0.25, "n": 3}, user_attrs={"from": "queue"})
    study.enqueue_trial({"x": 0.75})
    assert [t.state for t in study.trials] == [TrialState.WAITING, TrialState.WAITING]
    first = study.ask()
    assert first.number == 0
    assert first.suggest_float("x", 0, 1) == 0.25
    assert first.suggest_int("n", 0, 10) == 3
    assert first.user_attrs == {"from": "queue"}
    second = study.ask()
    assert second.number == 1 and second.suggest_float("x", 0, 1) == 0.75
    assert study.ask().number == 2


#: (enqueued value, suggest call, value suggest_* returns, Optuna 5.0's warning text).
OUT_OF_RANGE = [
    (
        100.0,
        lambda t: t.suggest_float("x", 0, 10),
        100.0,
        "Fixed parameter x with value 100.0 is out of range for distribution "
        "FloatDistribution(high=10.0, log=False, low=0.0, step=None).",
    ),
    (
        -3,
        lambda t: t.suggest_float("x", 0.5, 1.5, step=0.5),
        -3.0,
        "Fixed parameter x with value -3 is out of range for distribution "
        "FloatDistribution(high=1.5, log=False, low=0.5, step=0.5).",
    ),
    (
        0.25,
        lambda t: t.suggest_float("x", 0, 10, step=1.0),
        0.25,
        "Fixed parameter x with value 0.25 is out of range for distribution "
        "FloatDistribution(high=10.0, log=False, low=0.0, step=1.0).",
    ),
    (
        0.001,
        lambda t: t.suggest_float("x", 0.1, 10, log=True),
        0.001,
        "Fixed parameter x with value 0.001 is out of range for distribution "
        "FloatDistribution(high=10.0, log=True, low=0.1, step=None).",
    ),
    (
        100,
        lambda t: t.suggest_int("x", 0, 10),
        100,
        "Fixed parameter x with value 100 is out of range for distribution "
        "IntDistribution(high=10, log=False, low=0, step=1).",
    ),
    (
        3,
        lambda t: t.suggest_int("x", 0, 10, step=2),
        3,
        "Fixed parameter x with value 3 is out of range for distribution "
        "IntDistribution(high=10, log=False, low=0, step=2).",
    ),
    (
        2.5,
        lambda t: t.suggest_int("x", 0, 10),
        2,
        "Fixed parameter x with value 2.5 is out of range for distribution "
        "IntDistribution(high=10, log=False, low=0, step=1).",
    ),
]


@pytest.mark.parametrize("param_writes", ["immediate", "at_tell"])
@pytest.mark.parametrize(("fixed", "suggest", "expected", "message"), OUT_OF_RANGE)
def test_enqueued_value_outside_the_range_is_used_with_optunas_warning(
    fixed: object, suggest: object, expected: object, message: str, param_writes: str
) -> None:
    study = _study(param_writes=param_writes)
    study.enqueue_trial({"x": fixed})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(suggest, n_trials=1)  # type: ignore[arg-type]
    assert [(w.category, str(w.message)) for w in caught] == [(UserWarning, message)]
    assert caught[0].filename == __file__  # points at the objective's suggest_* call
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    assert trial.params == {"x": expected} and type(trial.params["x"]) is type(expected)
    assert trial.value == expected


@pytest.mark.parametrize(
    ("fixed", "suggest"),
    [
        ("z", lambda t: t.suggest_categorical("x", ["a", "b"])),
        (float("nan"), lambda t: t.suggest_float("x", 0, 10)),
        (float("inf"), lambda t: t.suggest_float("x", 0, 10)),
        ("ten", lambda t: t.suggest_float("x", 0, 10)),
        (-1.0, lambda t: t.suggest_float("x", 0.1, 10, log=True)),
        (0.5, lambda t: t.suggest_int("x", 1, 8, log=True)),
    ],
    ids=["not a choice", "NaN", "inf", "not a number", "log <= 0", "int log < 1"],
)
def test_enqueued_value_that_cannot_be_represented_is_sampled_with_warning(
    fixed: object, suggest: object
) -> None:
    study = _study()
    study.enqueue_trial({"x": fixed})
    with pytest.warns(UserWarning, match="cannot be represented .* sampling a new value"):
        study.optimize(lambda t: [suggest(t), 0.0][1], n_trials=1)  # type: ignore[operator]
    (trial,) = study.trials
    assert trial.state == TrialState.COMPLETE
    assert trial.distributions["x"]._contains(
        trial.distributions["x"].to_internal_repr(trial.params["x"])
    )


def test_enqueue_skip_if_exists() -> None:
    study = _study()
    study.enqueue_trial({"x": 0.5})
    study.enqueue_trial({"x": 0.5}, skip_if_exists=True)
    assert len(study.trials) == 1
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    study.enqueue_trial({"x": 0.5}, skip_if_exists=True)
    assert len(study.trials) == 1


def test_concurrent_ask_claims_each_waiting_trial_once() -> None:
    study = _study()
    for i in range(20):
        study.enqueue_trial({"x": i / 20})
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            trial = study.ask()
            with lock:
                claimed.append(trial.number)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == list(range(20))
    assert len(study.trials) == 20


def test_add_trial_and_add_trials() -> None:
    study = _study()
    dist = FloatDistribution(0, 1)
    study.add_trial(create_trial(params={"x": 0.5}, distributions={"x": dist}, value=2.0))
    study.add_trials([create_trial(value=1.0), create_trial(state=TrialState.PRUNED)])
    assert [t.state for t in study.trials] == [
        TrialState.COMPLETE,
        TrialState.COMPLETE,
        TrialState.PRUNED,
    ]
    assert study.best_trial.number == 1
    with pytest.raises(ValueError):
        create_trial(state=TrialState.COMPLETE)


def test_get_trials_states_and_deepcopy() -> None:
    study = _study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    study.enqueue_trial({"x": 0.1})
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert len(study.get_trials(states=(TrialState.WAITING,))) == 1
    assert study.get_trials(states=()) == []
    copy = study.trials[0]
    copy.params["x"] = 99
    assert study.trials[0].params["x"] != 99


def test_best_trial_errors_and_maximize() -> None:
    study = _study(direction="maximize")
    with pytest.raises(ValueError):
        _ = study.best_trial
    study.add_trials([create_trial(value=v) for v in (1.0, 3.0, 3.0, 2.0)])
    assert study.best_trial.number == 1 and study.best_value == 3.0
    assert [t.number for t in study.best_trials] == [1, 2]
    multi = _study(directions=["minimize", "minimize"])
    with pytest.raises(RuntimeError):
        _ = multi.best_trial


def test_best_trials_pareto_front() -> None:
    study = _study(directions=["minimize", "maximize"])
    for values in ([1.0, 1.0], [2.0, 2.0], [2.0, 0.5], [0.5, 0.5]):
        study.add_trial(create_trial(values=values))
    assert sorted(t.number for t in study.best_trials) == [0, 1, 3]


def test_stop_outside_optimize_raises_and_inside_stops() -> None:
    study = _study()
    with pytest.raises(RuntimeError):
        study.stop()

    def objective(trial: trialstore.Trial) -> float:
        if trial.number == 4:
            trial.study.stop()
        return 0.0

    study.optimize(objective, n_trials=100)
    assert len(study.trials) == 5


def test_study_with_storage_object_shares_data() -> None:
    storage = InMemoryStorage()
    a = trialstore.create_study(storage=storage, study_name="x")
    b = trialstore.load_study(study_name="x", storage=storage)
    a.add_trial(create_trial(value=1.0))
    assert len(b.trials) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert b.best_value == 1.0
