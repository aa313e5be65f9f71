"""Printing what a command shows: the ``--format`` and ``--flatten`` options and the four
formats (private).

A command builds *records*, dicts of JSON-like values (None, bool, int, float, str, lists,
tuples and dicts of them), and calls :func:`emit`. The formats are Optuna's CLI formats:

``json``
    The records as a JSON list (one object for a single record), indented.
``yaml``
    The same as YAML (block style, keys sorted), readable by any YAML parser.
``table``
    A bordered table of ``columns``, numeric columns right-aligned; a cell is Python's
    ``str`` of its value (dicts as ``{'x': 1}``), empty for None.
``value``
    One line per record: its cells (as in the table) separated by one space.

``--flatten`` turns each nested column (a dict or list) into one column per key or index:
``params`` ``{"x": 1}`` becomes ``params_x``; ``values`` ``[1.0, 2.0]`` becomes ``values_0``
and ``values_1``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal, get_args

__all__ = ["FORMATS", "Format", "add_common", "add_flatten", "emit", "render", "to_yaml"]

#: An output format: a value of ``-f/--format``.
Format = Literal["json", "table", "value", "yaml"]
#: The values of ``-f/--format``, in the order the help and the errors list them.
FORMATS: tuple[Format, ...] = get_args(Format)


def add_common(
    parser: argparse.ArgumentParser, *, storage_required: bool = True, default: Format = "table"
) -> None:
    """Add ``--storage`` and ``-f/--format`` (default ``default``) to a sub-command parser.

    A required ``--storage`` also takes its value from ``TRIALSTORE_STORAGE`` (see
    ``trialstore/cli/_storage_env.py``).
    """
    parser.add_argument("--storage", required=storage_required, metavar="URL", help="storage URL")
    parser.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default=default,
        help=f"output format (default: {default})",
    )


def add_flatten(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--flatten``; ``what`` names the nested columns it splits (for the help)."""
    parser.add_argument(
        "--flatten",
        action="store_true",
        help=f"one column per key or index of the nested columns ({what})",
    )


def emit(
    records: Sequence[Mapping[str, Any]],
    fmt: Format,
    columns: Sequence[str],
    *,
    flatten: bool = False,
    nested: Collection[str] = (),
    single: bool = False,
    sort_nested: bool = True,
    column_records: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Print ``records`` in the format ``fmt`` (one of :data:`FORMATS`).

    ``columns``: the table's and the value lines' columns, in order (JSON and YAML show each
    record's own keys). ``single``: ``records`` holds exactly one record, shown as an object
    (JSON, YAML) rather than a list. ``flatten``: split the columns named in ``nested``
    (see the module); the new columns come in key order when ``sort_nested``, else in the
    order of first appearance, and are those of ``column_records`` (default: ``records``),
    so that a best trial's table has the columns of the study's whole trial table.
    """
    print(
        render(
            records,
            fmt,
            columns,
            flatten=flatten,
            nested=nested,
            single=single,
            sort_nested=sort_nested,
            column_records=column_records,
        ),
        end="",
    )


def render(
    records: Sequence[Mapping[str, Any]],
    fmt: Format,
    columns: Sequence[str],
    *,
    flatten: bool = False,
    nested: Collection[str] = (),
    single: bool = False,
    sort_nested: bool = True,
    column_records: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """The text :func:`emit` prints (ending in a newline unless it is empty).

    Raises:
        ValueError: ``fmt`` is not one of :data:`FORMATS`; ``single`` with other than one
            record.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}.")
    if single and len(records) != 1:
        raise ValueError(f"single: expected one record, got {len(records)}.")
    if flatten:
        columns = _flat_columns(
            records if column_records is None else column_records, columns, nested, sort_nested
        )
        records = [_flat_record(r, nested) for r in records]
    if fmt == "json":
        data: Any = records[0] if single else list(records)
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt == "yaml":
        return to_yaml(records[0] if single else list(records))
    rows = [[_cell(r.get(c)) for c in columns] for r in records]
    if fmt == "value":
        return "".join(" ".join(row) + "\n" for row in rows)
    right = [all(_is_number(r.get(c)) for r in records if r.get(c) is not None) for c in columns]
    return _table(list(columns), rows, right)


# -- flattening --------------------------------------------------------------------------------


def _items(value: Any) -> list[tuple[Any, Any]]:
    """The (key, value) pairs of a dict, the (index, value) pairs of a list or tuple."""
    if isinstance(value, Mapping):
        return list(value.items())
    return list(enumerate(value))


def _splits(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple))


