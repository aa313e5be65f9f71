"""The journal Redis backend: Optuna's keys, one record per key, appended by a Lua script."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

from trialstore.exceptions import StorageInternalError, StorageNotFoundError
from trialstore.storage._url import mask_password
from trialstore.storage.journal._base import BaseJournalBackend, JournalReset, SnapshotStore
from trialstore.storage.journal._records import dump_redis_value

__all__ = ["STUB_RECORD", "JournalRedisBackend", "RedisSnapshotStore", "check_redis_url"]

_BATCH = 2000
_HOLE_TIMEOUT = 30.0

#: The value that compaction leaves in a log key whose record it folded into earlier keys: a
#: DISCARD_TRIALS record of no trial and without trialstore's heartbeat field, which both
#: Optuna 5.0's replay and trialstore's ignore. Kept tiny: it only holds a log number.
STUB_RECORD = '{"op_code":10,"worker_id":"","trial_ids":[]}'

# Appending, with the writer's catch-up in the same atomic step.
# KEYS: none (keys are built from the prefix, as Optuna does; standalone server only).
# ARGV[1] = <prefix>; ARGV[2] = the writer's reading position P; ARGV[3] = the generation its
# position is valid under (-1: unknown, then P is 0); ARGV[4] = '1' to append whatever happens
# and return no records; ARGV[5] = the largest gap (records between P and the log's end) the
# reply may carry; ARGV[6..] = the records to append.
# Returns {first, generation, compacted_to, valid, values...}:
#   * first = -1: nothing appended, because the writer's position is valid but more than
#     ARGV[5] records behind; it must catch up first (keeps the reply and the script small).
#   * valid = 1: the writer's position is still valid (no compaction rewrote keys >= P since
#     its last read); values are the records P .. first-1, read in the same atomic step as the
#     append, so that no compaction can rewrite them before the writer sees them.
#   * valid = 0: a compaction rewrote keys the writer had not read yet; the records were
#     appended after it (so they are at log numbers >= compacted_to) and the writer must reset.
_APPEND_SCRIPT = """
local p = ARGV[1]
local pos = tonumber(ARGV[2])
local known = tonumber(ARGV[3])
local force = ARGV[4] == '1'
local max_gap = tonumber(ARGV[5])
local gen = tonumber(redis.call('get', p .. ':trialstore:generation') or '0')
local compacted_to = tonumber(redis.call('get', p .. ':trialstore:compacted_to') or '0')
redis.call('setnx', p .. ':log_number', -1)
local next_number = tonumber(redis.call('get', p .. ':log_number')) + 1
-- Position 0 is valid under every generation; any other only under its own generation or
-- when every compaction since rewrote keys below it only.
local valid = known == gen or pos == 0 or pos >= compacted_to
if valid and not force and next_number - pos > max_gap then
  return {-1, gen, compacted_to, 1}
end
local first = -1
for i = 6, #ARGV do
  local n = redis.call('incr', p .. ':log_number')
  if i == 6 then first = n end
  redis.call('set', p .. ':log:' .. n, ARGV[i])
