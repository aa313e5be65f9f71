"""Finished trials as columns: the body of a snapshot segment (private).

A *chunk* holds ``n`` finished trials of one study as named columns, each a byte range:

* int64 little-endian: ``id``, ``number``, ``state``, ``dset`` (index into the head's table of
  distribution sets), ``nval`` (the count of objective values, -1 for none), ``niv`` (the
  count of intermediate values), ``ivstep``;
* float64 little-endian: ``val`` (all values, trial after trial), ``param`` (each trial's
  parameters as internal floats, in its distribution set's order), ``ivval``;
* JSON arrays: ``time`` (start and completion of each trial, ISO 8601 or null), ``attr``
  (per trial 0, or ``[user_attrs, system_attrs, params or 0]`` when the trial has attributes
  or parameters that do not survive the internal float round trip).

Floats stay binary (NaN and infinities included), so decoding costs a memory copy rather
than text parsing; columns of several chunks of a study concatenate byte-wise (JSON arrays
by their contents), so merging segments never decodes a trial.
"""

from __future__ import annotations

import datetime
import json
import sys
from array import array
from collections.abc import Callable, Iterable, Sequence
from itertools import islice, repeat
from typing import Any

from trialstore._core import FrozenTrial, TrialState
from trialstore.distributions import BaseDistribution, FloatDistribution
from trialstore.storage._chunk_source import ChunkSource, Dset

__all__ = [
    "FLOAT_COLUMNS",
    "INT_COLUMNS",
    "JSON_COLUMNS",
    "array_of_ints",
    "build_chunk",
    "dset_info",
    "encode_chunk",
    "merge_columns",
    "plan_merge",
]

INT_COLUMNS = ("id", "number", "state", "dset", "nval", "niv", "ivstep")
FLOAT_COLUMNS = ("val", "param", "ivval")
JSON_COLUMNS = ("time", "attr")
_STATES = sorted(TrialState, key=int)
_SWAP = sys.byteorder != "little"


def _pack(typecode: str, values: Sequence[Any]) -> bytes:
    packed = array(typecode, values)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return packed.tobytes()


def _unpack(typecode: str, data: bytes | memoryview) -> list[Any]:
    unpacked = array(typecode)
    unpacked.frombytes(data)
    if _SWAP:  # pragma: no cover - big-endian machines
        unpacked.byteswap()
    return unpacked.tolist()


def encode_chunk(
    trials: Sequence[FrozenTrial], dset_of: Callable[[dict[str, BaseDistribution]], int]
) -> dict[str, bytes]:
    """Return the columns of ``trials`` (finished ones), ``dset_of`` giving the index of a
    trial's distributions dict in the head's table (in that dict's order)."""
    ids: list[int] = []
    numbers: list[int] = []
    states: list[int] = []
    dsets: list[int] = []
    nvals: list[int] = []
    nivs: list[int] = []
    ivsteps: list[int] = []
    vals: list[float] = []
    params: list[float] = []
    ivvals: list[float] = []
    times: list[str | None] = []
    attrs: list[Any] = []
    for trial in trials:
        ids.append(trial._trial_id)
        numbers.append(trial._number)
        states.append(int(trial.state))
        distributions = trial._distributions
        dsets.append(dset_of(distributions))
        values = trial._values
        if values is None:
            nvals.append(-1)
        else:
            nvals.append(len(values))
            vals.extend(values)
        ivs = trial._intermediate_values
        nivs.append(len(ivs))
        ivsteps.extend(ivs)
        ivvals.extend(ivs.values())
        start, complete = trial._datetime_start, trial.datetime_complete
        times.append(None if start is None else start.isoformat())
        times.append(None if complete is None else complete.isoformat())
        own = trial._params
        exact = own.keys() == distributions.keys()
        internal = []
        if exact:
            for name, dist in distributions.items():
                value = own[name]
                try:
                    inner = dist.to_internal_repr(value)
                    exact = exact and dist.to_external_repr(inner) == value
                except (ValueError, TypeError, IndexError):
                    inner, exact = 0.0, False
                internal.append(inner)
        else:
            internal = [0.0] * len(distributions)
        params.extend(internal)
        ua, sa = trial._user_attrs, trial._system_attrs
        if ua or sa or not exact:
            attrs.append([ua, sa, 0 if exact else own])
        else:
            attrs.append(0)
    columns = {
        "id": _pack("q", ids),
        "number": _pack("q", numbers),
        "state": _pack("q", states),
        "dset": _pack("q", dsets),
        "nval": _pack("q", nvals),
        "niv": _pack("q", nivs),
        "ivstep": _pack("q", ivsteps),
        "val": _pack("d", vals),
        "param": _pack("d", params),
        "ivval": _pack("d", ivvals),
        "time": json.dumps(times, separators=(",", ":")).encode(),
        "attr": json.dumps(attrs, separators=(",", ":"), allow_nan=True).encode(),
    }
    return columns


def merge_columns(name: str, parts: list[bytes]) -> bytes:
    """Concatenate one column of several chunks of a study."""
    if name in JSON_COLUMNS:
        inner = [part[1:-1] for part in parts if len(part) > 2]
        return b"[" + b",".join(inner) + b"]"
    return b"".join(parts)


def array_of_ints(data: bytes | memoryview) -> list[int]:
    """Return an int64 column's values.

    Raises:
        ValueError: not a whole number of int64s.
    """
    return _unpack("q", data)


