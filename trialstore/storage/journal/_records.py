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
    "BATCH_KEY",
    "COMPACTION_KEY",
    "DELETED_TRIALS_KEY",
    "HEARTBEAT_KEY",
    "JournalOp",
    "dump_file_line",
    "dump_redis_value",
    "format_datetime",
    "incomplete_batch_start",
    "is_batch_member",
    "parse_datetime",
]

#: Extra field of a DISCARD_TRIALS record (op 10, ignored by Optuna's replay) that carries a
#: trialstore heartbeat: ``{"trial_id": int, "time": unix seconds}``.
HEARTBEAT_KEY = "trialstore_heartbeat"
#: Extra field of the DISCARD_TRIALS record that opens a compacted journal file.
COMPACTION_KEY = "trialstore_compacted"
#: Extra field of the first SET_TRIAL_PARAM record of a ``set_trial_params`` batch: the number
#: of records in the batch (at least 2; they are appended together, by one writer, for one
#: trial). trialstore's replay applies the batch all or nothing; Optuna ignores the field and
#: applies the records one by one.
BATCH_KEY = "trialstore_batch"
#: The study system attribute key of a trial deletion: a SET_STUDY_SYSTEM_ATTR record (op 3)
#: ``{"study_id": s, "system_attr": {DELETED_TRIALS_KEY: [trial ids]}}``. Optuna's replay
#: stores it as a harmless study system attribute (a new op code would stop its replay);
#: trialstore's replay deletes the trials (all or nothing, validated at the record's place in
#: the log) and never shows the key among the study's system attributes.
DELETED_TRIALS_KEY = "trialstore:deleted_trials"


def is_batch_member(first: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether ``record`` may follow ``first`` (the record carrying :data:`BATCH_KEY`) in its
    batch: a SET_TRIAL_PARAM record of the same writer and trial, not opening a batch itself.
    Anything else after an incomplete batch means that its writer died in the middle of the
    append (the rest of the batch never came)."""
    return (
        record.get("op_code") == JournalOp.SET_TRIAL_PARAM
        and BATCH_KEY not in record
        and record.get("worker_id") == first.get("worker_id")
        and record.get("trial_id") == first.get("trial_id")
    )


def incomplete_batch_start(records: list[tuple[int, dict[str, Any]]]) -> int | None:
    """Return the index in ``records`` (a read's records in log order) of the first record of
    a batch whose last records are not in ``records`` (not written yet, or not visible yet),
    or None when ``records`` does not end inside a batch."""
    if not records:
        return None
    last = records[-1][1]
    writer = (last.get("worker_id"), last.get("trial_id"))
    index = len(records) - 1
    while index >= 0:
        record = records[index][1]
        if record.get("op_code") != JournalOp.SET_TRIAL_PARAM or (
            (record.get("worker_id"), record.get("trial_id")) != writer
        ):
            return None  # a batch's records are one writer's, for one trial, in a row
        size = record.get(BATCH_KEY)
        if size is not None:
            members = records[index + 1 :]
            if type(size) is int and len(members) < size - 1:
                if all(is_batch_member(record, m) for _, m in members):
                    return index
            return None
        index -= 1
    return None


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
