"""A small linearizability checker (Wing & Gong search with Lowe's memoisation).

A history of one object is a list of :class:`LinOp`: each has an invoke time ``t0``, a time
``t1`` by which its effect must have happened, and a step function that maps a model state to
the states the operation may leave it in given the result it returned (an empty list: the
result is impossible in that state). An operation whose outcome is unknown is *optional*: it
may take effect at any instant after ``t0`` (before ``t1``), or never.

The search looks for an order of the operations that respects real time (``a.t1 < b.t0``
puts ``a`` first) in which every required operation's result is what the model gives. States
already explored with the same set of placed operations are not explored again. Optional
operations that are interchangeable (same ``symmetry`` key) are tried one at a time.

A *pure* operation (a read: its step leaves the state as it is, or rejects it) that may go
next and accepts the current state is placed at once, without branching: any order that
places it later stays valid with it moved to the front, since it changes no state and
nothing pending has to precede it. Without this, reads that overlap each other (every
worker reading every trial) make the search try their orders, which grows exponentially
with their number; with it, reads cost one pass.

An optional operation's ``t1`` bounds nothing: it may be placed after operations invoked
after its ``t1``. The stress checkers give every optional operation the end of the run as
``t1``, so this is exact there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CounterOp", "LinOp", "LinResult", "check_counter", "check_linearizable"]


@dataclass
class LinOp:
    """One operation on one object, with its model step."""

    t0: int
    t1: int
    step: Callable[[Any], Sequence[Any]]
    optional: bool = False
    symmetry: Hashable | None = None
    label: str = ""
    pure: bool = False
    """The step maps a state to ``[state]`` or to ``[]``: a read (placed without branching)."""


@dataclass
class LinResult:
    """``ok`` is True (linearizable), False (not) or None (gave up after ``max_steps``).

    ``stuck_at`` names a required operation that could not be placed at the deepest point
    the search reached (for the report), ``steps`` the search effort spent.
    """

    ok: bool | None
    steps: int
    stuck_at: str = ""


def check_linearizable(
    ops: Sequence[LinOp], initial: Hashable, *, max_steps: int = 200_000
) -> LinResult:
    """Return whether ``ops`` is linearizable from the model state ``initial``.

    States must be hashable. Cost is linear in the history for histories with little
    concurrency and grows with the number of operations that overlap in time.
    """
    search = _Search(ops)
    if search.required_mask == 0:
        return LinResult(True, 0)
    return search.run(initial, max_steps)


class _Search:
    """The search of :func:`check_linearizable` over one history.

    The operations are sorted by ``t0``; a set of placed operations is a bit mask over that
    order. ``best_mask`` is the deepest set of placed operations the search reached (counting
    required operations only).
    """

    def __init__(self, ops: Sequence[LinOp]) -> None:
        order = sorted(range(len(ops)), key=lambda i: ops[i].t0)
        self.items = [ops[i] for i in order]
        self.n = len(self.items)
        self.required_mask = 0
        for i, op in enumerate(self.items):
            if not op.optional:
                self.required_mask |= 1 << i
        self.best_depth = -1
        self.best_mask = 0

    def run(self, initial: Hashable, max_steps: int) -> LinResult:
        """Search depth first from ``initial``, not exploring a (mask, state) pair twice."""
        required_mask = self.required_mask
        expand = self.expand
        seen: set[tuple[int, Hashable]] = set()
        stack: list[tuple[int, Hashable, list[tuple[int, Hashable]]]] = []
        steps = 0
        start = self.settle(0, initial)
        stack.append((start, initial, expand(start, initial)))
        seen.add((start, initial))
        while stack:
            mask, _state, moves = stack[-1]
            if mask & required_mask == required_mask:
                return LinResult(True, steps)
            depth = (mask & required_mask).bit_count()
            if depth > self.best_depth:
                self.best_depth, self.best_mask = depth, mask
            if not moves:
                stack.pop()
                continue
            new_mask, nxt = moves.pop()
            key = (new_mask, nxt)
            if key in seen:
                continue
            seen.add(key)
            steps += 1
            if steps > max_steps:
                return LinResult(None, steps, self.stuck_at())
            stack.append((new_mask, nxt, expand(new_mask, nxt)))
        return LinResult(False, steps, self.stuck_at())

    def candidates(self, mask: int) -> list[int]:
        """The operations that may go next after those in ``mask``: invoked before every
        pending required operation's deadline; of interchangeable optional ones, the first."""
        items = self.items
        result: list[int] = []
        seen_symmetry: set[Hashable] = set()
        bound: int | None = None
        for i in range((~mask & (mask + 1)).bit_length() - 1, self.n):
            if mask >> i & 1:
                continue
            op = items[i]
            if bound is not None and op.t0 > bound:
                break
            if not op.optional and (bound is None or op.t1 < bound):
                bound = op.t1  # an optional operation may never take effect: it bounds nothing
            if op.optional and op.symmetry is not None:
                if op.symmetry in seen_symmetry:
                    continue
                seen_symmetry.add(op.symmetry)
            result.append(i)
        return result

    def stuck_at(self) -> str:
        """A required operation not placed at the deepest point the search reached (named
        only when the search fails: finding it costs a pass over the history)."""
        items, best_mask = self.items, self.best_mask
        pending = (i for i in range(self.n) if not best_mask >> i & 1 and not items[i].optional)
        first = next(pending, None)
        return "" if first is None else items[first].label

    def settle(self, mask: int, state: Hashable) -> int:
        """``mask`` with every pure operation that may go next and accepts ``state`` placed.

        Placing one changes no state and can only widen what may go next, so one pass over
        the candidates places all of them; passes repeat while they widen it.
        """
        items = self.items
        while True:
            placed = mask
            for i in self.candidates(mask):
                op = items[i]
                if op.pure and op.step(state):
                    placed |= 1 << i
            if placed == mask:
                return mask
            mask = placed

    def expand(self, mask: int, state: Hashable) -> list[tuple[int, Hashable]]:
        """The (mask, state) pairs one more non-pure operation leads to, each settled."""
        items = self.items
        moves: list[tuple[int, Hashable]] = []
        for i in self.candidates(mask):
            if items[i].pure:
                continue  # it rejects ``state``: settle placed it otherwise
            for nxt in items[i].step(state):
                moves.append((self.settle(mask | 1 << i, nxt), nxt))
        return moves


