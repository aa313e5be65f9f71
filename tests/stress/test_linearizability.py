"""The linearizability search on small hand-made histories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trialstore.stress import LinOp, check_linearizable


def write(value: Any) -> Callable[[Any], list[Any]]:
    return lambda s: [value]


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
