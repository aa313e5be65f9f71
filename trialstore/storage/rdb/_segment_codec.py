"""The bytes of one snapshot segment of the RDB storage (private).

A segment holds finished trials of one study as binary columns (see
:mod:`trialstore.storage._columns`), in its row's ``data``, and says in its row's ``meta`` (a
JSON object) what it holds:

* ``columns``: each column's byte range in ``data``;
* ``dists`` and ``dsets``: the segment's own table of distributions (JSON texts) and of
  distribution sets (lists of ``[name, index into dists]``), which the ``dset`` column
  indexes;
* ``holes``: the ids of the study's trials in the segment's id range that it does not hold
  (they were unfinished when it was written); ``extras``: the ids of trials it holds below
  its range (holes of earlier segments that had finished); ``settled``: holes of earlier
  segments that were deleted (no segment needs to hold them);
* ``size``: the length of ``data``.

Times are stored as naive UTC (the tables' convention), whatever the writer's time zone, and
handed out as naive local time. Decoding checks the columns against each other; a segment
that does not decode is treated as absent by its readers (see :mod:`_segments`).
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from trialstore._core import FrozenTrial
from trialstore.distributions import BaseDistribution, distribution_to_json
from trialstore.storage._columns import (
    FLOAT_COLUMNS,
    INT_COLUMNS,
    JSON_COLUMNS,
    array_of_ints,
    build_chunk,
    dset_info,
    encode_chunk,
    merge_columns,
)
from trialstore.storage.rdb import _codec

__all__ = ["FORMAT", "BrokenSegmentError", "Meta", "Tables", "decode", "encode", "merge"]

#: The ``format`` of every segment's ``meta`` written by this module.
FORMAT = "trialstore-rdb-segment/1"
_COLUMNS = (*INT_COLUMNS, *FLOAT_COLUMNS, *JSON_COLUMNS)
_SWAP = sys.byteorder != "little"
_LOCAL_IS_UTC = time.timezone == 0 and time.altzone == 0


class BrokenSegmentError(Exception):
    """A segment that is not one of this format (damaged, or written by a newer version)."""


@dataclass(frozen=True)
class Meta:
    """A segment's row without its data: its id range ``first..last`` (inclusive), trial
    count, and the parsed ``meta`` (see the module docstring)."""

    segment_id: int
    first: int
    last: int
    n_trials: int
    columns: dict[str, tuple[int, int]]
    dists: list[str]
    dsets: list[list[tuple[str, int]]]
    holes: frozenset[int]
    extras: frozenset[int]
    settled: frozenset[int]
    size: int

    @classmethod
    def parse(cls, segment_id: int, first: int, last: int, n_trials: int, text: str) -> Meta:
        """The metadata of a segment row.

        Raises:
            BrokenSegmentError: ``text`` is not the ``meta`` of a segment of this format.
        """
        try:
            doc = json.loads(text)
            if doc["format"] != FORMAT:
                raise ValueError(f"format {doc['format']!r}")
            columns = {str(name): (int(a), int(b)) for name, (a, b) in doc["columns"].items()}
            size = int(doc["size"])
            if set(columns) != set(_COLUMNS) or any(
                not 0 <= a <= b <= size for a, b in columns.values()
            ):
                raise ValueError("columns out of the data")
            return cls(
                int(segment_id),
                int(first),
                int(last),
                int(n_trials),
                columns,
                [str(text) for text in doc["dists"]],
                [[(str(name), int(i)) for name, i in dset] for dset in doc["dsets"]],
                frozenset(int(t) for t in doc["holes"]),
                frozenset(int(t) for t in doc["extras"]),
                frozenset(int(t) for t in doc["settled"]),
                size,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BrokenSegmentError(f"malformed segment meta ({type(e).__name__}: {e})") from None


def _pack_ints(values: Iterable[int]) -> bytes:
    packed = array("q", values)
    if _SWAP:  # pragma: no cover - big-endian machines
        packed.byteswap()
    return packed.tobytes()


class Tables:
    """A segment's table of distributions and distribution sets, built as trials are
    encoded (lookups by identity first: trials read together share distribution objects)."""

    def __init__(self) -> None:
        self.dists: list[str] = []
        self.dsets: list[list[tuple[str, int]]] = []
        self._dist_index: dict[str, int] = {}
        self._dset_index: dict[tuple[tuple[str, int], ...], int] = {}
        #: (names, ids of the distributions) -> (the distributions, kept alive so that their
        #: ids stay theirs; the index).
        self._by_ids: dict[tuple[Any, ...], tuple[tuple[BaseDistribution, ...], int]] = {}

    def dist_index(self, text: str) -> int:
        """The index of a distribution's JSON text (appended if new)."""
        index = self._dist_index.get(text)
        if index is None:
            index = self._dist_index[text] = len(self.dists)
            self.dists.append(text)
        return index

    def dset_index(self, key: tuple[tuple[str, int], ...]) -> int:
        """The index of a distribution set given as (name, dist index) pairs."""
        index = self._dset_index.get(key)
        if index is None:
            index = self._dset_index[key] = len(self.dsets)
            self.dsets.append(list(key))
        return index

    def dset(self, distributions: dict[str, BaseDistribution]) -> int:
        """The index of a trial's distributions dict (in its order)."""
        values = tuple(distributions.values())
        by_ids = (tuple(distributions), tuple(map(id, values)))
        hit = self._by_ids.get(by_ids)
        if hit is None:
            key = tuple(
                (name, self.dist_index(distribution_to_json(d)))
                for name, d in distributions.items()
            )
            hit = self._by_ids[by_ids] = (values, self.dset_index(key))
        return hit[1]


