"""Fault injectors and the schedule that fires them during a run.

Each injector returns a :class:`FaultEvent` (or None when it found nothing to act on); the
report turns events plus the history into recovery times.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trialstore.stress._config import FaultKind
from trialstore.stress._netns import Hosts
from trialstore.stress._pg_pair import ReplicatedPair
from trialstore.stress._pool import WorkerPool, WorkerSlot
from trialstore.stress._servers import RestartHook

__all__ = ["REBUILD_AFTER_S", "FaultEvent", "FaultSchedule", "fail_over", "holds_lock"]

#: Seconds a new primary runs alone after a failover before the old one is rebuilt as its
#: standby (commits meanwhile are acknowledged by the new primary alone, and no failover
#: fires until the standby follows synchronously again).
REBUILD_AFTER_S = 1.0


@dataclass
class FaultEvent:
    """One injected fault. Times are ``monotonic_ns``; ``affected`` lists the worker names
    whose progress measures recovery (empty: all workers)."""

    kind: FaultKind
    target: str
    t_start: int
    t_end: int
    affected: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain data."""
        return asdict(self)


def holds_lock(pid: int, locks: str | None = None) -> bool:
    """Whether process ``pid`` holds a POSIX or flock lock (per ``/proc/locks``)."""
    text = locks if locks is not None else Path("/proc/locks").read_text()
    for line in text.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 5 and fields[4] == str(pid):
            return True
    return False


def _pick(rng: random.Random, slots: list[WorkerSlot]) -> WorkerSlot | None:
    candidates = [s for s in slots if not s.stopped]
    return rng.choice(candidates) if candidates else None


def kill_worker(pool: WorkerPool, rng: random.Random) -> FaultEvent | None:
    """SIGKILL a random working worker (most of a worker's time is spent inside a storage
    call, so this is nearly always mid-operation) and start its replacement.

    Does nothing (returns None) while fewer than half of the workers are working, so that a
    slow machine's start-up times cannot starve the run.
    """
    working = pool.working()
    if len(working) * 2 < len(pool.slots):
        return None  # most replacements are still starting: let the run make progress
    slot = _pick(rng, working)
    if slot is None:
        return None
    name = slot.name
    t = pool.kill(slot)
    return FaultEvent("kill", name, t, t, affected=[slot.name], details={"replacement": slot.name})


def stop_lock_holder(
    pool: WorkerPool,
    rng: random.Random,
    hold_s: float,
    *,
    tries: int = 300,
    wait: Callable[[float], None] = time.sleep,
) -> FaultEvent | None:
    """SIGSTOP a worker while it holds a file lock, keep it stopped ``hold_s`` seconds
    (waiting with ``wait``), then alternately SIGCONT or SIGKILL it.

    Workers are stopped at random instants until one is caught holding a lock (per
    ``/proc/locks``); if none is caught within ``tries`` attempts (the storage uses no OS
    lock) the last stopped worker is kept stopped anyway and the event says
    ``lock_held: False``.
    """
    slot: WorkerSlot | None = None
    caught = False
    for _ in range(tries):
        slot = _pick(rng, pool.working())
        if slot is None or slot.proc is None:
            return None
        os.kill(slot.proc.pid, signal.SIGSTOP)
        time.sleep(0.002)  # let the stop land
        if holds_lock(slot.proc.pid):
            caught = True
            break
        os.kill(slot.proc.pid, signal.SIGCONT)
        time.sleep(rng.uniform(0, 0.01))
    if slot is None or slot.proc is None:
        return None
    if not caught:
        os.kill(slot.proc.pid, signal.SIGSTOP)
    slot.stopped = True
    t_start = time.monotonic_ns()
    wait(hold_s)
    others = [s.name for s in pool.live() if s is not slot]
    name = slot.name
    resume = "kill" if rng.random() < 0.5 else "cont"
    if resume == "kill":
        t_end = pool.kill(slot)
    else:
        os.kill(slot.proc.pid, signal.SIGCONT)
        slot.stopped = False
        t_end = time.monotonic_ns()
    return FaultEvent("lock-holder-stop", name, t_start, t_end, affected=others,
                      details={"lock_held": caught, "resumed_by": resume})  # fmt: skip


def restart_server(hook: RestartHook, target: str) -> FaultEvent:
    """Run the restart hook."""
    t_start = time.monotonic_ns()
    try:
        details = hook()
    except Exception as e:  # the run goes on; the report shows the failure
        details = {"error": f"{type(e).__name__}: {e}"[:300]}
    return FaultEvent("server-restart", target, t_start, time.monotonic_ns(), details=details)


