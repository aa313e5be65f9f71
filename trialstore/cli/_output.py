"""Shared helpers of the study sub-commands: storage option, tables and JSON (private)."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Sequence
from typing import Any

from trialstore.study._direction import StudyDirection
from trialstore.trial._frozen import FrozenTrial

__all__ = ["add_common", "emit", "trial_record"]


def add_common(parser: argparse.ArgumentParser, *, storage_required: bool = True) -> None:
    """Add ``--storage`` and ``--format`` to a sub-command parser."""
    parser.add_argument("--storage", required=storage_required, metavar="URL", help="storage URL")
    parser.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format"
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, StudyDirection):
        return value.name
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def emit(records: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> None:
    """Print ``records`` as an aligned table (``columns`` in order) or as a JSON list."""
    if fmt == "json":
        print(json.dumps([_jsonable(r) for r in records], indent=2))
        return
    rows = [[_cell(r.get(c)) for c in columns] for r in records]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def trial_record(trial: FrozenTrial) -> dict[str, Any]:
    """Return the fields the CLI shows for one trial."""
    values = trial.values
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": values[0] if values is not None and len(values) == 1 else values,
        "params": dict(trial.params),
        "user_attrs": dict(trial.user_attrs),
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
    }