end
local out = {first, gen, compacted_to, valid and 1 or 0}
if valid and not force then
  -- The records between the writer's position and its own (never missing, except for a
  -- non-atomic writer's hole: returned as '' and then read, or waited for, the usual way).
  for n = pos, first - 1 do
    out[#out + 1] = redis.call('get', p .. ':log:' .. n) or ''
  end
end
return out
"""

# Replacing the snapshot head, by the holder of the snapshot writers' lock only, only if the
# log did not move under the head's position, then removing the segments it no longer needs.
# KEYS: none. ARGV[1] = <prefix>; ARGV[2] = the lock token; ARGV[3] = the generation the
# position is valid under; ARGV[4] = the records covered; ARGV[5] = SHA-1 of the value of the
# last covered key ('' when none); ARGV[6] = the head; ARGV[7..] = the segments to keep.
# Returns 1 when written, 0 when not.
_WRITE_HEAD_SCRIPT = """
local p = ARGV[1]
if redis.call('get', p .. ':trialstore:snapshot_lock') ~= ARGV[2] then return 0 end
local gen = tonumber(redis.call('get', p .. ':trialstore:generation') or '0')
if gen ~= tonumber(ARGV[3]) then return 0 end
local covered = tonumber(ARGV[4])
if covered > 0 then
  local value = redis.call('get', p .. ':log:' .. (covered - 1))
  if not value or redis.sha1hex(value) ~= ARGV[5] then return 0 end
end
redis.call('set', p .. ':trialstore:snapshot', ARGV[6])
local keep = {}
for i = 7, #ARGV do keep[ARGV[i]] = true end
for _, name in ipairs(redis.call('smembers', p .. ':trialstore:segments')) do
  if not keep[name] then
    redis.call('del', p .. ':trialstore:segment:' .. name)
    redis.call('srem', p .. ':trialstore:segments', name)
  end
end
return 1
"""

_UNLOCK_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

# Compaction's only write: replace the log prefix 0..K-1 by its minimal equivalent, at once.
# KEYS: none. ARGV[1] = <prefix>; ARGV[2] = the generation the compactor replayed under;
# ARGV[3] = K (the compactor replayed keys 0..K-1); ARGV[4] = the stub record; ARGV[5] = the
# snapshot head of the new log up to K ('' for none: the old head is then removed, it would
# not match); ARGV[6..] = the M <= K minimal records.
# Returns {-2} when Optuna's <prefix>:snapshot exists (its pickled position would point into
# the rewritten keys; only its existence is checked, it is never read or written), {-1} when
# another compaction ran since the compactor's replay (or the log shrank), else
# {0, records_before, bytes_before, records_after, bytes_after} over keys 0..log_number, where
# records do not count stubs and bytes are the sum of the values' lengths.
_COMPACT_SCRIPT = """
local p = ARGV[1]
if redis.call('exists', p .. ':snapshot') == 1 then return {-2} end
local gen = tonumber(redis.call('get', p .. ':trialstore:generation') or '0')
if gen ~= tonumber(ARGV[2]) then return {-1} end
local last = tonumber(redis.call('get', p .. ':log_number') or '-1')
local k = tonumber(ARGV[3])
if k > last + 1 then return {-1} end
local stub = ARGV[4]
local m = #ARGV - 5
local records_before, bytes_before, records_after, bytes_after = 0, 0, 0, 0
for n = 0, last do
  local key = p .. ':log:' .. n
  local old = redis.call('get', key)
  local new = old
  if n < m then new = ARGV[n + 6] elseif n < k then new = stub end
  if old then
    bytes_before = bytes_before + #old
    if old ~= stub then records_before = records_before + 1 end
  end
  if new then
    -- Keys already equal to their new value (stubs of an earlier compaction) are not written.
    if new ~= old then redis.call('set', key, new) end
    bytes_after = bytes_after + #new
    if new ~= stub then records_after = records_after + 1 end
  end
end
-- Readers compare the generation with the one their position is valid under; positions
-- below compacted_to must reset, the others stay valid (the prefix replays to the same state).
redis.call('incr', p .. ':trialstore:generation')
redis.call('set', p .. ':trialstore:compacted_to', k)
if ARGV[5] == '' then
  redis.call('del', p .. ':trialstore:snapshot')
else
  redis.call('set', p .. ':trialstore:snapshot', ARGV[5])
end
return {0, records_before, bytes_before, records_after, bytes_after}
"""


_DIGITS = re.compile(r"[0-9]+")


def _port_text(netloc: str) -> str | None:
    """The text after the host's ``:`` in ``netloc`` (None: no port given)."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        hostport = hostport.partition("]")[2]
    _, colon, port = hostport.rpartition(":")
    return port if colon else None


def check_redis_url(url: str, *, shown: str | None = None, form: str | None = None) -> None:
    """Check what redis-py would silently reinterpret in a Redis URL: a database index that
    is not a non-negative integer (``/notanint`` would be database 0, ``/1/2`` database 12)
    and a port outside 1-65535.

    ``redis://[[user]:password@]host[:port][/DB]`` and ``rediss://...`` take the database
    from the path (none or ``/``: database 0) or from ``?db=DB``, not both;
    ``unix://[[user]:password@]/path/to/socket`` from ``?db=DB``. Other query parameters
    are left to redis-py. Error messages show ``shown`` (default: ``url``) with its password
    masked and ``form``, the expected URL form (default: the one above).

    Raises:
        ValueError: an unknown scheme, a malformed address, a bad port or database index.
    """
    label = f"{'Redis' if shown is None else 'storage'} URL {mask_password(shown or url)!r}"
    form = form or "redis://[[user]:password@]host[:port][/DB]"
    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "unix") or "://" not in url:
        raise ValueError(f"{label}: the scheme must be redis://, rediss:// or unix://.")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:  # an unclosed "[" of an IPv6 address
        raise ValueError(f"{label}: {e}; expected {form}.") from None
    try:
        port = parts.port
    except ValueError:
        port = None
    if scheme != "unix":
        port_text = _port_text(parts.netloc)
        if port_text is not None and (port is None or not 1 <= port <= 65535):
            raise ValueError(
                f"{label}: port {port_text!r} is not an integer from 1 to 65535; expected {form}."
            )
    databases = urllib.parse.parse_qs(parts.query, keep_blank_values=True).get("db", [])
    if scheme != "unix" and parts.path.strip("/"):
        databases.append(parts.path[1:].removesuffix("/"))
    for database in databases:
        if not _DIGITS.fullmatch(database):
            raise ValueError(
                f"{label}: database {database!r} is not a non-negative integer; "
                f"expected {form} with DB a number such as 0."
            )
    if len(databases) > 1:
        raise ValueError(f"{label}: the database is given more than once.")


