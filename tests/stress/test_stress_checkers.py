"""Invariant checkers on small hand-made histories (the sensitivity runs cover the rest)."""

from __future__ import annotations

from typing import Any

from trialstore.stress import CheckContext, Op, run_checkers

S = 1_000_000_000  # one second in ns


def op(worker: str, seq: int, name: str, args: dict[str, Any], t0: float, t1: float | None,
       outcome: str = "ok", result: Any = None, error: str | None = None) -> Op:  # fmt: skip
    end = 2**63 - 1 if t1 is None else int(t1 * S)
    return Op(worker, seq, name, args, int(t0 * S), outcome, result, error, end)


def trial(tid: int, number: int, state: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = dict(id=tid, number=number, state=state, values=None, params={})
    record.update(iv={}, user_attrs={}, complete=None, digest=f"d{tid}{state}")
    record.update(fields)
    return record


def final(*trials: dict[str, Any]) -> dict[str, Any]:
    return {"studies": [{"id": 0, "name": "stress-x-s0", "trials": list(trials)}]}


def violated(ops: list[Op], contents: dict[str, Any], **ctx: Any) -> dict[str, int]:
    context = CheckContext(end_ns=100 * S, **ctx)
    return {i.name: i.violation_count for i in run_checkers(ops, contents, context)
            if i.violation_count}  # fmt: skip


def _killed_owner_history(reaped: bool) -> list[Op]:
    return [
        op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        op("a", 2, "heartbeat", {"t": 0}, 1.2, 1.3),
        op("a", 3, "set_param", {"t": 0, "k": "p0", "v": 0.5}, 1.4, None, outcome="unknown"),
        # a's process was SIGKILLed at t=2; grace period 2 s: stale from t=4 (+1.5 s slack)
        op("b", 1, "fail_stale", {"s": 0}, 3.0, 3.1, result=[]),  # too early: fine
        op("b", 2, "fail_stale", {"s": 0}, 8.0, 8.1, result=[0] if reaped else []),
    ]


def test_stale_trial_of_a_killed_worker_must_be_failed() -> None:
    settings = dict(deaths={"a": 2 * S}, grace_period=2.0, heartbeat_interval=1.0)
    ok = violated(_killed_owner_history(True), final(trial(0, 0, "FAIL")), **settings)
    assert ok == {}
    bad = violated(_killed_owner_history(False), final(trial(0, 0, "RUNNING")), **settings)
    assert bad == {"stale_trials_failed": 1}


def test_stale_trial_may_have_been_failed_by_a_reaper_with_unknown_outcome() -> None:
    """A fail_stale call cut off by its worker's death (after the last beat) may have failed
    the trial; a later reaper finding nothing is then no violation (a false alarm of the
    gRPC stress run). A cut-off call from before the last beat changes nothing."""
    settings = dict(deaths={"a": 2 * S, "c": 3.6 * S}, grace_period=2.0, heartbeat_interval=1.0)
    for start, expected in ((3.5, {}), (1.15, {"stale_trials_failed": 1})):
        ops = _killed_owner_history(False)
        ops.append(op("c", 1, "fail_stale", {"s": 0}, start, None, outcome="unknown"))
        assert violated(ops, final(trial(0, 0, "FAIL")), **settings) == expected


def test_stale_trial_with_a_heartbeat_in_flight_at_the_kill_is_not_judged() -> None:
    """A beat sent just before the kill, held by a network partition, reached the database
    2.2 s after the kill and kept the trial alive past the reaper the checker blamed (a false
    alarm of the PostgreSQL full tier: the beat's outcome is unknown, so it may land at any
    time). The trial is counted as not judged instead."""
    settings = dict(deaths={"a": 2 * S}, grace_period=2.0, heartbeat_interval=1.0)
    ops = _killed_owner_history(False)
    ops.append(op("a", 4, "heartbeat", {"t": 0}, 1.9, None, outcome="unknown"))
    ops.append(op("b", 3, "fail_stale", {"s": 0}, 10.0, 10.1, result=[0]))  # once it is stale
    assert violated(ops, final(trial(0, 0, "FAIL")), **settings) == {}
    context = CheckContext(end_ns=100 * S, **settings)  # type: ignore[arg-type]
    [stale] = [i for i in run_checkers(ops, final(trial(0, 0, "FAIL")), context)
               if i.name == "stale_trials_failed"]  # fmt: skip
    assert stale.figures["beat_in_flight"] == 1 and stale.checked == 0


def test_two_creators_of_one_study_name() -> None:
    ops = [
        op("a", 1, "create_study", {"name": "stress-x-s0"}, 1.0, 1.2, result=0),
        op("b", 1, "create_study", {"name": "stress-x-s0"}, 1.1, 1.3, result=1),
    ]
    assert violated(ops, final()) == {"one_creator_per_study": 2}


def test_write_to_a_finished_trial_acknowledged() -> None:
    ops = [
        op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        op("a", 2, "finish", {"t": 0, "state": "FAIL", "values": None}, 1.2, 1.3, result=True),
        op("a", 3, "report", {"t": 0, "k": 0, "v": 1.5}, 1.4, 1.5),
    ]
    contents = final(trial(0, 0, "FAIL", iv={"0": 1.5}))
    assert violated(ops, contents) == {"linearizable_trial_state": 1}


def test_finished_trial_that_changes_between_reads() -> None:
    ops = [
        op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        op("a", 2, "finish", {"t": 0, "state": "FAIL", "values": None}, 1.2, 1.3, result=True),
        op("b", 1, "get_trial", {"t": 0}, 2.0, 2.1, result=[0, 0, "FAIL", "old"]),
    ]
    contents = final(trial(0, 0, "FAIL", digest="new"))
    assert violated(ops, contents) == {"finished_trials_unchanged": 1}


def test_unknown_create_may_fill_a_number() -> None:
    ops = [
        op("a", 1, "create_trial", {"s": 0}, 1.0, None, outcome="unknown"),
        op("b", 1, "create_trial", {"s": 0}, 2.0, 2.1, result=1),
        op("b", 2, "finish", {"t": 1, "state": "FAIL", "values": None}, 2.2, 2.3, result=True),
    ]
    contents = final(trial(0, 0, "RUNNING"), trial(1, 1, "FAIL"))
    assert violated(ops, contents) == {}
    # without the unknown create, number 1 for the only create is a gap
    assert "linearizable_trial_counter" in violated(ops[1:], final(trial(1, 1, "FAIL")))


def test_parameters_written_with_a_finish() -> None:
    """An acknowledged finish's parameters must be stored; a finish that failed may have
    stored them (the batch goes first, not atomically with the state)."""
    finish = {"t": 0, "state": "COMPLETE", "values": [0.5], "p": {"p0": 0.25}}
    ops = [
        op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        op("a", 2, "finish", finish, 1.2, 1.3, result=True),
    ]
    done = dict(values=[0.5])
    assert violated(ops, final(trial(0, 0, "COMPLETE", params={"p0": 0.25}, **done))) == {}
    lost = violated(ops, final(trial(0, 0, "COMPLETE", **done)))
    assert lost == {"acknowledged_writes_present": 1}
    reaped = [
        ops[0],
        op("b", 1, "fail_stale", {"s": 0}, 1.15, 1.25, result=[0]),
        op("a", 2, "finish", finish, 1.2, 1.3, outcome="fail", error="UpdateFinishedTrialError"),
    ]
    assert violated(reaped, final(trial(0, 0, "FAIL", params={"p0": 0.25}))) == {}
    assert violated(reaped, final(trial(0, 0, "FAIL", params={"p0": 0.75}))) == {
        "acknowledged_writes_present": 1
    }


def test_reaper_of_unknown_outcome_may_list_a_trial_before_its_last_beat() -> None:
    """A fail_stale call lists stale trials, then fails them: one invoked while the trial
    was stale (its beats 3.5 s apart, grace 2 s: a server restart held every worker) may
    fail it after its owner's next beat. Cut off (unknown outcome), it may be why a later
    reaper finds nothing; invoked within a normal beat gap, it is not (a false alarm of the
    MariaDB full tier; the second case is a violation)."""
    settings = dict(deaths={"a": 8 * S, "c": 6 * S}, grace_period=2.0, heartbeat_interval=1.0)
    for gap_start, expected in ((1.2, {}), (4.2, {"stale_trials_failed": 1})):
        ops = [
            op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
            op("a", 2, "heartbeat", {"t": 0}, gap_start, gap_start + 0.1),
            op("c", 1, "fail_stale", {"s": 0}, 4.6, None, outcome="unknown"),
            op("a", 3, "heartbeat", {"t": 0}, 4.7, 4.8),  # lands after c listed the trial
            op("b", 1, "fail_stale", {"s": 0}, 12.0, 12.1, result=[]),  # finds nothing
        ]
        assert violated(ops, final(trial(0, 0, "FAIL")), **settings) == expected


def test_reaper_of_unknown_outcome_and_a_beat_that_landed_late() -> None:
    """A beat resent to a restarted gRPC proxy lands near the end of its call: the trial
    may have been stale before it landed, although the beats' invokes are less than the
    grace period apart (found by rechecking the gRPC full tier)."""
    settings = dict(deaths={"a": 8 * S, "c": 6 * S}, grace_period=2.0, heartbeat_interval=1.0)
    for slow_end, expected in ((3.3, {}), (1.7, {"stale_trials_failed": 1})):
        ops = [
            op("a", 1, "create_trial", {"s": 0}, 0.9, 0.95, result=0),
            op("a", 2, "heartbeat", {"t": 0}, 1.0, 1.05),
            op("a", 3, "heartbeat", {"t": 0}, 1.6, slow_end),  # resent: landed by its end
            op("c", 1, "fail_stale", {"s": 0}, 1.65, None, outcome="unknown"),
            op("a", 4, "heartbeat", {"t": 0}, 3.3, 3.35),
            op("b", 1, "fail_stale", {"s": 0}, 12.0, 12.1, result=[]),  # finds nothing
        ]
        assert violated(ops, final(trial(0, 0, "FAIL")), **settings) == expected


def _deletion_history(*later: Op) -> list[Op]:
    """Trials 0-2 created (0 finished and read, 1 written to); b deletes 0 and 1 at t=3."""
    return [
        op("a", 1, "create_trial", {"s": 0}, 1.0, 1.1, result=0),
        op("a", 2, "create_trial", {"s": 0}, 1.2, 1.3, result=1),
        op("a", 3, "create_trial", {"s": 0}, 1.4, 1.5, result=2),
        op("a", 4, "set_attr", {"t": 1, "k": "a0", "v": "x"}, 1.6, 1.7),
        op("a", 5, "finish", {"t": 0, "state": "FAIL", "values": None}, 1.8, 1.9, result=True),
        op("a", 6, "read_all", {"s": 0}, 2.0, 2.1,
           result=[3, [[0, 0, "FAIL", "d0FAIL"], [1, 1, "RUNNING", ""],
                       [2, 2, "RUNNING", ""]], []]),
        op("b", 1, "delete", {"s": 0, "ts": [0, 1]}, 3.0, 3.1),
        *later,
    ]  # fmt: skip


def test_deleted_trials_leave_gaps_and_need_not_be_present() -> None:
    ops = _deletion_history(
        op("a", 7, "set_attr", {"t": 1, "k": "a1", "v": "y"}, 4.0, 4.1, outcome="fail",
           error="TrialDeletedError: Trial id 1 of study 0 was deleted."),
        op("a", 8, "create_trial", {"s": 0}, 4.2, 4.3, result=3),
        op("a", 9, "read_all", {"s": 0}, 5.0, 5.1,
           result=[2, [[2, 2, "RUNNING", ""], [3, 3, "RUNNING", ""]], []]),
    )  # fmt: skip
    contents = final(trial(2, 2, "RUNNING"), trial(3, 3, "RUNNING"))
    assert violated(ops, contents) == {}


def test_a_deleted_trial_that_comes_back_is_caught() -> None:
    contents = final(trial(2, 2, "RUNNING"))
    for later in (
        # a read listing it again, in its rows or among the finished trials it left out
        op("a", 7, "read_all", {"s": 0}, 4.0, 4.1, result=[2, [[2, 2, "RUNNING", ""]], [[0, 0]]]),
        op("c", 1, "get_trial", {"t": 1}, 4.0, 4.1, result=[1, 1, "RUNNING", ""]),
        # a write to it acknowledged after the deletion
        op("a", 7, "set_attr", {"t": 1, "k": "a1", "v": "y"}, 4.0, 4.1),
    ):
        found = violated(_deletion_history(later), contents)
        assert found.get("deleted_trials_stay_deleted") == 1, (later, found)
    # still in the final contents
    found = violated(_deletion_history(), final(trial(0, 0, "FAIL"), trial(2, 2, "RUNNING")))
    assert found.get("deleted_trials_stay_deleted") == 1


def test_a_read_that_began_before_the_deletion_returned_may_see_the_trial() -> None:
    ops = _deletion_history(
        op("c", 1, "get_trial", {"t": 0}, 3.05, 3.2, result=[0, 0, "FAIL", "d0FAIL"]),
    )
    assert violated(ops, final(trial(2, 2, "RUNNING"))) == {}


def test_a_gap_no_deletion_explains_is_caught() -> None:
    ops = _deletion_history()[:6]  # no deletion
    found = violated(ops, final(trial(0, 0, "FAIL"), trial(2, 2, "RUNNING")))
    assert found.get("ids_unique_numbers_dense", 0) >= 1, found


def test_a_trial_whose_create_was_cut_off_and_that_was_deleted_is_not_lost() -> None:
    """A killed worker's create of unknown outcome made trial 0; another worker finished it
    and then deleted it: the finish is checked with the deletion, not reported as lost."""
    ops = [
        op("a", 1, "create_trial", {"s": 0}, 1.0, None, outcome="unknown"),
        op("b", 1, "read_all", {"s": 0}, 2.0, 2.1, result=[1, [[0, 0, "RUNNING", ""]], []]),
        op("b", 2, "finish", {"t": 0, "state": "FAIL", "values": None}, 2.2, 2.3, result=True),
        op("b", 3, "create_trial", {"s": 0}, 2.4, 2.5, result=1),
        op("b", 4, "delete", {"s": 0, "ts": [0]}, 3.0, 3.1),
    ]
    assert violated(ops, final(trial(1, 1, "RUNNING"))) == {}
    # without the deletion, the acknowledged finish of trial 0 is lost
    found = violated(ops[:-1], final(trial(1, 1, "RUNNING")))
    assert found.get("acknowledged_writes_present") == 1, found
