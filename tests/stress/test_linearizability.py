"""The linearizability search on small hand-made histories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from trialstore.stress import CounterOp, LinOp, check_counter, check_linearizable


def write(value: Any) -> Callable[[Any], list[Any]]:
    return lambda s: [value]


def compare_and_set(expected: Any, value: Any) -> Callable[[Any], list[Any]]:
    return lambda state: [value] if state == expected else []


def read(value: Any) -> Callable[[Any], list[Any]]:
    return lambda s: [s] if s == value else []


def test_sequential_history_is_linearizable() -> None:
    ops = [
        LinOp(0, 1, write(1)),
        LinOp(2, 3, read(1)),
        LinOp(4, 5, write(2)),
        LinOp(6, 7, read(2)),
    ]
    assert check_linearizable(ops, 0).ok is True


def test_stale_read_after_write_completed_is_not_linearizable() -> None:
    ops = [LinOp(0, 1, write(1), label="w"), LinOp(2, 3, read(0), label="r")]
    result = check_linearizable(ops, 0)
    assert result.ok is False
    assert result.stuck_at == "r"


def test_concurrent_read_may_see_either_value() -> None:
    for seen in (0, 1):
        ops = [LinOp(0, 10, write(1)), LinOp(5, 6, read(seen))]
        assert check_linearizable(ops, 0).ok is True


def test_reads_cannot_go_back_in_time() -> None:
    # write overlaps both reads, but the reads are ordered: new then old is impossible.
    ops = [LinOp(0, 10, write(1)), LinOp(1, 2, read(1)), LinOp(3, 4, read(0))]
    assert check_linearizable(ops, 0).ok is False


def test_optional_operation_may_or_may_not_take_effect() -> None:
    took = [LinOp(0, 1, write(5), optional=True), LinOp(2, 3, read(5))]
    skipped = [LinOp(0, 1, write(5), optional=True), LinOp(2, 3, read(0))]
    assert check_linearizable(took, 0).ok is True
    assert check_linearizable(skipped, 0).ok is True
    # but it cannot take effect before it was invoked
    early = [LinOp(0, 1, read(5)), LinOp(2, 3, write(5), optional=True)]
    assert check_linearizable(early, 0).ok is False


def test_counter_two_winners_of_one_number_is_caught() -> None:
    def inc(n: int) -> Callable[[Any], list[Any]]:
        return lambda c: [c + 1] if c == n else []

    ops = [LinOp(0, 10, inc(0)), LinOp(1, 11, inc(0))]
    assert check_linearizable(ops, 0).ok is False
    ops = [LinOp(0, 10, inc(1)), LinOp(1, 11, inc(0))]
    assert check_linearizable(ops, 0).ok is True


def test_unknown_increments_fill_gaps_interchangeably() -> None:
    def inc(n: int) -> Callable[[Any], list[Any]]:
        return lambda c: [c + 1] if c == n else []

    ops = [LinOp(i, 10_000, lambda c: [c + 1], optional=True, symmetry="u") for i in range(30)]
    ops.append(LinOp(100, 101, inc(7)))
    ops.append(LinOp(200, 201, read(8)))
    result = check_linearizable(ops, 0)
    assert result.ok is True
    assert result.steps < 1000  # symmetry keeps the search small


def test_search_gives_up_when_over_budget() -> None:
    ops = [LinOp(0, 100, write(i)) for i in range(12)] + [LinOp(200, 201, read(-1))]
    assert check_linearizable(ops, 0, max_steps=50).ok is None


def _reads_around_a_write(stale_at: int | None) -> list[LinOp]:
    """A write 0 -> 1 overlapped by 300 reads (every worker reading every trial): the first
    150 saw 0, the rest 1; with ``stale_at``, that read (begun after a read saw 1 had
    ended) saw 0."""
    ops = [LinOp(10, 1000, write(1), label="w")]
    for i in range(300):
        seen = 0 if i < 150 or i == stale_at else 1
        t0, t1 = (11 + 2 * i, 12 + 2 * i) if i == stale_at else (11 + i, 900 + i)
        ops.append(LinOp(t0, t1, read(seen), pure=True, label=f"r{i}"))
    ops.append(LinOp(2000, 2001, read(1), pure=True, label="final"))
    return ops


def test_overlapping_reads_are_placed_without_branching() -> None:
    result = check_linearizable(_reads_around_a_write(None), 0, max_steps=1000)
    assert result.ok is True
    assert result.steps <= 2


def test_a_stale_read_among_many_is_caught_at_once() -> None:
    # read 250 begins after read 160 (which saw 1) and ends before the write does, yet saw 0
    ops = _reads_around_a_write(stale_at=250)
    ops[161] = LinOp(171, 172, read(1), pure=True, label="r160")
    result = check_linearizable(ops, 0, max_steps=1000)
    assert result.ok is False
    # unflagged, proving it tries the orders of the reads that saw 0, and gives up
    plain = [LinOp(o.t0, o.t1, o.step, label=o.label) for o in ops]
    assert check_linearizable(plain, 0, max_steps=1000).ok is None


@st.composite
def register_histories(draw: st.DrawFn) -> list[LinOp]:
    """Writes (some of unknown outcome), compare-and-set writes and reads of a register of
    three values over overlapping intervals: every read flagged pure."""
    ops = []
    for _ in range(draw(st.integers(1, 7))):
        t0 = draw(st.integers(0, 100))
        t1 = t0 + draw(st.integers(1, 60))
        kind = draw(st.sampled_from(["write", "cas", "read", "read", "unknown"]))
        value = draw(st.integers(0, 2))
        if kind == "read":
            ops.append(LinOp(t0, t1, read(value), pure=True))
        elif kind == "cas":
            expected = draw(st.integers(0, 2))
            ops.append(LinOp(t0, t1, compare_and_set(expected, value)))
        else:
            ops.append(LinOp(t0, 200 if kind == "unknown" else t1, write(value),
                             optional=kind == "unknown"))  # fmt: skip
    ops.append(LinOp(300, 301, read(draw(st.integers(0, 2))), pure=True))
    return ops


@settings(max_examples=400, deadline=None)
@given(register_histories())
def test_placing_reads_at_once_agrees_with_the_full_search(ops: list[LinOp]) -> None:
    plain = [LinOp(o.t0, o.t1, o.step, o.optional, o.symmetry, o.label) for o in ops]
    assert check_linearizable(ops, 0).ok == check_linearizable(plain, 0).ok


def _as_search(ops: list[CounterOp], final: int) -> list[LinOp]:
    """The same counter history for the general search."""

    def inc(n: int | None) -> Callable[[Any], list[Any]]:
        return (lambda c: [c + 1]) if n is None else (lambda c: [c + 1] if c == n else [])

    lin = [
        LinOp(o.t0, o.t1, read(o.value)) if o.read
        else LinOp(o.t0, o.t1, inc(o.value), optional=o.value is None)
        for o in ops
    ]  # fmt: skip
    return [*lin, LinOp(10_000, 10_001, read(final))]


@st.composite
def counter_histories(draw: st.DrawFn) -> tuple[list[CounterOp], int]:
    """A run of a counter (increments at distinct instants, some of unknown outcome, some
    unknown ones never applied, reads), sometimes with one returned value changed."""
    n = draw(st.integers(0, 5))
    instants = sorted(draw(st.lists(st.integers(0, 1000), min_size=n, max_size=n, unique=True)))
    ops: list[CounterOp] = []
    for value, at in enumerate(instants):
        t0 = at - draw(st.integers(0, 300))
        t1 = at + draw(st.integers(0, 300))
        hidden = draw(st.booleans())
        ops.append(CounterOp(t0, 2000 if hidden else t1, None if hidden else value))
    for _ in range(draw(st.integers(0, 2))):  # unknown increments that never happened
        ops.append(CounterOp(draw(st.integers(0, 1000)), 2000, None))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, 1000))
        seen = sum(1 for i in instants if i < at)
        ops.append(CounterOp(at - draw(st.integers(0, 200)), at + draw(st.integers(0, 200)),
                             seen, read=True))  # fmt: skip
    if len(ops) > 0 and draw(st.booleans()):
        i = draw(st.integers(0, len(ops) - 1))
        returned = ops[i].value
        if returned is not None:
            ops[i].value = max(0, returned + draw(st.sampled_from([-1, 1])))
    return ops, n


@settings(max_examples=400, deadline=None)
@given(counter_histories())
def test_exact_counter_check_agrees_with_the_search(history: tuple[list[CounterOp], int]) -> None:
    ops, final = history
    searched = check_linearizable(_as_search(ops, final), 0, max_steps=1_000_000)
    assert searched.ok is not None
    assert check_counter(ops, final).ok == searched.ok


def test_exact_counter_check_handles_many_unknown_increments() -> None:
    """Hundreds of overlapping unknown creates (a kill-heavy study) are decided at once."""
    ops = [CounterOp(i, 10**9, None) for i in range(600)]
    ops += [CounterOp(10 * n + 5, 10 * n + 7, n) for n in range(0, 400, 2)]  # even ones known
    ops.append(CounterOp(2015, 2016, 201, read=True))  # after #200 (by 2007), before #202
    assert check_counter(ops, 400).ok is True
    assert check_counter([*ops, CounterOp(3002, 3003, 150, read=True)], 400).ok is False
    assert check_counter(ops, 801).ok is False  # more numbers than creates


def test_exact_counter_check_orders_operations_that_share_an_instant() -> None:
    """Only ``a.t1 < b.t0`` orders two operations: at one instant any order the counter needs
    is possible (a read before the increment it did not see, an increment before the read
    that saw it, increments in a row), as the search finds."""
    histories = [
        ([CounterOp(0, 0, 0), CounterOp(0, 0, 0, read=True)], 1),  # read, then increment
        ([CounterOp(0, 5, 0), CounterOp(5, 5, 1), CounterOp(5, 5, 2, read=True)], 2),
        ([CounterOp(3, 3, 0), CounterOp(3, 3, 1), CounterOp(3, 3, None)], 3),
        ([CounterOp(0, 4, 0), CounterOp(4, 9, 1, read=True), CounterOp(4, 4, 1)], 2),
    ]
    for ops, final in histories:
        searched = check_linearizable(_as_search(ops, final), 0)
        assert searched.ok is True, ops
        assert check_counter(ops, final).ok is True, ops
    # A read that ended before the increment it saw was invoked is still caught.
    ops = [CounterOp(5, 6, 0), CounterOp(0, 4, 1, read=True)]
    assert check_linearizable(_as_search(ops, 1), 0).ok is False
    assert check_counter(ops, 1).ok is False