def _int(raw: Any, default: int) -> int:
    return default if raw is None else int(raw)


class JournalRedisBackend(BaseJournalBackend):
    """A journal in Redis under Optuna's keys: ``<prefix>:log_number`` (the last log number,
    starting at -1) and ``<prefix>:log:<n>`` (one record as JSON), so Optuna 5.0 and
    trialstore can share one prefix.

    Appends are one Lua script (atomic on a standalone server); readers fetch new keys in
    batches. trialstore's snapshot lives under keys of its own (see
    :class:`RedisSnapshotStore`); Optuna's ``<prefix>:snapshot`` (a pickle) is never read or
    written.

    Compaction (:func:`~trialstore.storage.journal.compact_journal`) rewrites the keys
    ``0..K-1`` in place: the first ones hold the minimal equivalent records and the rest
    :data:`STUB_RECORD`, so every log number stays readable by Optuna (which cannot skip a
    missing key). It increments ``<prefix>:trialstore:generation`` and sets
    ``<prefix>:trialstore:compacted_to`` to K. This object remembers the generation its
    position is valid under; every read fetches the generation in the same atomic step as the
    keys; under a newer generation a position below ``compacted_to`` raises
    :class:`JournalReset` (the reader reloads from the snapshot the compaction stored), while
    a position at or above it stays valid (the rewritten prefix replays to the same state).
    Appends return, in the same atomic step, the records between the writer's position and
    its own record, so a compaction can never rewrite a record its writer has not seen yet.

    ``url`` is a redis-py URL (``redis://``, ``rediss://``, ``unix://``); see
    :func:`check_redis_url` for what is checked before redis-py sees it. Nothing connects
    until the first read or write, except with ``create=False``: then the constructor checks,
    in one round trip, that a journal exists under the prefix (``<prefix>:log_number`` or
    trialstore's snapshot key), and writes nothing.

    Raises:
        ValueError: a database index that is not a non-negative integer, a port outside
            1-65535, or another URL redis-py refuses.
        ImportError: the ``redis`` package is missing (``pip install trialstore[redis]``).
        StorageNotFoundError: ``create`` is False and the prefix holds no journal.
        StorageInternalError: ``create`` is False and Redis cannot be reached.
    """

    def __init__(self, url: str, prefix: str = "", *, create: bool = True) -> None:
        check_redis_url(url)
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
        self._compact_script = self._redis.register_script(_COMPACT_SCRIPT)
        self._next = 0
        # The generation under which self._next is valid (None: any; only at position 0).
        self._gen: int | None = None
        # Records already read (atomically with an append) but not yet returned by read_new.
        self._buffer: list[tuple[int, dict[str, Any]]] = []
        self._reset_due = False
        self._hole_since: float | None = None
        if not create:
            self._check_exists()

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self._url, "prefix": self._prefix}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["prefix"])  # type: ignore[misc]

    @property
    def prefix(self) -> str:
        """The key prefix."""
        return self._prefix

    @property
    def _generation_key(self) -> str:
        """The key counting compactions (absent: 0)."""
        return f"{self._prefix}:trialstore:generation"

    @property
    def _compacted_to_key(self) -> str:
        """The key holding K of the last compaction: keys below it were rewritten."""
        return f"{self._prefix}:trialstore:compacted_to"

    @property
    def position(self) -> tuple[int, int | None]:
        """The reading position and the generation it is valid under (None: any)."""
        return self._next, self._gen

    def _key(self, log_number: int) -> str:
        return f"{self._prefix}:log:{log_number}"

    def location(self, log_number: int) -> str:
        return f"Redis journal key {self._key(log_number)!r}"

    def reset(self) -> None:
        self._next = 0
        self._gen = None
        self._buffer = []
        self._reset_due = False

    def _check_exists(self) -> None:
        import redis

        try:
            found = self._redis.exists(f"{self._prefix}:log_number", self.snapshot_key)
        except redis.RedisError as e:
            raise self._redis_error(e) from e
        if not found:
            url = "journal+" + mask_password(self._url)
            if self._prefix:
                url += "?prefix=" + urllib.parse.quote(self._prefix)
            raise StorageNotFoundError(
                f"no storage at {url}: no journal under the prefix {self._prefix!r} (no key "
                f"{self._prefix + ':log_number'!r}). A storage is created there on first use: "
                f"trialstore create-study --storage '{url}'"
            )

    def _redis_error(self, e: Exception) -> StorageInternalError:
        return StorageInternalError(
            f"Redis journal at {mask_password(self._url)} (prefix {self._prefix!r}): {e}"
        )

    # -- reading ---------------------------------------------------------------------------

    def _head(self) -> tuple[int, int, int]:
        """Return (last log number, generation, compacted_to), read atomically."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(f"{self._prefix}:log_number")
        pipe.get(self._generation_key)
        pipe.get(self._compacted_to_key)
        last, gen, compacted_to = pipe.execute()
        return _int(last, -1), _int(gen, 0), _int(compacted_to, 0)

    def _follow(self, gen: int, compacted_to: int) -> bool:
        """Adopt generation ``gen`` if the position is valid under it; return False (position
        unchanged) when a compaction rewrote keys at or after the position."""
        if self._gen == gen:
            return True
        if self._next == 0 or self._next >= compacted_to:
            self._gen = gen
            return True
        return False

    def _parse(self, n: int, value: bytes | str) -> dict[str, Any]:
        try:
            record = json.loads(value)
        except ValueError as e:
            raise StorageInternalError(f"{self.location(n)}: corrupt record ({e})") from None
        if type(record) is not dict or "op_code" not in record:
            raise StorageInternalError(
                f"{self.location(n)}: not a journal record (a JSON object with op_code)"
            )
        return record

    def _read_into(self, out: list[tuple[int, dict[str, Any]]], limit: int | None) -> bool:
        """Read new records into ``out`` (at most about ``limit``), moving the position;
        return False, having read nothing more, when the position must reset."""
        while limit is None or len(out) < limit:
            last, gen, compacted_to = self._head()
            if not self._follow(gen, compacted_to):
                return False
            if self._next > last:
                break
            numbers = range(self._next, min(last, self._next + _BATCH - 1) + 1)
            pipe = self._redis.pipeline(transaction=True)
            pipe.mget([self._key(n) for n in numbers])
            pipe.get(self._generation_key)
            values, now_gen = pipe.execute()
            if _int(now_gen, 0) != gen:
                continue  # compacted between the two round trips: decide again
            for n, value in zip(numbers, values, strict=True):
                if value is None:
                    self._wait_for_hole(n)
                    return True
                out.append((n, self._parse(n, value)))
                self._next = n + 1
            if numbers[-1] == last:
                break
        self._hole_since = None
        return True

    def read_new(self) -> list[tuple[int, dict[str, Any]]]:
        """See :meth:`BaseJournalBackend.read_new`.

        Records read atomically with this object's last append come first; if a compaction
        invalidated the position after them, they are returned and the next call raises
        :class:`JournalReset` (so that the writer sees its own record's outcome). A position
        of 0 never resets: the records read in this call are dropped and read again.
        """
        out, self._buffer = self._buffer, []
        try:
            if self._reset_due:
                if out:
                    return out
                self.reset()
                raise JournalReset
            if out:
                if not self._read_into(out, None):
                    self._reset_due = True
                return out
            start = self._next
            while not self._read_into(out, None):
                if start != 0:
                    self.reset()
                    raise JournalReset
                out.clear()
                self.reset()
            return out
        except JournalReset:
            raise
        except Exception as e:
            # The position is already past everything in ``out`` (records fetched by the last
            # append, then by this call): keep them for the next call, or they are never
            # applied (a read cut by a network partition, say).
            self._buffer = out + self._buffer
            if type(e).__module__.startswith("redis"):
                raise self._redis_error(e) from e
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

    # -- appending -------------------------------------------------------------------------

    def _run_append(self, force: bool, values: list[str]) -> list[Any]:
        gen = -1 if self._gen is None else self._gen
        args = [self._prefix, self._next, gen, 1 if force else 0, _BATCH, *values]
        result: list[Any] = self._script(args=args)
        return result

    def append(self, records: list[dict[str, Any]]) -> bool:
        """See :meth:`BaseJournalBackend.append`.

        The script also returns the records between the position and the appended ones
        (read in the same atomic step); they are kept for the next :meth:`read_new`, which
        the caller makes when this returns False. A writer more than a batch behind first
        catches up (buffering what it reads), so that the reply stays small. If its position
        was invalidated by a compaction, the records are appended anyway (after that
        compaction) and the next :meth:`read_new` raises :class:`JournalReset`.
        """
        values = [dump_redis_value(r) for r in records]
        was_due = self._reset_due
        try:
            result, forced = self._append_catching_up(values)
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise self._redis_error(e) from e
            raise
        first, gen, valid = int(result[0]), int(result[1]), int(result[3])
        if was_due or self._reset_due or not valid:
            self._buffer = []
            self._reset_due = True
            return False
        self._gen = gen
        if forced:
            return False
        return self._keep_reply(first, result[4:], records)

    def _append_catching_up(self, values: list[str]) -> tuple[list[Any], bool]:
        """Run the append script; return its reply and whether the append was forced (made
        after a compaction invalidated the position, or before catching up).

        While this writer is more than a batch behind, the script appends nothing and it
        catches up first (buffering what it reads); a catch-up that finds the position
        invalidated sets ``_reset_due`` and forces the append.
        """
        forced = self._reset_due
        for _ in range(100):
            result = self._run_append(forced, values)
            if int(result[0]) >= 0:
                return result, forced
            if not self._read_into(self._buffer, _BATCH):
                self._reset_due = True
                return self._run_append(True, values), forced
        # The log grows faster than this writer catches up: read the rest later.
        return self._run_append(True, values), True

    def _keep_reply(self, first: int, between: list[Any], records: list[dict[str, Any]]) -> bool:
        """Buffer the records the script read between the position and the appended ones
        (which start at log number ``first``), then move the position past the appended ones
        (buffered too when anything came in between); return what :meth:`append` returns.
        A hole among the records in between stops this: the position stays there, for
        :meth:`read_new`.
        """
        for n, value in enumerate(between, start=self._next):
            if not value:  # a non-atomic writer's hole: read it (and wait) the usual way
                return False
            self._buffer.append((n, self._parse(n, value)))
            self._next = n + 1
        self._next = first + len(records)
        if self._buffer:
            self._buffer.extend((first + i, record) for i, record in enumerate(records))
            return False
        return True

    # -- snapshots -------------------------------------------------------------------------

    @property
    def snapshot_key(self) -> str:
        """The key of trialstore's snapshot head (never Optuna's ``<prefix>:snapshot``)."""
        return f"{self._prefix}:trialstore:snapshot"

    def snapshot_store(self) -> RedisSnapshotStore:
        return RedisSnapshotStore(self._redis, self._prefix)

    def log_records(self) -> int:
        return self._next

    def snapshot_position(self) -> tuple[int, Any, Any]:
        if self._buffer or self._reset_due or self._gen is None:
            return self._next, None, None  # records read but not applied: no snapshot now
        return self._next, self._gen, (self._next, self._gen)

    def load_snapshot(self) -> tuple[dict[str, Any], list[bytes]] | None:
        """See :meth:`BaseJournalBackend.load_snapshot`. A head is valid if the value of its
        last covered key still has its digest and either no compaction ran since it was
        written or every one since rewrote only keys below its position; its segments must all
        be there (a writer may remove an older head's meanwhile: the head is read again)."""
        store = RedisSnapshotStore(self._redis, self._prefix)
        try:
            for _ in range(5):
                doc, covered, gen = store.read_head()
                if doc is None:
                    return None
                try:
                    names = [str(ref[0]) for ref in doc["segments"]]
                except (KeyError, TypeError, IndexError):
                    return None
                segments = store.read_segments(names)
                if segments is not None:
                    self._next, self._gen = covered, gen
                    self._buffer, self._reset_due = [], False
                    return doc, segments
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise self._redis_error(e) from e
            raise
        return None

    # -- compaction ------------------------------------------------------------------------

    def _replace_prefix(
        self,
        generation: int,
        covered: int,
        records: list[dict[str, Any]],
        head: dict[str, Any] | None,
    ) -> tuple[int, int, int, int] | None:
        """Atomically replace keys ``0..covered-1`` by ``records`` followed by stubs, and store
        ``head`` (without its position) as the snapshot head of the result up to ``covered``
        (None: remove the head); only if the generation is still ``generation`` (the caller
        replayed those keys under it).

        Returns (records_before, bytes_before, records_after, bytes_after) over the whole log
        (records without stubs; bytes as the sum of value lengths), or None when another
        compaction ran meanwhile (nothing was written).

        Raises:
            StorageInternalError: Optuna's ``<prefix>:snapshot`` exists (an Optuna process
                would restore it at a log number whose key is rewritten), or Redis failed.
        """
        values = [dump_redis_value(r) for r in records]
        if len(values) > covered:  # pragma: no cover - to_records never grows the log
            raise StorageInternalError("the compacted journal would be longer than the log")
        if covered == 0:
            last: str | None = None
        else:
            last = values[covered - 1] if len(values) == covered else STUB_RECORD
        doc = ""
        if head is not None:
            doc = json.dumps(
                {**head, "journal": _position_json(covered, generation + 1, last)},
                separators=(",", ":"),
            )
        try:
            result = self._compact_script(
                args=[self._prefix, generation, covered, STUB_RECORD, doc, *values]
            )
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise self._redis_error(e) from e
            raise
        if int(result[0]) == -2:
            raise StorageInternalError(
                f"Redis journal {self._prefix!r}: Optuna's snapshot key "
                f"{self._prefix + ':snapshot'!r} exists; it points at log numbers that "
                "compaction would rewrite. Stop the Optuna processes using this journal, delete "
                "that key (Optuna then replays the log from the start) and compact again."
            )
        if int(result[0]) == -1:
            return None
        return int(result[1]), int(result[2]), int(result[3]), int(result[4])

    def close(self) -> None:
        self._redis.close()


def _digest(value: bytes | str | None) -> str:
    """The digest a snapshot head keeps of the value of its last covered key (SHA-1, which
    the head-writing script checks with ``redis.sha1hex``)."""
    if value is None:
        return ""
    return hashlib.sha1(value if isinstance(value, bytes) else value.encode()).hexdigest()


def _position_json(covered: int, generation: int, last_value: bytes | str | None) -> Any:
    return {"log_number": covered, "generation": generation, "digest": _digest(last_value)}


class RedisSnapshotStore(SnapshotStore):
    """The snapshot of a Redis journal: the head ``<prefix>:trialstore:snapshot`` (a JSON
    document), segments ``<prefix>:trialstore:segment:<name>`` listed in the set
    ``<prefix>:trialstore:segments``, and the writers' lock ``<prefix>:trialstore:snapshot_lock``
    (a token with a 5-minute expiry). A head is written by one Lua script that checks that the
    writer still holds the lock and that the log did not move under the head's position
    (generation and digest of its last covered key), then removes the segments that neither
    the new head nor the one it replaced names.
    """

    _LOCK_TTL_MS = 300_000
    _LOCK_WAIT_S = 60.0

    def __init__(self, client: Any, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._token = ""

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Report Redis' errors as StorageInternalError naming the prefix."""
        try:
            yield
        except Exception as e:
            if type(e).__module__.startswith("redis"):
                raise StorageInternalError(
                    f"Redis journal snapshot (prefix {self._prefix!r}): {e}"
                ) from e
            raise

    def _key(self, what: str) -> str:
        return f"{self._prefix}:trialstore:{what}"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[bool]:
        token = uuid.uuid4().hex
        lock = self._key("snapshot_lock")
        deadline = time.monotonic() + self._LOCK_WAIT_S
        with self._errors():
            while not self._redis.set(lock, token, nx=True, px=self._LOCK_TTL_MS):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            else:
                self._token = token
        if self._token != token:
            yield False
            return
        try:
            yield True
        finally:
            self._token = ""
            with contextlib.suppress(Exception):  # it expires by itself
                self._redis.eval(_UNLOCK_SCRIPT, 1, lock, token)

    def read_head(self) -> tuple[dict[str, Any] | None, int, Any]:
        with self._errors():
            return self._read_head_unwrapped()

    def _read_head_unwrapped(self) -> tuple[dict[str, Any] | None, int, Any]:
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(self._key("snapshot"))
        pipe.get(self._key("generation"))
        pipe.get(self._key("compacted_to"))
        raw, raw_gen, raw_compacted_to = pipe.execute()
        gen, compacted_to = _int(raw_gen, 0), _int(raw_compacted_to, 0)
        if raw is None:
            return None, 0, gen
        try:
            doc = json.loads(raw)
            where = doc["journal"]
            covered = int(where["log_number"])
            if int(where["generation"]) != gen and covered < compacted_to:
                return None, 0, gen
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(f"{self._prefix}:log:{covered - 1}" if covered else self._key("snapshot"))
            pipe.get(self._key("generation"))
            last_value, now_gen = pipe.execute()
            if _int(now_gen, 0) != gen:
                return None, 0, _int(now_gen, 0)  # compacted meanwhile
            if _digest(last_value if covered else None) != where["digest"]:
                return None, 0, gen
        except (ValueError, KeyError, TypeError, AttributeError):
            return None, 0, gen
        if not isinstance(doc, dict):
            return None, 0, gen
        return doc, covered, gen

    def read_segments(self, names: list[str]) -> list[bytes] | None:
        with self._errors():
            return self._read_segments_unwrapped(names)

    def _read_segments_unwrapped(self, names: list[str]) -> list[bytes] | None:
        if not names:
            return []
        values = self._redis.mget([self._key(f"segment:{name}") for name in names])
        if any(value is None for value in values):
            return None
        return [bytes(value) for value in values]

    def write_segment(self, data: bytes) -> str | None:
        with self._errors():
            return self._write_segment_unwrapped(data)

    def _write_segment_unwrapped(self, data: bytes) -> str | None:
        name = uuid.uuid4().hex
        pipe = self._redis.pipeline(transaction=True)
        pipe.sadd(self._key("segments"), name)
        pipe.set(self._key(f"segment:{name}"), data)
        pipe.execute()
        return name

    def write_head(self, head: dict[str, Any], position: Any, keep: set[str]) -> bool:
        with self._errors():
            return self._write_head_unwrapped(head, position, keep)

    def _write_head_unwrapped(self, head: dict[str, Any], position: Any, keep: set[str]) -> bool:
        covered, generation = position
        last = self._redis.get(f"{self._prefix}:log:{covered - 1}") if covered else None
        where = _position_json(covered, generation, last)
        doc = json.dumps({**head, "journal": where}, separators=(",", ":"))
        result = self._redis.eval(
            _WRITE_HEAD_SCRIPT,
            0,
            self._prefix,
            self._token,
            generation,
            covered,
            where["digest"],
            doc,
            *sorted(keep),
        )
        return int(result) == 1
