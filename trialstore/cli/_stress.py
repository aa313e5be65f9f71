"""``trialstore stress``: run the stress and fault-injection harness against a storage."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]


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
        help="comma-separated: kill,server-restart,partition,lock-holder-stop",
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
    parser.add_argument("--restart-every", type=float, help="mean seconds between server restarts")
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


def run(args: argparse.Namespace) -> int:
    """Run the harness; return 0 (no violation), 1 (violations) or 2 (bad arguments)."""
    from trialstore.stress import TIERS, StressConfig, run_stress

    tier = TIERS[args.tier]
    faults = tuple(f for f in args.faults.split(",") if f)
    config = StressConfig(
        storage=args.storage,
        workers=args.workers or int(tier["workers"]),
        hosts=args.hosts or int(tier["hosts"]),
        duration=args.duration or tier["duration"],
        faults=faults,
        seed=args.seed,
        report_dir=args.report,
        tier=args.tier,
        mode=args.mode,
        heartbeat_interval=args.heartbeat_interval or None,
        grace_period=args.grace_period,
        fault_every=args.fault_every or tier["fault_every"],
        restart_every=args.restart_every or tier["restart_every"],
        trials_per_study=args.trials_per_study or int(tier["trials_per_study"]),
        restart_mode=args.restart_mode or ("real" if args.tier == "full" else "sessions"),
        serve_grpc=args.serve_grpc,
        lock_stop_seconds=args.lock_stop_seconds,
        partition_seconds=args.partition_seconds,
        progress=not args.no_progress,
    )
    try:
        config.validate()
    except ValueError as e:
        print(f"trialstore stress: error: {e}", file=sys.stderr)
        return 2
    result = run_stress(config)
    print((result.report_dir / "summary.txt").read_text(), end="")
    print(f"report: {result.report_dir}")
    return 1 if result.violations else 0
