"""Building new trials (trialstore/_core/_create.py): new_running_trial."""

from __future__ import annotations

import datetime

from trialstore._core import FrozenTrial, TrialState, new_running_trial

START = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901)


def test_new_running_trial_has_nothing_set_but_its_start() -> None:
    trial = new_running_trial(4, 17, START)
    expected = FrozenTrial(
        number=4,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=START,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=17,
    )
    assert trial == expected
    assert repr(trial) == repr(expected)
    trial._validate()


def test_new_running_trial_defaults_to_unassigned_ids_started_now() -> None:
    before = datetime.datetime.now()
    trial = new_running_trial()
    after = datetime.datetime.now()
    assert (trial.number, trial._trial_id) == (-1, -1)
    assert trial.datetime_start is not None and trial.datetime_start.tzinfo is None
    assert before <= trial.datetime_start <= after
    assert trial.state == TrialState.RUNNING and trial.values is None


def test_new_running_trial_copies_its_system_attrs() -> None:
    attrs = {"mark": "m1"}
    trial = new_running_trial(system_attrs=attrs)
    attrs["mark"] = "changed"
    assert trial.system_attrs == {"mark": "m1"}
    assert new_running_trial().system_attrs == {}
    assert new_running_trial().system_attrs is not new_running_trial().system_attrs