def partition_host(
    hosts: Hosts,
    pool: WorkerPool,
    rng: random.Random,
    cut_s: float,
    wait: Callable[[float], None] = time.sleep,
) -> FaultEvent | None:
    """Cut a random host's link for ``cut_s`` seconds (waiting with ``wait``), then restore
    it."""
    host = rng.randrange(hosts.count)
    affected = [s.name for s in pool.live() if s.host == host]
    t_start = time.monotonic_ns()
    hosts.partition(host)
    try:
        wait(cut_s)
    finally:
        hosts.heal(host)
    return FaultEvent(
        "partition",
        f"host{host}",
        t_start,
        time.monotonic_ns(),
        affected=[s.name for s in pool.live() if s.host == host] or affected,
    )


def fail_over(
    pair: ReplicatedPair,
    workers: Callable[[], list[str]],
    wait: Callable[[float], None] = time.sleep,
    rebuild_after: float = REBUILD_AFTER_S,
) -> FaultEvent | None:
    """Kill the pair's primary and promote its standby; then, after ``rebuild_after`` seconds
    (waiting with ``wait``), rebuild the old primary as the new standby, so that the next
    failover finds the pair whole again.

    The event runs from the kill (``t_start``) to the promotion (``t_end``); ``affected`` are
    the ``workers()`` at the kill; ``details`` hold the nodes, ``promote_s``, and how and when
    (``rebuilt_s`` after the kill) the old primary was rebuilt, or ``rebuild_error``. Does
    nothing (returns None) while the pair has no synchronous standby: failing over then would
    lose acknowledged commits by design.
    """
    if not pair.healthy:
        return None
    affected = workers()
    t_start = time.monotonic_ns()
    try:
        details = pair.fail_over()
    except Exception as e:  # the run goes on; the report shows the failure
        return FaultEvent("failover", "primary", t_start, time.monotonic_ns(), affected,
                          {"error": f"{type(e).__name__}: {e}"[:500]})  # fmt: skip
    t_kill, t_promoted = details.pop("t_kill"), details.pop("t_promoted")
    wait(rebuild_after)
    try:
        details.update(pair.rebuild())
        details["rebuilt_s"] = round((time.monotonic_ns() - t_kill) / 1e9, 3)
    except Exception as e:
        details["rebuild_error"] = f"{type(e).__name__}: {e}"[:500]
    target = f"{details['old_primary']}->{details['new_primary']}"
    return FaultEvent("failover", target, t_kill, t_promoted, affected, details)


#: Fault kinds that take no time of their own: they may fire while a long fault holds.
INSTANT_KINDS = ("kill",)


@dataclass
class FaultSchedule:
    """Fires each enabled fault kind at its own period (jittered).

    Faults that last (a stopped lock holder, a cut link, a restart) run one at a time; while
    one holds, it waits through :meth:`idle`, which keeps firing the instant ones (kills) as
    they fall due, so a long fault does not take its time off the kill rate.
    """

    actions: dict[str, Callable[[], FaultEvent | None]]
    periods: dict[str, float]
    rng: random.Random
    lengths: dict[str, float] = field(default_factory=dict)
    events: list[FaultEvent] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    _due: dict[str, float] = field(default_factory=dict)
    _until: float = 0.0

    def start(self, now: float, until: float) -> None:
        """Plan the first fault of each kind (early enough that a short run sees each)."""
        self._until = until
        span = max(0.0, until - now)
        for kind, period in self.periods.items():
            first = min(period, max(0.0, span - self.lengths.get(kind, 0.0) - 1.0) / 2)
            self._due[kind] = now + first * self.rng.uniform(0.3, 1.0)

    def tick(
        self, now: float, until: float, kinds: Collection[str] | None = None
    ) -> FaultEvent | None:
        """Fire the most overdue fault (of ``kinds``, default all) if any is due (and it can
        finish, plus one second to see the recovery, before ``until``)."""
        due = [(t, k) for k, t in self._due.items() if t <= now and (kinds is None or k in kinds)]
        if not due:
            return None
        _, kind = min(due)
        self._due[kind] = now + self.periods[kind] * self.rng.uniform(0.5, 1.5)
        if now + self.lengths.get(kind, 0.0) + 1.0 > until:
            return None  # too close to the end to see the recovery
        event = self.actions[kind]()
        if event is not None:
            self.events.append(event)
        return event

    def idle(self, seconds: float) -> None:
        """Wait ``seconds`` (a long fault holding), firing the instant faults that fall due."""
        end = time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            self.tick(now, self._until, INSTANT_KINDS)
            time.sleep(min(0.01, end - now))
