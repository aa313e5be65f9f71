"""The settings of one stress run, and the two tiers' presets."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlsplit

from trialstore.storage import SCHEME_FACTORIES, mask_password
from trialstore.stress.broken import BROKEN_STORAGES

__all__ = ["FAULT_KINDS", "MAX_HOSTS", "MEMORY_SCHEME", "MODES", "RESTART_MODES",
           "THREAD_FAULTS", "TIERS", "FaultKind", "RestartMode", "StressConfig", "Tier",
           "WorkerMode", "is_postgresql"]  # fmt: skip

#: A fault the harness knows how to inject.
FaultKind = Literal["kill", "server-restart", "partition", "lock-holder-stop", "failover"]
#: How workers run: OS processes (needed for any fault) or threads sharing one storage.
WorkerMode = Literal["process", "thread"]
#: How ``server-restart`` restarts a database (see :class:`StressConfig`).
RestartMode = Literal["real", "sessions", "fake"]
#: A preset of :data:`TIERS`.
Tier = Literal["smoke", "full"]

#: Every fault the harness knows how to inject.
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
#: Faults that need no worker process (they act on the database): thread mode runs them.
THREAD_FAULTS: tuple[FaultKind, ...] = ("failover",)
#: Every value of ``StressConfig.mode``.
MODES: tuple[WorkerMode, ...] = get_args(WorkerMode)
#: Every value of ``StressConfig.restart_mode``.
RESTART_MODES: tuple[RestartMode, ...] = get_args(RestartMode)
#: Most simulated hosts: 198.18.0.0/24 split in /30 links.
MAX_HOSTS = 60
#: The storage "URL" of an in-memory store the harness serves: ``stress-memory://`` (correct)
#: or ``stress-memory://FLAW`` (FLAW a key of ``trialstore.stress.broken.BROKEN_STORAGES``).
MEMORY_SCHEME = "stress-memory://"

#: Preset per tier: workers, hosts, duration (s), mean seconds between kills, mean seconds
#: between server restarts, trials per study. The full tier's hour gives ~2000 kills and ~60
#: restarts; at this machine's rates it creates well over 10^5 trials.
TIERS: dict[Tier, dict[str, float]] = {
    "smoke": {"workers": 4, "hosts": 1, "duration": 12.0, "fault_every": 1.0,
              "restart_every": 8.0, "trials_per_study": 150},
    "full": {"workers": 32, "hosts": 3, "duration": 3600.0, "fault_every": 1.5,
             "restart_every": 60.0, "trials_per_study": 500},
}  # fmt: skip


@dataclass
class StressConfig:
    """One stress run.

    ``storage``: a storage URL, or ``stress-memory://`` / ``stress-memory://FLAW`` for an
    in-memory store (FLAW a key of :data:`trialstore.stress.broken.BROKEN_STORAGES`) that the
    harness serves to its workers.
    ``mode``: ``"process"`` (workers are OS processes; needed for any fault) or ``"thread"``
    (threads sharing one storage object: quick checks of the checkers).
    ``restart_mode``: how ``server-restart`` restarts a database: ``"real"`` (the server
    process; only the full tier defaults to it), ``"sessions"`` (terminate every connection to
    the run's database: what clients see of a restart, without touching other databases) or
    ``"fake"`` (call ``restart_hook`` only; for tests).
    ``serve_grpc``: run a gRPC proxy in front of ``storage`` and point the workers at it; its
    SIGKILL and restart is then the ``server-restart`` fault.
    ``faults`` with ``"failover"``: ``storage`` must be a PostgreSQL URL, of which only the user
    and the database count: the harness builds a replicated pair of its own (a primary and a
    synchronous standby, see :mod:`trialstore.stress._pg_pair`), the workers reach both with
    one URL, and the fault, every ``restart_every`` seconds on average, SIGKILLs the primary,
    promotes the standby and then rebuilds the old primary as the new standby. It runs in
    thread mode too (it needs no worker process), and not with ``server-restart`` nor
    ``serve_grpc``.
    """

    storage: str
    workers: int = 4
    hosts: int = 1
    duration: float = 12.0
    faults: tuple[FaultKind, ...] = ()
    seed: int = 0
    report_dir: str | None = None
    tier: Tier = "smoke"
    mode: WorkerMode = "process"
    heartbeat_interval: float | None = 1.0
    grace_period: float | None = None
    fault_every: float = 1.0
    restart_every: float = 8.0
    trials_per_study: int = 150
    restart_mode: RestartMode = "sessions"
    serve_grpc: bool = False
    progress: bool = True
    lock_stop_seconds: float = 2.0
    partition_seconds: float = 2.0
    storage_kwargs: dict[str, object] = field(default_factory=dict)
    think_time: float = 0.0
    #: Draw report.png (needs matplotlib, extra ``stress``; takes seconds on a busy machine).
    png: bool = True

    def validate(self, name: Callable[[str], str] = str) -> None:
        """Check every setting; raise ValueError naming the first wrong one, the value given
        and what is allowed. Starts and creates nothing.

        ``name`` turns a field name into the name the message uses (the command line passes
        one that gives its option names, e.g. ``--workers`` for ``workers``).

        Raises:
            ValueError: a setting is out of range, unknown, or contradicts another.
        """
        _check_storage(self.storage, name("storage"))
        if self.serve_grpc and self.storage.startswith(MEMORY_SCHEME):
            raise ValueError(
                f"{name('serve_grpc')} needs a storage URL to serve; {MEMORY_SCHEME} is "
                "served by the harness itself"
            )
        _check_count(self.workers, name("workers"))
        _check_count(self.hosts, name("hosts"), most=MAX_HOSTS,
                     why="198.18.0.0/24 split in /30 links")  # fmt: skip
        _check_count(self.trials_per_study, name("trials_per_study"))
        for field_name in ("duration", "fault_every", "restart_every", "lock_stop_seconds",
                           "partition_seconds"):  # fmt: skip
            _check_seconds(getattr(self, field_name), name(field_name))
        _check_seconds(self.think_time, name("think_time"), zero=True)
        _check_heartbeats(self.heartbeat_interval, self.grace_period, name)
        _check_faults(self.faults, name("faults"))
        _check_choice(self.mode, name("mode"), MODES)
        _check_choice(self.restart_mode, name("restart_mode"), RESTART_MODES)
        _check_choice(self.tier, name("tier"), tuple(TIERS))
        process_faults = [f for f in self.faults if f not in THREAD_FAULTS]
        if self.mode == "thread" and process_faults:
            raise ValueError(
                f"{name('faults')} {','.join(process_faults)} needs {name('mode')} process "
                f"(thread mode starts no process to fault), got {name('mode')} thread"
            )
        if "failover" in self.faults:
            _check_failover(self, name)
        if self.mode == "thread" and self.hosts > 1:
            raise ValueError(
                f"{name('hosts')} {self.hosts} needs {name('mode')} process (thread mode runs "
                f"on this host only), got {name('mode')} thread"
            )


def is_postgresql(url: str) -> bool:
    """Whether ``url`` is a PostgreSQL URL (``postgresql://``, ``postgres://``, any driver)."""
    return url.partition("://")[0].lower().split("+")[0] in ("postgresql", "postgres")


def _check_failover(config: StressConfig, name: Callable[[str], str]) -> None:
    if not is_postgresql(config.storage):
        raise ValueError(
            f"{name('faults')} failover needs a PostgreSQL {name('storage')} (its user and "
            "database name the harness's replicated pair), got "
            f"{mask_password(config.storage)!r}"
        )
    if not urlsplit(config.storage).path.strip("/"):
        raise ValueError(
            f"{name('faults')} failover needs a database name in {name('storage')} (the "
            f"harness creates it on its pair), got {mask_password(config.storage)!r}"
        )
    if "server-restart" in config.faults:
        raise ValueError(
            f"{name('faults')} failover and server-restart cannot be combined (the pair's "
            "servers are the harness's; a failover already kills the primary)"
        )
    if config.serve_grpc:
        raise ValueError(f"{name('faults')} failover cannot be combined with {name('serve_grpc')}")


def _check_heartbeats(
    interval: float | None, grace_period: float | None, name: Callable[[str], str]
) -> None:
    if interval is not None:
        _check_seconds(interval, name("heartbeat_interval"), off="None: heartbeats off")
    if grace_period is not None:
        _check_seconds(grace_period, name("grace_period"))
        if interval is None:
            raise ValueError(
                f"{name('grace_period')} needs heartbeats on, got {name('grace_period')} "
                f"{grace_period!r} with {name('heartbeat_interval')} None (off)"
            )


def _check_faults(faults: Sequence[object], field_name: str) -> None:
    if isinstance(faults, str):
        raise ValueError(f"{field_name} must be a sequence of fault names, got the str {faults!r}")
    for fault in faults:
        if fault not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault {fault!r} in {field_name}; known: {', '.join(FAULT_KINDS)}"
            )


def _check_storage(url: object, field_name: str) -> None:
    schemes = ", ".join([MEMORY_SCHEME] + [f"{s}://" for s in sorted(SCHEME_FACTORIES)])
    if not isinstance(url, str) or "://" not in url:
        shown = mask_password(url) if isinstance(url, str) else url
        raise ValueError(
            f"{field_name} must be a storage URL (SCHEME://...), got {shown!r}; "
            f"known schemes: {schemes}"
        )
    if url.startswith(MEMORY_SCHEME):
        flaw = url[len(MEMORY_SCHEME) :].strip("/")
        if flaw not in ("", "memory") and flaw not in BROKEN_STORAGES:
            raise ValueError(
                f"unknown stress-memory flaw {flaw!r} in {field_name}; known: "
                f"{', '.join(sorted(BROKEN_STORAGES))} ({MEMORY_SCHEME} alone: a correct "
                "in-memory store)"
            )
        return
    scheme = url.partition("://")[0].lower()
    if scheme not in SCHEME_FACTORIES and scheme.split("+")[0] not in SCHEME_FACTORIES:
        raise ValueError(
            f"unknown storage scheme {scheme!r} in {field_name} {mask_password(url)!r}; "
            f"known: {schemes}"
        )


def _check_count(value: object, field_name: str, most: int | None = None, why: str = "") -> None:
    kind = "an integer "
    if isinstance(value, int) and not isinstance(value, bool):
        if 1 <= value and (most is None or value <= most):
            return
        kind = ""
    allowed = ">= 1" if most is None else f"between 1 and {most} ({why})"
    raise ValueError(f"{field_name} must be {kind}{allowed}, got {value!r}")


def _check_seconds(
    value: object, field_name: str, *, zero: bool = False, off: str | None = None
) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        if value > 0 or (zero and value == 0):
            return
    allowed = ">= 0" if zero else "> 0"
    alternative = f" ({off})" if off else ""
    raise ValueError(
        f"{field_name} must be a finite number of seconds {allowed}{alternative}, got {value!r}"
    )


def _check_choice(value: object, field_name: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{field_name} must be one of {', '.join(allowed)}, got {value!r}")
