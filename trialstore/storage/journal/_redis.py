"""The journal Redis backend: Optuna's keys, one record per key, appended by a Lua script."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from trialstore.exceptions import StorageInternalError
from trialstore.storage.journal._base import BaseJournalBackend
from trialstore.storage.journal._records import dump_redis_value
from trialstore.storage.journal._replay import SNAPSHOT_FORMAT

__all__ = ["JournalRedisBackend"]

_BATCH = 2000
_HOLE_TIMEOUT = 30.0

# KEYS[1] = <prefix>:log_number; ARGV[1] = <prefix>; ARGV[2..] = records.
# Returns the log number of the first record. Redis runs a script atomically.
_APPEND_SCRIPT = """
redis.call('setnx', KEYS[1], -1)
local first = -1
for i = 2, #ARGV do
  local n = redis.call('incr', KEYS[1])
  if i == 2 then first = n end
  redis.call('set', ARGV[1] .. ':log:' .. n, ARGV[i])
end
return first
"""


class JournalRedisBackend(BaseJournalBackend):
    """A journal in Redis under Optuna's keys: ``<prefix>:log_number`` (the last log number,
    starting at -1) and ``<prefix>:log:<n>`` (one record as JSON), so Optuna 5.0 and
    trialstore can share one prefix.

    Appends are one Lua script (atomic on a standalone server); readers fetch new keys in
    batches. trialstore's snapshot lives under ``<prefix>:trialstore:snapshot``; Optuna's
    ``<prefix>:snapshot`` (a pickle) is never read or written.

    Raises:
        ImportError: the ``redis`` package is missing (``pip install trialstore[redis]``).
    """

    def __init__(self, url: str, prefix: str = "") -> None:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - redis is installed in CI
            raise ImportError(
                "JournalRedisBackend needs the redis package: pip install 'trialstore[redis]'"
            ) from e
        self._url = url
        self._prefix = prefix
        self._redis = redis.Redis.from_url(url)
        self._script = self._redis.register_script(_APPEND_SCRIPT)
        self._next = 0
        self._hole_since: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._url, "prefix": self._prefix}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["prefix"])  # type: ignore[misc]

    @property
    def prefix(self) -> str:
        """The key prefix."""
        return self._prefix

    def _key(self, log_number: int) -> str:
        return f"{self._prefix}:log:{log_number}"

    def location(self, log_number: int) -> str:
        return f"Redis journal key {self._key(log_number)!r}"

    def reset(self) -> None:
        self._next = 0

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        try:
            raw_last = self._redis.get(f"{self._prefix}:log_number")
            out: list[tuple[int, dict[str, Any]]] = []
            if raw_last is None:
                return out
            last = int(raw_last)
            while self._next <= last:
                numbers = range(self._next, min(last, self._next + _BATCH - 1) + 1)
                values = self._redis.mget([self._key(n) for n in numbers])
                for n, value in zip(numbers, values, strict=True):
                    if value is None:
                        self._wait_for_hole(n)
                        return out
                    try:
                        record = json.loads(value)
                    except ValueError as e:
                        raise StorageInternalError(
                            f"{self.location(n)}: corrupt record ({e})"
                        ) from None
                    if type(record) is not dict or "op_code" not in record:
                        raise StorageInternalError(
                            f"{self.location(n)}: not a journal record (a JSON object with "
                            "op_code)"
                        )
                    out.append((n, record))
                    self._next = n + 1
            self._hole_since = None
            return out
        except StorageInternalError:
            raise
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise StorageInternalError(f"Redis journal {self._prefix!r}: {e}") from e
            raise

    def _wait_for_hole(self, n: int) -> None:
        """A log number was taken but its record is not there (yet): a non-atomic writer."""
        now = time.monotonic()
        if self._hole_since is None:
            self._hole_since = now
        elif now - self._hole_since > _HOLE_TIMEOUT:
            raise StorageInternalError(
                f"{self.location(n)} is missing for more than {_HOLE_TIMEOUT:.0f} s although "
                "later log numbers exist: a writer died between taking the number and writing "
                "the record."
            )

    def append(self, records: list[dict[str, Any]]) -> bool:
        try:
            first = int(
                self._script(
                    keys=[f"{self._prefix}:log_number"],
                    args=[self._prefix, *(dump_redis_value(r) for r in records)],
                )
            )
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise StorageInternalError(f"Redis journal {self._prefix!r}: {e}") from e
            raise
        if first == self._next:
            self._next += len(records)
            return True
        return False

    # -- snapshots -------------------------------------------------------------------------

    @property
    def snapshot_key(self) -> str:
        """The key of trialstore's snapshot (never Optuna's ``<prefix>:snapshot``)."""
        return f"{self._prefix}:trialstore:snapshot"

    def _digest(self, covered: int) -> str | None:
        if covered == 0:
            return ""
        value = self._redis.get(self._key(covered - 1))
        if value is None:
            return None
        return hashlib.sha256(value if isinstance(value, bytes) else value.encode()).hexdigest()

    def load_snapshot(self) -> dict[str, Any] | None:
        try:
            raw = self._redis.get(self.snapshot_key)
            if raw is None:
                return None
            doc = json.loads(raw)
            if doc["format"] != SNAPSHOT_FORMAT:
                return None
            covered = int(doc["log_number"])
            if self._digest(covered) != doc["digest"]:
                return None
        except (ValueError, KeyError, TypeError):
            return None
        state: dict[str, Any] = doc["state"]
        self._next = covered
        return state

    def save_snapshot(self, state: dict[str, Any]) -> None:
        try:
            doc = {
                "format": SNAPSHOT_FORMAT,
                "log_number": self._next,
                "digest": self._digest(self._next),
                "state": state,
            }
            self._redis.set(self.snapshot_key, json.dumps(doc, separators=(",", ":")))
        except Exception as e:
            if not type(e).__module__.startswith("redis"):
                raise

    def close(self) -> None:
        self._redis.close()
