"""The settings of one stress run, and the two tiers' presets."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FAULT_KINDS", "TIERS", "StressConfig"]

#: Every fault the harness knows how to inject.
FAULT_KINDS = ("kill", "server-restart", "partition", "lock-holder-stop")

#: Preset per tier: workers, hosts, duration (s), mean seconds between kills, mean seconds
#: between server restarts, trials per study. The full tier's hour gives ~2000 kills and ~60
#: restarts; at this machine's rates it creates well over 10^5 trials.
TIERS: dict[str, dict[str, float]] = {
    "smoke": {"workers": 4, "hosts": 1, "duration": 12.0, "fault_every": 1.0,
              "restart_every": 8.0, "trials_per_study": 150},
    "full": {"workers": 32, "hosts": 3, "duration": 3600.0, "fault_every": 1.5,
             "restart_every": 60.0, "trials_per_study": 500},
}  # fmt: skip


@dataclass
class StressConfig:
    """One stress run.

    ``storage``: a storage URL, or ``stress-memory://`` / ``stress-memory://KIND`` for an
    in-memory store (KIND a broken flaw name) that the harness serves to its workers.
    ``mode``: ``"process"`` (workers are OS processes; needed for any fault) or ``"thread"``
    (threads sharing one storage object: quick checks of the checkers).
    ``restart_mode``: how ``server-restart`` restarts a database: ``"real"`` (the server
    process; only the full tier defaults to it), ``"sessions"`` (terminate every connection to
    the run's database: what clients see of a restart, without touching other databases) or
    ``"fake"`` (call ``restart_hook`` only; for tests).
    ``serve_grpc``: run a gRPC proxy in front of ``storage`` and point the workers at it; its
    SIGKILL and restart is then the ``server-restart`` fault.
    """

    storage: str
    workers: int = 4
    hosts: int = 1
    duration: float = 12.0
    faults: tuple[str, ...] = ()
    seed: int = 0
    report_dir: str | None = None
    tier: str = "smoke"
    mode: str = "process"
    heartbeat_interval: float | None = 1.0
    grace_period: float | None = None
    fault_every: float = 1.0
    restart_every: float = 8.0
    trials_per_study: int = 150
    restart_mode: str = "sessions"
    serve_grpc: bool = False
    progress: bool = True
    lock_stop_seconds: float = 2.0
    partition_seconds: float = 2.0
    storage_kwargs: dict[str, object] = field(default_factory=dict)
    think_time: float = 0.0
    #: Draw report.png (needs matplotlib, extra ``stress``; takes seconds on a busy machine).
    png: bool = True

    def validate(self) -> None:
        """Raise ValueError for settings that make no sense."""
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULT_KINDS)}")
        if self.workers < 1 or self.hosts < 1 or self.duration <= 0:
            raise ValueError("workers and hosts must be >= 1 and duration > 0")
        if self.hosts > 60:
            raise ValueError("at most 60 hosts (198.18.0.0/24 split in /30 links)")
        if self.mode not in ("process", "thread"):
            raise ValueError("mode must be 'process' or 'thread'")
        if self.mode == "thread" and (self.faults or self.hosts > 1):
            raise ValueError("faults and hosts need mode='process'")
        if self.restart_mode not in ("real", "sessions", "fake"):
            raise ValueError("restart_mode must be 'real', 'sessions' or 'fake'")
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {sorted(TIERS)}")
