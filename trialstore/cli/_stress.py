"""``trialstore stress``: run the stress and fault-injection harness against a storage."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING, Any

from trialstore.cli._errors import UsageError

if TYPE_CHECKING:
    from trialstore.stress import StressConfig

__all__ = ["config_from_args", "register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``stress`` sub-command to ``subparsers``."""
    parser = subparsers.add_parser(
        "stress",
        help="hammer a storage with worker processes and faults, then check its invariants",
        description=(
            "Run worker processes (optionally on several simulated hosts) against a storage, "
            "inject faults, check the invariants of docs/reliability.md on the recorded "
            "history and the final contents, and write a report (report.json, report.png, "
            "summary.txt). Exit code 0: no violation; 1: violations; 2: bad arguments. "
            "Use a storage that holds nothing you care about: the run creates studies named "
            "stress-*. Faults, hosts and server restarts need root. SIGTERM or Ctrl-C ends "
            "the run early and still checks and reports it; a second one aborts."
        ),
    )
    parser.add_argument(
        "--storage",
        required=True,
        metavar="URL",
        help="storage URL, or stress-memory:// (an in-memory store the harness "
        "serves) or stress-memory://FLAW (a deliberately broken one)",
    )
    parser.add_argument("--workers", type=int, help="worker processes (default: per tier)")
    parser.add_argument(
        "--hosts", type=int, help="simulated hosts (network namespaces; default: per tier)"
    )
    parser.add_argument("--duration", type=float, help="seconds (default: per tier)")
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated: kill,server-restart,partition,lock-holder-stop,failover "
        "(failover: with a PostgreSQL --storage, whose user and database only count, the "
        "harness builds a primary and a synchronous standby of its own and fails over "
        "between them; needs the PostgreSQL server binaries)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="report directory (default: a new temporary directory, printed at the end)",
    )
    parser.add_argument("--tier", choices=["smoke", "full"], default="smoke")
    parser.add_argument(
        "--fault-every", type=float, help="mean seconds between kills (other faults are rarer)"
    )
    parser.add_argument(
        "--restart-every", type=float, help="mean seconds between server restarts or failovers"
    )
    parser.add_argument(
        "--lock-stop-seconds",
        type=float,
        default=2.0,
        help="how long lock-holder-stop keeps the lock holder stopped",
    )
    parser.add_argument(
        "--partition-seconds", type=float, default=2.0, help="how long a partition cuts a host off"
    )
    parser.add_argument("--trials-per-study", type=int)
    parser.add_argument(
        "--heartbeat-interval", type=float, default=1.0, help="seconds; 0 turns heartbeats off"
    )
    parser.add_argument("--grace-period", type=float)
    parser.add_argument(
        "--restart-mode",
        choices=["real", "sessions", "fake"],
        help="server-restart: restart the server process (real; default of "
        "the full tier), or terminate the run database's sessions (sessions; "
        "default of the smoke tier), or do nothing (fake)",
    )
    parser.add_argument(
        "--serve-grpc",
        action="store_true",
        help="run a gRPC proxy in front of --storage; server-restart then "
        "SIGKILLs and restarts the proxy",
    )
    parser.add_argument("--mode", choices=["process", "thread"], default="process")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)  # fmt: skip


#: Fields of StressConfig whose option is not ``--`` + the field with dashes.
_OPTIONS = {"report_dir": "--report", "progress": "--no-progress"}


def _option(field_name: str) -> str:
    """The option that sets StressConfig field ``field_name`` (for error messages)."""
    return _OPTIONS.get(field_name, "--" + field_name.replace("_", "-"))


def _given(value: Any, default: Any) -> Any:
    """``value`` if the option was given (0 included), else the tier's ``default``."""
    return default if value is None else value


def config_from_args(args: argparse.Namespace) -> StressConfig:
    """The validated StressConfig the arguments ask for; options not given take the tier's
    value. Starts and creates nothing.

    Raises:
        UsageError: an option is out of range, unknown or contradicts another (the message
            names the option, the value given and what is allowed).
    """
    from trialstore.stress import TIERS, StressConfig

    tier = TIERS[args.tier]
    heartbeat = args.heartbeat_interval
    if not (math.isfinite(heartbeat) and heartbeat >= 0):
        raise UsageError(
            "--heartbeat-interval must be a finite number of seconds >= 0 (0: heartbeats off), "
            f"got {heartbeat!r}"
        )
    if heartbeat == 0 and args.grace_period is not None:
        raise UsageError(
            f"--grace-period needs heartbeats on, got --grace-period {args.grace_period!r} with "
            "--heartbeat-interval 0 (off)"
        )
    config = StressConfig(
        storage=args.storage,
        workers=_given(args.workers, int(tier["workers"])),
        hosts=_given(args.hosts, int(tier["hosts"])),
        duration=_given(args.duration, tier["duration"]),
        faults=tuple(f.strip() for f in args.faults.split(",") if f.strip()),
        seed=args.seed,
        report_dir=args.report,
        tier=args.tier,
        mode=args.mode,
        heartbeat_interval=heartbeat or None,
        grace_period=args.grace_period,
        fault_every=_given(args.fault_every, tier["fault_every"]),
        restart_every=_given(args.restart_every, tier["restart_every"]),
        trials_per_study=_given(args.trials_per_study, int(tier["trials_per_study"])),
        restart_mode=args.restart_mode or ("real" if args.tier == "full" else "sessions"),
        serve_grpc=args.serve_grpc,
        lock_stop_seconds=args.lock_stop_seconds,
        partition_seconds=args.partition_seconds,
        progress=not args.no_progress,
    )
    try:
        config.validate(_option)
    except ValueError as e:
        raise UsageError(str(e)) from e
    return config


def run(args: argparse.Namespace) -> int:
    """Run the harness; return 0 (no violation) or 1 (violations).

    Raises:
        UsageError: bad arguments (exit code 2), before anything is started or created.
    """
    from trialstore.stress import run_stress

    result = run_stress(config_from_args(args))
    print((result.report_dir / "summary.txt").read_text(), end="")
    print(f"report: {result.report_dir}")
    return 1 if result.violations else 0