@dataclass
class CounterOp:
    """One operation on a fetch-and-increment counter: an increment that returned ``value``
    (the count before it), an increment whose outcome is unknown (``value`` None: it may
    have taken effect at any instant after ``t0``, or never), or a read that saw ``value``."""

    t0: int
    t1: int
    value: int | None
    read: bool = False
    label: str = ""


def check_counter(ops: Sequence[CounterOp], final: int) -> LinResult:
    """Return whether ``ops`` on a counter starting at 0 and ending at ``final`` are
    linearizable: exact, in O(n log n), where the general search can blow up on histories
    with many overlapping unknown increments.

    The count goes 0, 1, …, ``final``; increment *n* (from n to n+1) is the known increment
    that returned n, or else must be an unknown one. Place each increment as early as its
    constraints allow: after increment *n-1*, after its own invoke, and after the invoke of
    every read that saw n (that read falls between increments n-1 and n); it must come
    before its own deadline and before the end of every read that saw n+1. Placing early
    is optimal (every later constraint is a lower bound or is eased by an earlier point),
    and so is giving a missing number the unused unknown increment invoked first, since
    unknown increments have no deadline of their own (their ``t1`` is the end of the run).

    Operations are placed at instants; several may share one, in the order the constraints
    need (as in :func:`check_linearizable`, only ``a.t1 < b.t0`` orders ``a`` before ``b``).
    """
    try:
        known, unknown, reads = _counter_ops_by_value(ops, final)
        _place_increments(known, unknown, reads, final)
    except _Impossible as e:
        return LinResult(False, len(ops), e.label)
    return LinResult(True, len(ops))


class _Impossible(Exception):
    """The counter history is not linearizable; ``label`` names the operation to blame."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def _counter_ops_by_value(
    ops: Sequence[CounterOp], final: int
) -> tuple[dict[int, CounterOp], list[CounterOp], dict[int, list[CounterOp]]]:
    """Return the known increments by value, the unknown ones by invoke time and the reads
    by value seen.

    Raises:
        _Impossible: a value outside the counter's range, or two increments of one value.
    """
    known: dict[int, CounterOp] = {}
    unknown: list[CounterOp] = []
    reads: dict[int, list[CounterOp]] = {}
    for op in ops:
        if op.read:
            assert op.value is not None
            if not 0 <= op.value <= final:
                raise _Impossible(f"{op.label} (final count {final})")
            reads.setdefault(op.value, []).append(op)
        elif op.value is None:
            unknown.append(op)
        elif op.value in known or not 0 <= op.value < final:
            raise _Impossible(op.label)
        else:
            known[op.value] = op
    unknown.sort(key=lambda o: o.t0)
    return known, unknown, reads


def _place_increments(
    known: dict[int, CounterOp],
    unknown: list[CounterOp],
    reads: dict[int, list[CounterOp]],
    final: int,
) -> None:
    """Place increments 0 .. ``final`` - 1 each as early as it can go (see
    :func:`check_counter`).

    Raises:
        _Impossible: an increment or a read cannot be placed.
    """
    next_unknown = 0
    point: float = -math.inf  # the instant of the last increment placed
    for n in range(final):
        increment = known.get(n)
        if increment is None:
            if next_unknown == len(unknown):
                raise _Impossible(f"no create can have made number {n}")
            increment = unknown[next_unknown]
            next_unknown += 1
        point = max([point, increment.t0] + [r.t0 for r in reads.get(n, ())])
        if point > increment.t1:
            raise _Impossible(increment.label)
        for r in reads.get(n + 1, ()):
            if point > r.t1:
                raise _Impossible(r.label)