def dset_info(dsets: list[dict[str, BaseDistribution]]) -> list[Dset]:
    """Per distribution set: its names, the shared dict, and its distributions when some of
    them are not floats (None: every parameter is its internal float)."""
    out: list[Dset] = []
    for dset in dsets:
        floats = all(type(d) is FloatDistribution for d in dset.values())
        out.append((tuple(dset), dset, None if floats else tuple(dset.values())))
    return out


def _groups(flat: list[Any], counts: list[int], make: Callable[[Any], Any]) -> list[Any]:
    """Split ``flat`` into consecutive groups of ``counts[i]`` items, each passed to ``make``
    (as a tuple). Checks that the counts add up to the column's length.

    Raises:
        ValueError: they do not.
    """
    if sum(counts) != len(flat):
        raise ValueError("a column's length does not fit its counts")
    if not counts:
        return []
    first = counts[0]
    if first > 0 and counts.count(first) == len(counts):  # all equal: group in C
        return [make(group) for group in zip(*[iter(flat)] * first, strict=True)]
    it = iter(flat)
    return [make(tuple(islice(it, count))) for count in counts]


def _values(columns: dict[str, memoryview], nvals: Sequence[int]) -> list[Any]:
    """Each trial's objective values (a list, or None for a count below 0)."""
    vals = _unpack("d", columns["val"])
    n = len(nvals)
    if nvals.count(1) == n:
        if len(vals) != n:
            raise ValueError("the value column does not fit its counts")
        return [[v] for v in vals]
    values: list[Any] = _groups(vals, [max(c, 0) for c in nvals], list)
    for i, count in enumerate(nvals):
        if count < 0:
            values[i] = None
    return values


def build_chunk(
    columns: dict[str, memoryview], dsets: list[Dset], id_by_number: Sequence[int] | None = None
) -> list[FrozenTrial]:
    """Return the trials of a chunk, compact: their parameters and intermediate values stay
    in a :class:`ChunkSource` over the chunk's columns (copied) until first read.

    ``id_by_number``, when given, is the study's trial ids by number, as placed from this
    chunk's ``id`` and ``number`` columns: the trials then share those id objects (an int
    less per trial).

    Raises:
        ValueError, TypeError, IndexError, KeyError: the columns do not fit together.
    """
    numbers = _unpack("q", columns["number"])
    if id_by_number is None:
        ids = _unpack("q", columns["id"])
    else:
        if numbers and min(numbers) < 0:
            raise IndexError("a negative index")
        ids = [id_by_number[number] for number in numbers]
    n = len(ids)
    states = _unpack("q", columns["state"])
    dset_ids = _unpack("q", columns["dset"])
    nvals = _unpack("q", columns["nval"])
    nivs = _unpack("q", columns["niv"])
    times = json.loads(bytes(columns["time"]))
    attrs = json.loads(bytes(columns["attr"]))
    if not (
        len(numbers) == len(states) == len(dset_ids) == len(nvals) == len(nivs) == n
        and len(times) == 2 * n
        and len(attrs) == n
        and len(columns["id"]) == 8 * n
    ):
        raise ValueError("columns of different lengths")
    if n and (min(states) < 0 or min(dset_ids) < 0 or min(nivs) < 0):
        raise IndexError("a negative index")
    state_of = [_STATES[st] for st in states]
    source = ChunkSource(
        ids,
        dset_ids,
        dsets,
        nivs,
        bytes(columns["param"]),
        bytes(columns["ivstep"]),
        bytes(columns["ivval"]),
    )
    values = _values(columns, nvals)
    fromiso = datetime.datetime.fromisoformat
    if None in times:
        dates = [None if t is None else fromiso(t) for t in times]
    else:
        dates = list(map(fromiso, times))
    del times
    distributions: Iterable[dict[str, BaseDistribution]]
    if n and dset_ids.count(dset_ids[0]) == n:
        distributions = repeat(dsets[dset_ids[0]][1], n)
    else:
        distributions = [dsets[ds][1] for ds in dset_ids]
    trials = FrozenTrial._compact_many(
        numbers, state_of, values, dates[0::2], dates[1::2], distributions, ids, source
    )
    for trial, attr in zip(trials, attrs, strict=True):
        if attr:  # rare: attributes, or parameters kept as they were
            trial._user_dict = attr[0] or None
            trial._system_dict = attr[1] or None
            if isinstance(attr[2], dict):  # 0: decoded from the columns
                trial._param_dict = attr[2]
    return trials


def plan_merge(segments: Sequence[tuple[int, int]], max_bytes: int) -> tuple[int, int] | None:
    """The slice ``(start, end)`` of ``segments`` (each one's trial count and size in bytes,
    oldest first) to merge into one segment, or None.

    The trial counts stay strictly decreasing, as the digits of a binary counter: the last
    segments are merged while the one before them holds no more trials than they do together
    (so there are about log2(trials / trials per segment) segments, and each trial is copied
    as often), and no merge makes a segment larger than ``max_bytes``.
    """
    if len(segments) < 2:
        return None
    start = len(segments) - 1
    total, size = segments[start]
    while (
        start > 0
        and segments[start - 1][0] <= total
        and size + segments[start - 1][1] <= max_bytes
    ):
        start -= 1
        total += segments[start][0]
        size += segments[start][1]
    if start == len(segments) - 1:
        return None
    return start, len(segments)
