"""Conformance: a hypothesis state machine comparing a storage with the reference model
(private): its rules and its runner. What the rules draw is in ``_draws``, how results are
compared in ``_compare``.

Every step calls one operation on both, with good and bad arguments, and compares the result
or the exception type. After a rejected call it compares everything the suite created, so bad
input that changes stored data is caught. Snapshots handed out earlier are re-checked after
every step.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from trialstore._core import FrozenTrial, StudyDirection, TrialState
from trialstore.conformance._base import (
    ConformanceBase,
    StorageFactory,
    canonical_trial,
    unique_name,
)
from trialstore.conformance._compare import (
    EXPECTED_ERRORS,
    check_trial,
    check_trial_list,
    compare_everything,
    matches,
)
from trialstore.conformance._draws import (
    PALETTE,
    bad_numbers,
    coin,
    draw_attr_value,
    draw_key,
    draw_template,
    good_floats,
    invalid_internal,
    nan_values,
    valid_internal,
)
from trialstore.conformance._model import Model, ModelTrial
from trialstore.exceptions import UpdateFinishedTrialError
from trialstore.storage.base import BaseStorage

__all__ = ["StateMachineConformance", "StorageMachine", "machine_settings"]

MIN, MAX = StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE


def machine_settings(examples: int, steps: int, shrink: bool = True) -> settings:
    """Return the hypothesis settings of the state machine (no deadline, no database).

    The environment variables TRIALSTORE_CONFORMANCE_EXAMPLES, _STEPS and _SHRINK (1 or 0)
    override the arguments; TRIALSTORE_CONFORMANCE_SEED switches from the derandomized run
    (the same sequences every time) to a random one from that seed.
    """
    shrink = os.environ.get("TRIALSTORE_CONFORMANCE_SHRINK", "1" if shrink else "0") == "1"
    phases = [phase for phase in Phase if shrink or phase not in (Phase.shrink, Phase.explain)]
    return settings(
        phases=phases,
        max_examples=int(os.environ.get("TRIALSTORE_CONFORMANCE_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("TRIALSTORE_CONFORMANCE_STEPS", steps)),
        deadline=None,
        derandomize="TRIALSTORE_CONFORMANCE_SEED" not in os.environ,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


class StorageMachine(RuleBasedStateMachine):
    """Random operation sequences on a storage and on the reference model, compared."""

    factory: StorageFactory
    #: Whether the storage implements delete_trials (the rule delete_trials runs).
    deletes: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.storage: BaseStorage = self.factory()
        self.model = Model()
        self.prefix = unique_name("sm")
        self.n_names = 0
        self.seen_study_ids = {s._study_id for s in self.storage.get_all_studies()}
        self.seen_trial_ids: set[int] = set()
        self.held: list[tuple[FrozenTrial, Any]] = []

    # -- plumbing ---------------------------------------------------------------------------

    def call(
        self, what: str, on_storage: Callable[[], Any], on_model: Callable[[], Any]
    ) -> tuple[bool, Any, Any]:
        """Run one operation on both sides; return (succeeded, storage result, model result).

        A mismatch in success or exception type fails; a rejected call is followed by a full
        comparison (stored data must be unchanged).
        """
        expected_error: type[BaseException] | None = None
        expected: Any = None
        try:
            expected = on_model()
        except EXPECTED_ERRORS as e:
            expected_error = type(e)
        try:
            got = on_storage()
        except Exception as e:
            if expected_error is None:
                raise AssertionError(
                    f"{what}: storage raised {e!r}, model expected success"
                ) from e
            if not matches(e, expected_error):
                raise AssertionError(
                    f"{what}: storage raised {type(e).__name__} ({e}), expected "
                    f"{expected_error.__name__}"
                ) from e
            compare_everything(self.storage, self.model)
            return False, None, None
        if expected_error is not None:
            raise AssertionError(
                f"{what}: storage returned {got!r}, expected {expected_error.__name__}"
            )
        return True, got, expected

    def pick_study(self, data: st.DataObject) -> Any:
        live = sorted(self.model.studies)
        gone = sorted(self.model.deleted_study_ids)
        if live and not coin(data, 12, "missing study?"):
            return data.draw(st.sampled_from(live), label="study_id")
        return data.draw(st.sampled_from([*gone, -1, True, 0.0, "0"]), label="missing study_id")

    def pick_trial(self, data: st.DataObject) -> Any:
        live = sorted(self.model.trials)
        unfinished = [t for t in live if not self.model.trials[t].state.is_finished()]
        gone = sorted(self.model.deleted_trial_ids)
        if unfinished and coin(data, 65, "unfinished trial?"):
            return data.draw(st.sampled_from(unfinished), label="trial_id")
        if live and not coin(data, 25, "missing trial?"):
            return data.draw(st.sampled_from(live), label="trial_id")
        return data.draw(st.sampled_from([*gone, -7, True, 0.0, "0"]), label="missing trial_id")

    def hold(self, trial: FrozenTrial) -> None:
        """Remember a returned snapshot: it must never change."""
        self.held = [*self.held[-3:], (trial, canonical_trial(trial))]

    def n_directions(self, study_id: Any) -> int:
        """The number of objectives of the model's study ``study_id`` (1 for a missing one)."""
        study = self.model.studies.get(study_id) if type(study_id) is int else None
        return len(study.directions) if study else 1

    def teardown(self) -> None:
        try:
            compare_everything(self.storage, self.model)
        finally:
            # Best effort: leave a shared store clean without hiding the original failure.
            with contextlib.suppress(Exception):
                for study_id in list(self.model.studies):
                    self.storage.delete_study(study_id)
            self.storage.close()

    @invariant()
    def held_snapshots_never_change(self) -> None:
        for trial, canonical in self.held:
            assert canonical_trial(trial) == canonical, "a returned snapshot changed"

    # -- studies ----------------------------------------------------------------------------

    @initialize(directions=st.lists(st.sampled_from([MIN, MAX]), min_size=1, max_size=2))
    def first_study(self, directions: list[StudyDirection]) -> None:
        name = f"{self.prefix}-0"
        study_id = self.storage.create_new_study(directions, name)
        assert study_id not in self.seen_study_ids, f"study id {study_id} was used before"
        self.seen_study_ids.add(study_id)
        self.model.commit_create_study(study_id, name, list(directions))
        self.add_plain_trial(study_id)
        self.add_plain_trial(study_id)

    def add_plain_trial(self, study_id: Any) -> None:
        """create_new_trial(study_id) without a template, checked against the model."""
        ok, trial_id, planned = self.call(
            f"create_new_trial({study_id})",
            lambda: self.storage.create_new_trial(study_id),
            lambda: self.model.plan_create_trial(study_id, None),
        )
        if ok:
            self.commit_trial(trial_id, planned)

    def commit_trial(self, trial_id: Any, planned: ModelTrial) -> None:
        """Check a new trial id, record it in the model and compare the trial."""
        assert type(trial_id) is int, f"trial id {trial_id!r} is not an int"
        assert trial_id not in self.seen_trial_ids, f"trial id {trial_id} was used before"
        self.seen_trial_ids.add(trial_id)
        self.model.commit_create_trial(planned, trial_id)
        trial = self.storage.get_trial(trial_id)
        check_trial(trial, planned)
        self.hold(trial)

    @rule(data=st.data())
    def create_study(self, data: st.DataObject) -> None:
        kind = data.draw(
            st.sampled_from(["fresh", "fresh", "fresh", "existing", "deleted", "none", "bad"]),
            label="name kind",
        )
        name: Any
        if kind == "existing" and self.model.studies:
            name = data.draw(st.sampled_from(sorted(s.name for s in self.model.studies.values())))
        elif kind == "deleted" and self.model.deleted_names:
            name = data.draw(st.sampled_from(self.model.deleted_names))
        elif kind == "none":
            name = None
        elif kind == "bad":
            name = data.draw(st.sampled_from([5, b"bytes", 1.5, self.prefix + "x" * 512]))
        else:
            self.n_names += 1
            name = f"{self.prefix}-{self.n_names}"
        directions: Any
        if coin(data, 15, "bad directions?"):
            directions = data.draw(
                st.sampled_from(
                    [[], [StudyDirection.NOT_SET], ["minimize"], [MIN, None], MIN, "maximize"]
                ),
                label="directions",
            )
        elif coin(data, 60, "single objective?"):
            directions = [data.draw(st.sampled_from([MIN, MAX]), label="direction")]
        else:
            directions = data.draw(
                st.lists(st.sampled_from([MIN, MAX]), min_size=2, max_size=3)
                | st.lists(st.sampled_from([MIN, MAX]), min_size=1, max_size=2).map(tuple),
                label="directions",
            )
        ok, study_id, planned = self.call(
            f"create_new_study({directions!r}, {name!r})",
            lambda: self.storage.create_new_study(directions, name),
            lambda: self.model.plan_create_study(directions, name),
        )
        if not ok:
            return
        assert type(study_id) is int, f"study id {study_id!r} is not an int"
        assert study_id not in self.seen_study_ids, f"study id {study_id} was used before"
        self.seen_study_ids.add(study_id)
        actual = self.storage.get_study_name_from_id(study_id)
        if name is None:
            assert actual.startswith("no-name-"), f"generated name {actual!r}"
        else:
            assert actual == name, f"name {actual!r} != {name!r}"
        self.model.commit_create_study(study_id, actual, planned)

    @rule(data=st.data())
    def delete_study(self, data: st.DataObject) -> None:
        study_id = self.pick_study(data)
        if not coin(data, 40, "delete (or add a trial)?"):
            self.add_plain_trial(study_id)
            return
        self.call(
            f"delete_study({study_id})",
            lambda: self.storage.delete_study(study_id),
            lambda: self.model.delete_study(study_id),
        )

    @rule(data=st.data(), kind=st.sampled_from(["user", "system"]))
    def set_study_attr(self, data: st.DataObject, kind: str) -> None:
        study_id = self.pick_study(data)
        key = draw_key(data)
        value = draw_attr_value(data)
        method = getattr(self.storage, f"set_study_{kind}_attr")
        self.call(
            f"set_study_{kind}_attr({study_id}, {key!r}, {value!r})",
            lambda: method(study_id, key, value),
            lambda: self.model.set_study_attr(kind, study_id, key, value),
        )

    @rule(data=st.data(), what=st.sampled_from(["name", "directions", "user", "system", "id"]))
    def read_study(self, data: st.DataObject, what: str) -> None:
        study_id = self.pick_study(data)
        if what == "id":
            names = [s.name for s in self.model.studies.values()]
            name = data.draw(
                st.sampled_from([*names, *self.model.deleted_names, self.prefix + "-never"])
            )
            ok, got, want = self.call(
                f"get_study_id_from_name({name!r})",
                lambda: self.storage.get_study_id_from_name(name),
                lambda: self.model.get_study_id_from_name(name),
            )
        elif what == "name":
            ok, got, want = self.call(
                f"get_study_name_from_id({study_id})",
                lambda: self.storage.get_study_name_from_id(study_id),
                lambda: self.model.study(study_id).name,
            )
        elif what == "directions":
            ok, got, want = self.call(
                f"get_study_directions({study_id})",
                lambda: self.storage.get_study_directions(study_id),
                lambda: list(self.model.study(study_id).directions),
            )
        else:
            method = getattr(self.storage, f"get_study_{what}_attrs")
            ok, got, want = self.call(
                f"get_study_{what}_attrs({study_id})",
                lambda: method(study_id),
                lambda: getattr(self.model.study(study_id), f"{what}_attrs"),
            )
            if ok:
                got, want = json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)
        if ok:
            assert got == want, f"read {what} of study {study_id}: {got!r} != {want!r}"

    @rule()
    def get_all_studies(self) -> None:
        studies = self.storage.get_all_studies()
        ids = [s._study_id for s in studies]
        assert ids == sorted(ids), "get_all_studies is not ordered by id"
        self.seen_study_ids.update(ids)
        compare_everything(self.storage, self.model)

    # -- trials -----------------------------------------------------------------------------

    @rule(data=st.data())
    def create_trial(self, data: st.DataObject) -> None:
        study_id = self.pick_study(data)
        template = (
            draw_template(data, self.n_directions(study_id)) if data.draw(st.booleans()) else None
        )
        ok, trial_id, planned = self.call(
            f"create_new_trial({study_id}, {template!r})",
            lambda: self.storage.create_new_trial(study_id, template),
            lambda: self.model.plan_create_trial(study_id, template),
        )
        if ok:
            self.commit_trial(trial_id, planned)

    @rule(data=st.data())
    def set_trial_param(self, data: st.DataObject) -> None:
        trial_id = self.pick_trial(data)
        name: Any = data.draw(st.sampled_from(sorted(PALETTE)), label="name")
        dist: Any = data.draw(st.sampled_from(PALETTE[name]), label="distribution")
        mode = data.draw(st.sampled_from(["good"] * 12 + ["bad value", "bad name", "bad dist"]))
        value: Any = data.draw(
            invalid_internal(dist) if mode == "bad value" else valid_internal(dist),
            label="internal value",
        )
        if mode == "bad name":
            name = data.draw(st.sampled_from([None, 3, "p" * 513]))
        elif mode == "bad dist":
            dist = data.draw(st.sampled_from([None, "FloatDistribution", {"low": 0}]))
        ok, _, _ = self.call(
            f"set_trial_param({trial_id}, {name!r}, {value!r}, {dist!r})",
            lambda: self.storage.set_trial_param(trial_id, name, value, dist),
            lambda: self.model.set_trial_param(trial_id, name, value, dist),
        )
        if ok:
            check_trial(self.storage.get_trial(trial_id), self.model.trials[trial_id])

    @rule(data=st.data())
    def set_trial_params(self, data: st.DataObject) -> None:
        trial_id = self.pick_trial(data)
        names = data.draw(st.lists(st.sampled_from(sorted(PALETTE)), unique=True), label="names")
        params: Any = {}
        for name in names:
            dist = data.draw(st.sampled_from(PALETTE[name]), label=f"distribution of {name}")
            params[name] = (data.draw(valid_internal(dist), label=f"value of {name}"), dist)
        flaw = data.draw(
            st.sampled_from(["none"] * 12 + ["bad value", "bad name", "bad dist", "bad entry"]),
            label="flaw",
        )
        if flaw != "none" and params:
            name = data.draw(st.sampled_from(sorted(params)), label="flawed entry")
            value, dist = params[name]
            if flaw == "bad value":
                params[name] = (data.draw(invalid_internal(dist), label="bad value"), dist)
            elif flaw == "bad name":
                params[data.draw(st.sampled_from([None, 3, "p" * 513]))] = params.pop(name)
            elif flaw == "bad dist":
                params[name] = (value, data.draw(st.sampled_from([None, "FloatDistribution"])))
            else:
                params[name] = data.draw(st.sampled_from([value, (value,), [value, dist, 1]]))
        elif flaw != "none":
            params = data.draw(st.sampled_from([None, [("x", (0.5, PALETTE["x"][0]))]]))
        ok, _, _ = self.call(
            f"set_trial_params({trial_id}, {params!r})",
            lambda: self.storage.set_trial_params(trial_id, params),
            lambda: self.model.set_trial_params(trial_id, params),
        )
        if ok:
            check_trial(self.storage.get_trial(trial_id), self.model.trials[trial_id])

    @rule(data=st.data())
    def set_trial_state_values(self, data: st.DataObject) -> None:
        trial_id = self.pick_trial(data)
        trial = self.model.trials.get(trial_id) if type(trial_id) is int else None
        n_directions = len(self.model.studies[trial.study_id].directions) if trial else 1
        state: Any = data.draw(
            st.sampled_from(list(TrialState))
            if not coin(data, 10, "bad state?")
            else st.sampled_from(["RUNNING", None, True, 7]),
            label="state",
        )
        fitting = st.lists(good_floats, min_size=n_directions, max_size=n_directions)
        values: Any
        if coin(data, 70, "fitting values?"):
            if state == TrialState.COMPLETE:
                values = data.draw(fitting, label="values")
            elif state in (TrialState.PRUNED, TrialState.FAIL):
                values = data.draw(st.none() | fitting, label="values")
            else:
                values = None
        else:
            values = data.draw(
                st.none()
                | fitting
                | st.lists(good_floats, max_size=3)
                | st.lists(bad_numbers, min_size=1, max_size=n_directions)
                | st.sampled_from([1.0, "1.0"]),
                label="values",
            )
        ok, got, want = self.call(
            f"set_trial_state_values({trial_id}, {state!r}, {values!r})",
            lambda: self.storage.set_trial_state_values(trial_id, state, values),
            lambda: self.model.set_trial_state_values(trial_id, state, values),
        )
        if ok:
            assert got is want, f"set_trial_state_values returned {got!r}, expected {want!r}"
            check_trial(self.storage.get_trial(trial_id), self.model.trials[trial_id])

    @rule(data=st.data())
    def set_intermediate_value(self, data: st.DataObject) -> None:
        trial_id = self.pick_trial(data)
        step: Any = data.draw(
            st.sampled_from([2**31, -1, 1.0, "1", None, True])
            if coin(data, 15, "bad step?")
            else st.integers(0, 5) | st.just(2**31 - 1),
            label="step",
        )
        value: Any = data.draw(
            st.sampled_from(["1.0", None, True, [1.0], 1j])
            if coin(data, 15, "bad value?")
            else nan_values,
            label="value",
        )
        ok, _, _ = self.call(
            f"set_trial_intermediate_value({trial_id}, {step!r}, {value!r})",
            lambda: self.storage.set_trial_intermediate_value(trial_id, step, value),
            lambda: self.model.set_trial_intermediate_value(trial_id, step, value),
        )
        if ok:
            check_trial(self.storage.get_trial(trial_id), self.model.trials[trial_id])

    @rule(data=st.data(), kind=st.sampled_from(["user", "system"]))
    def set_trial_attr(self, data: st.DataObject, kind: str) -> None:
        trial_id = self.pick_trial(data)
        key = draw_key(data)
        value = draw_attr_value(data)
        method = getattr(self.storage, f"set_trial_{kind}_attr")
        ok, _, _ = self.call(
            f"set_trial_{kind}_attr({trial_id}, {key!r}, {value!r})",
            lambda: method(trial_id, key, value),
            lambda: self.model.set_trial_attr(kind, trial_id, key, value),
        )
        if ok:
            check_trial(self.storage.get_trial(trial_id), self.model.trials[trial_id])

    @rule(
        data=st.data(),
        what=st.sampled_from(["trial", "number", "param", "params", "user", "system", "id"]),
    )
    def read_trial(self, data: st.DataObject, what: str) -> None:
        trial_id = self.pick_trial(data)
        if what == "trial":
            ok, got, want = self.call(
                f"get_trial({trial_id})",
                lambda: self.storage.get_trial(trial_id),
                lambda: self.model.trial(trial_id),
            )
            if ok:
                check_trial(got, want)
                self.hold(got)
            return
        if what == "id":
            ok, got, want = self.read_trial_id(data)
        elif what == "number":
            ok, got, want = self.call(
                f"get_trial_number_from_id({trial_id})",
                lambda: self.storage.get_trial_number_from_id(trial_id),
                lambda: self.model.trial(trial_id).number,
            )
        elif what == "param":
            ok, got, want = self.read_trial_param(data, trial_id)
        elif what == "params":
            ok, got, want = self.call(
                f"get_trial_params({trial_id})",
                lambda: self.storage.get_trial_params(trial_id),
                lambda: self.model.trial(trial_id).params,
            )
            if ok:
                got = [(k, type(v), v) for k, v in got.items()]
                want = [(k, type(v), v) for k, v in want.items()]
        else:
            method = getattr(self.storage, f"get_trial_{what}_attrs")
            ok, got, want = self.call(
                f"get_trial_{what}_attrs({trial_id})",
                lambda: method(trial_id),
                lambda: getattr(self.model.trial(trial_id), f"{what}_attrs"),
            )
            if ok:
                got, want = json.dumps(got, sort_keys=True), json.dumps(want, sort_keys=True)
        if ok:
            assert got == want, f"{what} of trial {trial_id}: {got!r} != {want!r}"

    def read_trial_id(self, data: st.DataObject) -> tuple[bool, Any, Any]:
        """``get_trial_id_from_study_id_trial_number`` with a study and a number drawn (a
        number of the study 70% of the time); returns what :meth:`call` returns."""
        study_id = self.pick_study(data)
        study = self.model.studies.get(study_id) if type(study_id) is int else None
        count = len(study.trial_ids) if study is not None else 0
        number = data.draw(
            st.integers(0, count - 1) if count and coin(data, 70) else st.integers(-1, count + 1),
            label="number",
        )
        return self.call(
            f"get_trial_id_from_study_id_trial_number({study_id}, {number})",
            lambda: self.storage.get_trial_id_from_study_id_trial_number(study_id, number),
            lambda: self.model.get_trial_id_from_number(study_id, number),
        )

    def read_trial_param(self, data: st.DataObject, trial_id: Any) -> tuple[bool, Any, Any]:
        """``get_trial_param`` of ``trial_id`` with a name drawn (one of its params 70% of the
        time); checks the value is a float; returns what :meth:`call` returns."""
        trial = self.model.trials.get(trial_id) if type(trial_id) is int else None
        names = [*sorted(PALETTE), "missing"]
        if trial is not None and trial.params and coin(data, 70, "existing param?"):
            names = list(trial.params)
        name = data.draw(st.sampled_from(names), label="name")
        ok, got, want = self.call(
            f"get_trial_param({trial_id}, {name!r})",
            lambda: self.storage.get_trial_param(trial_id, name),
            lambda: self.model.get_trial_param(trial_id, name),
        )
        if ok:
            assert type(got) is float, f"get_trial_param returned {got!r}"
        return ok, got, want

    @rule(data=st.data())
    def get_all_trials(self, data: st.DataObject) -> None:
        study_id = self.pick_study(data)
        states = data.draw(
            st.none() | st.lists(st.sampled_from(list(TrialState)), max_size=3).map(tuple),
            label="states",
        )
        deepcopy = data.draw(st.booleans(), label="deepcopy")
        ok, got, want = self.call(
            f"get_all_trials({study_id}, deepcopy={deepcopy}, states={states})",
            lambda: self.storage.get_all_trials(study_id, deepcopy=deepcopy, states=states),
            lambda: self.model.get_all_trials(study_id, states),
        )
        if ok:
            check_trial_list(got, want)
            if got:
                self.hold(got[-1])
        ok, got, want = self.call(
            f"get_n_trials({study_id}, {states})",
            lambda: self.storage.get_n_trials(study_id, states),
            lambda: len(self.model.get_all_trials(study_id, states)),
        )
        if ok:
            assert got == want, f"get_n_trials: {got} != {want}"

    @rule(data=st.data())
    def get_best_trial(self, data: st.DataObject) -> None:
        candidates = sorted(
            study.study_id
            for study in self.model.studies.values()
            if len(study.directions) == 1
            and any(
                t.state == TrialState.COMPLETE for t in self.model.get_all_trials(study.study_id)
            )
        )
        if candidates and coin(data, 70, "study with a COMPLETE trial?"):
            study_id = data.draw(st.sampled_from(candidates), label="study_id")
        else:
            study_id = self.pick_study(data)
        ok, got, want = self.call(
            f"get_best_trial({study_id})",
            lambda: self.storage.get_best_trial(study_id),
            lambda: self.model.get_best_trial(study_id),
        )
        if ok:
            check_trial(got, want)

    @rule(data=st.data(), what=st.sampled_from(["beat", "stale", "fail", "updatable"]))
    def heartbeats_off(self, data: st.DataObject, what: str) -> None:
        if what in ("stale", "fail"):
            study_id = self.pick_study(data)
            method = getattr(
                self.storage, "get_stale_trial_ids" if what == "stale" else "fail_stale_trials"
            )
            ok, got, _ = self.call(
                f"{method.__name__}({study_id})",
                lambda: method(study_id),
                lambda: self.model.study(study_id),
            )
            if ok:
                assert got == [], f"{method.__name__} with heartbeats off returned {got!r}"
            return
        trial_id = self.pick_trial(data)
        trial = self.model.trials.get(trial_id) if type(trial_id) is int else None
        if what == "beat":
            self.call(
                f"record_heartbeat({trial_id})",
                lambda: self.storage.record_heartbeat(trial_id),
                lambda: self.model.record_heartbeat(trial_id),
            )
        elif trial is not None:
            state = data.draw(st.sampled_from(list(TrialState)), label="state")

            def expect() -> None:
                if state.is_finished():
                    raise UpdateFinishedTrialError(trial_id)

            self.call(
                f"check_trial_is_updatable({trial_id}, {state!r})",
                lambda: self.storage.check_trial_is_updatable(trial_id, state),
                expect,
            )

    @precondition(lambda self: self.deletes)
    @rule(data=st.data())
    def delete_trials(self, data: st.DataObject) -> None:
        study_id = self.pick_study(data)
        study = self.model.studies.get(study_id) if type(study_id) is int else None
        live = [t for t in study.trial_ids if t in self.model.trials] if study else []
        trial_ids: Any = []
        if live and not coin(data, 10, "empty batch?"):
            trial_ids = data.draw(st.lists(st.sampled_from(live), min_size=1, max_size=2))
            trial_ids = list(dict.fromkeys(trial_ids))
        flaw = data.draw(st.sampled_from(["none"] * 8 + ["missing", "bad", "twice"]))
        if flaw == "missing":
            others = sorted(set(self.model.trials) - set(live) | self.model.deleted_trial_ids)
            trial_ids.append(data.draw(st.sampled_from([*others, -7]), label="missing id"))
        elif flaw == "bad":
            trial_ids = data.draw(st.sampled_from([None, "0", {0: 1}, [True], [0.0], 3]))
        elif flaw == "twice" and trial_ids:
            trial_ids.append(trial_ids[0])
        self.call(
            f"delete_trials({study_id}, {trial_ids!r})",
            lambda: self.storage.delete_trials(study_id, trial_ids),
            lambda: self.model.delete_trials(study_id, trial_ids),
        )


class StateMachineConformance(ConformanceBase):
    """The hypothesis state machine against the reference model."""

    def test_state_machine(self, storage_factory: StorageFactory) -> None:
        machine = type(
            "Machine",
            (StorageMachine,),
            {"factory": staticmethod(storage_factory), "deletes": self.supports_trial_deletion},
        )
        run: Callable[[], RuleBasedStateMachine] = machine
        if "TRIALSTORE_CONFORMANCE_SEED" in os.environ:
            run = seed(int(os.environ["TRIALSTORE_CONFORMANCE_SEED"]))(run)
        run_state_machine_as_test(
            run,  # type: ignore[arg-type]
            settings=machine_settings(
                self.state_machine_examples, self.state_machine_steps, self.state_machine_shrink
            ),
        )