def _convert_times(data: bytes | memoryview, convert: Any) -> bytes:
    """The ``time`` column with every datetime passed through ``convert``."""
    fromiso = datetime.datetime.fromisoformat
    times = json.loads(bytes(data))
    out = [None if t is None else convert(fromiso(t)).isoformat() for t in times]
    return json.dumps(out, separators=(",", ":")).encode()


def _meta_text(
    columns: dict[str, tuple[int, int]],
    tables: Tables,
    holes: Iterable[int],
    extras: Iterable[int],
    settled: Iterable[int],
    size: int,
) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "columns": columns,
            "dists": tables.dists,
            "dsets": tables.dsets,
            "holes": sorted(holes),
            "extras": sorted(extras),
            "settled": sorted(settled),
            "size": size,
        },
        separators=(",", ":"),
    )


def _join(parts: dict[str, bytes]) -> tuple[dict[str, tuple[int, int]], bytes]:
    ranges = {}
    offset = 0
    for name in _COLUMNS:
        ranges[name] = (offset, offset + len(parts[name]))
        offset += len(parts[name])
    return ranges, b"".join(parts[name] for name in _COLUMNS)


def encode(
    trials: Sequence[FrozenTrial],
    holes: Iterable[int],
    extras: Iterable[int],
    settled: Iterable[int],
) -> tuple[str, bytes]:
    """Return the ``meta`` text and the ``data`` of a segment holding ``trials`` (finished;
    ``extras``: the ids among them below the segment's range) and naming ``holes`` and
    ``settled`` (see the module docstring)."""
    tables = Tables()
    columns = encode_chunk(trials, tables.dset)
    if not _LOCAL_IS_UTC:
        columns["time"] = _convert_times(columns["time"], _codec.to_stored_datetime)
    ranges, data = _join(columns)
    return _meta_text(ranges, tables, holes, extras, settled, len(data)), data


class DsetCache:
    """Distribution sets shared by the segments a storage object decodes: trials with the
    same distributions share one dict (and one distribution object per JSON text)."""

    def __init__(self) -> None:
        self._dicts: dict[tuple[tuple[str, str], ...], dict[str, BaseDistribution]] = {}

    def dicts_of(self, meta: Meta) -> list[dict[str, BaseDistribution]]:
        """The distributions dict of each of the segment's distribution sets.

        Raises:
            IndexError, ValueError, TypeError, KeyError: a malformed table.
        """
        out = []
        for dset in meta.dsets:
            key = tuple((name, meta.dists[i]) for name, i in dset)
            known = self._dicts.get(key)
            if known is None:
                known = {name: _codec.parse_distribution(text) for name, text in key}
                if len(self._dicts) < 10_000:
                    self._dicts[key] = known
            out.append(known)
        return out


def decode(meta: Meta, data: bytes, dsets: DsetCache) -> list[FrozenTrial]:
    """Return the trials a segment holds.

    Raises:
        BrokenSegmentError: the data does not fit its meta, or its columns do not fit
            together.
    """
    try:
        if len(data) != meta.size:
            raise ValueError(f"{len(data)} bytes, not {meta.size}")
        view = memoryview(data)
        columns = {name: view[a:b] for name, (a, b) in meta.columns.items()}
        if not _LOCAL_IS_UTC:
            columns["time"] = memoryview(
                _convert_times(columns["time"], _codec.from_stored_datetime)
            )
        trials = build_chunk(columns, dset_info(dsets.dicts_of(meta)))
        if len(trials) != meta.n_trials:
            raise ValueError(f"{len(trials)} trials, not {meta.n_trials}")
        return trials
    except BrokenSegmentError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise BrokenSegmentError(f"malformed segment ({type(e).__name__}: {e})") from None


def merge(parts: Sequence[tuple[Meta, bytes]]) -> tuple[str, bytes]:
    """Return the ``meta`` text and ``data`` of one segment holding the trials of ``parts``
    (segments of one study with adjacent id ranges, in order): columns are copied as bytes,
    only the ``dset`` indexes are mapped to the merged table.

    Raises:
        BrokenSegmentError: a part's data does not fit its meta.
    """
    first = parts[0][0].first
    tables = Tables()
    pieces: dict[str, list[bytes]] = {name: [] for name in _COLUMNS}
    holes: set[int] = set()
    extras: set[int] = set()
    settled: set[int] = set()
    for meta, data in parts:
        if len(data) != meta.size:
            raise BrokenSegmentError(f"segment {meta.segment_id}: {len(data)} bytes")
        dists = [tables.dist_index(text) for text in meta.dists]
        dset_map = [tables.dset_index(tuple((n, dists[i]) for n, i in d)) for d in meta.dsets]
        for name, (a, b) in meta.columns.items():
            piece = data[a:b]
            if name == "dset":
                try:
                    piece = _pack_ints(dset_map[i] for i in array_of_ints(piece))
                except (IndexError, ValueError) as e:
                    raise BrokenSegmentError(f"segment {meta.segment_id}: {e}") from None
            pieces[name].append(piece)
        holes |= meta.holes
        extras |= meta.extras
        settled |= meta.settled
    columns = {name: merge_columns(name, pieces[name]) for name in _COLUMNS}
    ranges, data = _join(columns)
    text = _meta_text(
        ranges,
        tables,
        holes - extras - settled,
        {t for t in extras if t < first},
        {t for t in settled if t < first},
        len(data),
    )
    return text, data
