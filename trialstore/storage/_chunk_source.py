"""The parameters and intermediate values of a chunk's trials, kept as columns and decoded
per trial when first read (private; see ``_columns`` for the chunk layout).

Building a compact FrozenTrial (see :class:`~trialstore._core.FrozenTrial`) per row instead
of its dicts is what lets a process open a journal of a million trials in a few seconds and
a few hundred bytes per trial: a trial's 5 parameters cost 40 bytes here against about 300 as
a dict of floats, its 2 intermediate values 32 against about 270.
"""

from __future__ import annotations

import bisect
import functools
import struct
from array import array
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from trialstore.distributions import BaseDistribution
from trialstore.exceptions import StorageInternalError

__all__ = ["ChunkSource", "Dset", "is_run"]

#: A distribution set as the chunk decoder uses it: its names, the dict shared by its trials,
#: and its distributions when some of them are not floats (None: every parameter is its
#: internal float).
Dset = tuple[tuple[str, ...], dict[str, BaseDistribution], tuple[BaseDistribution, ...] | None]


@functools.cache
def _floats(count: int) -> struct.Struct:
    """The layout of ``count`` float64s."""
    return struct.Struct(f"<{count}d")


@functools.cache
def _ints(count: int) -> struct.Struct:
    """The layout of ``count`` int64s."""
    return struct.Struct(f"<{count}q")


def _starts(counts: Sequence[int]) -> int | array[int]:
    """Where each row's items start: ``counts[0]`` when every row has that many (row ``i``
    starts at ``i * counts[0]``), else the running sums (row ``i`` starts at ``[i]``)."""
    if not counts or counts.count(counts[0]) == len(counts):
        return counts[0] if counts else 0
    return array("q", accumulate(counts, initial=0))


def is_run(numbers: Sequence[int]) -> bool:
    """Whether ``numbers`` is ``a, a + 1, ..., a + n - 1`` for some ``a`` (n > 0)."""
    if not numbers:
        return False
    first = numbers[0]
    if numbers[-1] - first != len(numbers) - 1:
        return False
    as_list = numbers if isinstance(numbers, list) else list(numbers)
    return as_list == list(range(first, first + len(numbers)))


class ChunkSource:
    """A :class:`~trialstore._core.TrialSource` over one chunk's ``param``, ``ivstep`` and
    ``ivval`` columns (copied out of the segment, so the segment itself can go).

    Immutable once built; every call returns new dicts. Rows are found by trial id: by
    arithmetic when the chunk's ids are consecutive, else by bisection of the sorted ids.
    """

    __slots__ = (
        "_dsets",
        "_first_id",
        "_iv_starts",
        "_ivvals",
        "_n",
        "_param_starts",
        "_params",
        "_row_dsets",
        "_rows",
        "_sorted_ids",
        "_steps",
    )

    def __init__(
        self,
        ids: Sequence[int],
        row_dsets: Sequence[int],
        dsets: list[Dset],
        nivs: Sequence[int],
        params: bytes,
        steps: bytes,
        ivvals: bytes,
    ) -> None:
        """Keep the columns of a chunk whose rows have ids ``ids`` and distribution sets
        ``row_dsets`` (indexes into ``dsets``), and ``nivs[i]`` intermediate values.

        Raises:
            ValueError: the columns do not fit the counts.
        """
        n = len(ids)
        self._n = n
        self._dsets = dsets
        self._row_dsets: int | array[int]
        if n and row_dsets.count(row_dsets[0]) == n:  # one set: no count per row
            self._row_dsets = row_dsets[0]
            self._param_starts: int | array[int] = len(dsets[row_dsets[0]][0])
            n_params = n * self._param_starts
        else:
            self._row_dsets = array("q", row_dsets)
            param_counts = [len(dsets[d][0]) for d in row_dsets]
            self._param_starts = _starts(param_counts)
            n_params = sum(param_counts)
        if len(params) != 8 * n_params:
            raise ValueError("the param column does not fit its counts")
        if len(steps) != 8 * sum(nivs) or len(ivvals) != len(steps):
            raise ValueError("the intermediate value columns do not fit their counts")
        self._params = params
        self._steps = steps
        self._ivvals = ivvals
        self._iv_starts = _starts(nivs)
        self._first_id: int | None = None
        self._sorted_ids: array[int] | None = None
        self._rows: array[int] | None = None
        if is_run(ids):
            self._first_id = ids[0]
        else:
            order = sorted(range(n), key=ids.__getitem__)
            self._sorted_ids = array("q", (ids[i] for i in order))
            if order != list(range(n)):
                self._rows = array("q", order)

    def _row(self, trial_id: int) -> int:
        """The row of ``trial_id``.

        Raises:
            KeyError: no row has that id.
        """
        if self._first_id is not None:
            row = trial_id - self._first_id
            if 0 <= row < self._n:
                return row
        elif self._sorted_ids is not None:
            index = bisect.bisect_left(self._sorted_ids, trial_id)
            if index < self._n and self._sorted_ids[index] == trial_id:
                return index if self._rows is None else self._rows[index]
        raise KeyError(f"trial {trial_id} is not in this chunk")

    def params_of(self, trial_id: int) -> dict[str, Any]:
        """The trial's parameters (external values), a new dict.

        Raises:
            KeyError: not a trial of this chunk.
            StorageInternalError: its stored parameters are broken.
        """
        row = self._row(trial_id)
        dsets = self._row_dsets
        names, _, converters = self._dsets[dsets if isinstance(dsets, int) else dsets[row]]
        starts = self._param_starts
        start = row * starts if isinstance(starts, int) else starts[row]
        inner = _floats(len(names)).unpack_from(self._params, 8 * start)
        if converters is None:
            return dict(zip(names, inner, strict=True))
        try:
            return {
                name: dist.to_external_repr(value)
                for name, dist, value in zip(names, converters, inner, strict=True)
            }
        except (ValueError, TypeError, IndexError) as e:
            raise StorageInternalError(
                f"the journal's snapshot holds broken parameters of trial {trial_id} "
                f"({type(e).__name__}: {e}); remove the snapshot to replay the journal"
            ) from None

    def intermediate_values_of(self, trial_id: int) -> dict[int, float]:
        """The trial's intermediate values by step, a new dict.

        Raises:
            KeyError: not a trial of this chunk.
        """
        row = self._row(trial_id)
        starts = self._iv_starts
        if isinstance(starts, int):
            start, count = row * starts, starts
        else:
            start, count = starts[row], starts[row + 1] - starts[row]
        if count == 0:
            return {}
        steps = _ints(count).unpack_from(self._steps, 8 * start)
        values = _floats(count).unpack_from(self._ivvals, 8 * start)
        return dict(zip(steps, values, strict=True))
