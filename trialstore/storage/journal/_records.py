"""Journal record facts shared by the replay, the backends and the compactor (private).

A record is one JSON object per line (file) or per key (Redis), in Optuna 5.0's format: an
``op_code``, a ``worker_id`` and the fields of the operation.
"""

from __future__ import annotations

import datetime
import enum
import json
from typing import Any

__all__ = [
    "COMPACTION_KEY",
    "HEARTBEAT_KEY",
    "JournalOp",
    "dump_file_line",
    "dump_redis_value",
    "format_datetime",
    "parse_datetime",
]

#: Extra field of a DISCARD_TRIALS record (op 10, ignored by Optuna's replay) that carries a
#: trialstore heartbeat: ``{"trial_id": int, "time": unix seconds}``.
HEARTBEAT_KEY = "trialstore_heartbeat"
#: Extra field of the DISCARD_TRIALS record that opens a compacted journal file.
COMPACTION_KEY = "trialstore_compacted"


class JournalOp(enum.IntEnum):
    """The operation codes of Optuna's journal (5.0.0)."""

    CREATE_STUDY = 0
    DELETE_STUDY = 1
    SET_STUDY_USER_ATTR = 2
    SET_STUDY_SYSTEM_ATTR = 3
    CREATE_TRIAL = 4
    SET_TRIAL_PARAM = 5
    SET_TRIAL_STATE_VALUES = 6
    SET_TRIAL_INTERMEDIATE_VALUE = 7
    SET_TRIAL_USER_ATTR = 8
    SET_TRIAL_SYSTEM_ATTR = 9
    DISCARD_TRIALS = 10


def dump_file_line(record: dict[str, Any]) -> bytes:
    """Return the record as one journal-file line (compact separators, ``\\n``-terminated)."""
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def dump_redis_value(record: dict[str, Any]) -> str:
    """Return the record as Optuna's Redis backend stores it (default separators)."""
    return json.dumps(record)


def format_datetime(value: datetime.datetime) -> str:
    """Return the ISO text Optuna 5.0 writes: UTC, aware, with microseconds.

    A naive datetime is taken as local time (as Optuna does).
    """
    return value.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")


def parse_datetime(text: str) -> datetime.datetime:
    """Return the naive local datetime that Optuna's replay makes of ``text``.

    Aware strings (5.0) are converted to local time; naive strings (older files) are local
    time already.

    Raises:
        ValueError: ``text`` is not an ISO datetime.
        TypeError: ``text`` is not a str.
    """
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone().replace(tzinfo=None)