def _flat_record(record: Mapping[str, Any], nested: Collection[str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key in nested and _splits(value):
            for sub, item in _items(value):
                flat[f"{key}_{sub}"] = item
        else:
            flat[key] = value
    return flat


def _flat_columns(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    nested: Collection[str],
    sort_nested: bool,
) -> list[str]:
    flat: list[str] = []
    for column in columns:
        values = [r[column] for r in records if column in r]
        if column not in nested or not any(_splits(v) for v in values):
            flat.append(column)
            continue
        keys: dict[Any, None] = {}
        for value in values:
            if _splits(value):
                keys.update((sub, None) for sub, _ in _items(value))
        ordered = sorted(keys, key=lambda k: (isinstance(k, str), k)) if sort_nested else keys
        flat.extend(f"{column}_{sub}" for sub in ordered)
    return flat


# -- table and value ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def _table(header: list[str], rows: list[list[str]], right: list[bool]) -> str:
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(cells: list[str]) -> str:
        padded = (
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(cells, widths, right, strict=True)
        )
        return "| " + " | ".join(padded) + " |"

    return "\n".join([border, line(header), border, *map(line, rows), border]) + "\n"


# -- YAML --------------------------------------------------------------------------------------

#: Plain (unquoted) scalars: only these, and none that YAML 1.1 reads as a bool or null.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./ -]*")
_NOT_PLAIN = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
#: Characters a double-quoted scalar must escape: YAML folds or rejects them as they are.
_SPECIAL = {"\x85", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff"}


def to_yaml(data: Any) -> str:
    """``data`` (JSON-like values) as a YAML document in block style, keys sorted.

    ``yaml.safe_load`` of the result equals ``data`` with tuples as lists (NaN aside).
    """
    if _is_block(data):
        return "\n".join(_block(data, "")) + "\n"
    return _inline(data) + "\n"


def _is_block(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) and len(value) > 0


def _block(value: Any, indent: str) -> list[str]:
    """The lines of a non-empty mapping or sequence, each starting with ``indent``."""
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            item = value[key]
            head = f"{indent}{_string(str(key))}:"
            if not _is_block(item):
                lines.append(f"{head} {_inline(item)}")
            elif isinstance(item, Mapping):
                lines += [head, *_block(item, indent + "  ")]
            else:  # a sequence in a mapping is not indented (as PyYAML writes it)
                lines += [head, *_block(item, indent)]
        return lines
    for item in value:
        if _is_block(item):
            inner = _block(item, indent + "  ")
            lines += [f"{indent}- {inner[0][len(indent) + 2 :]}", *inner[1:]]
        else:
            lines.append(f"{indent}- {_inline(item)}")
    return lines


def _inline(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, (list, tuple)):
        return "[]"
    return _string(str(value))


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # YAML 1.1 reads 1e-07 as a string, 1.0e-07 as a float
        text = f"{mantissa}.0e{exponent}"
    return text


def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and not text.endswith(" ") and text.lower() not in _NOT_PLAIN:
        return text
    if all(" " <= ch <= "~" or (ch >= "\xa0" and _printable(ch)) for ch in text):
        return "'" + text.replace("'", "''") + "'"
    return '"' + "".join(_escaped(ch) for ch in text) + '"'


def _printable(ch: str) -> bool:
    return ch not in _SPECIAL and not "\ud800" <= ch <= "\udfff"


def _escaped(ch: str) -> str:
    if ch in ('"', "\\"):
        return "\\" + ch
    if " " <= ch <= "~" or (ch >= "\xa0" and _printable(ch)):
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"
