"""One stress run from start to report: :func:`run_stress`."""

from __future__ import annotations

import contextlib
import functools
import json
import random
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from trialstore.storage import mask_password
from trialstore.storage.base import BaseStorage
from trialstore.stress import _faults
from trialstore.stress._checkers import CheckContext, Invariant
from trialstore.stress._config import MEMORY_SCHEME, StressConfig
from trialstore.stress._faults import FaultEvent, FaultSchedule
from trialstore.stress._history import HistoryWriter, Op, load_history
from trialstore.stress._interrupt import StopRequest
from trialstore.stress._netns import Hosts, host_url
from trialstore.stress._pg_pair import ReplicatedPair
from trialstore.stress._pool import WorkerPool
from trialstore.stress._report import OpStats, build_report, write_json, write_png, write_summary
from trialstore.stress._servers import GrpcProxyProcess, restart_hook_for
from trialstore.stress._snapshot import snapshot_storage
from trialstore.stress._spill import check_history_dir
from trialstore.stress._target import StorageTarget
from trialstore.stress._workload import WorkloadConfig, run_workload

__all__ = ["StressResult", "recheck", "run_stress"]

_FILE_SCHEMES = ("journal", "sqlite")  # whole schemes: journal+redis is networked
#: Seconds a failover fault may hold the schedule: kill, promotion, the new primary alone for
#: REBUILD_AFTER_S, the rebuild of the old primary (about a second here), and some slack.
_FAILOVER_LENGTH_S = 6.0


@dataclass
class _Pair:
    """The replicated PostgreSQL pair of a ``failover`` run, and how its URLs are made."""

    pair: ReplicatedPair
    database: str
    driver: str

    def url(self, address: str = "127.0.0.1") -> str:
        """The URL of the run's database on both nodes, reached at ``address``."""
        return self.pair.url(self.database, address, self.driver)


@dataclass
class StressResult:
    """What a run produced: the report (every figure), its files, and the raw material."""

    report: dict[str, Any]
    report_dir: Path
    invariants: list[Invariant]
    events: list[FaultEvent]

    @property
    def ops(self) -> list[Op]:
        """Every recorded operation, by invoke time (read from ``history/`` at each call:
        a long run's history may not fit in memory)."""
        return load_history(self.report_dir / "history")

    @property
    def violations(self) -> int:
        """Total violations over every invariant."""
        return sum(inv.violation_count for inv in self.invariants)

    def violated(self) -> set[str]:
        """Names of the violated invariants."""
        return {inv.name for inv in self.invariants if inv.violation_count}


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower().split("+")[0]


def _storage_kwargs(config: StressConfig) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(config.storage_kwargs)
    if _scheme(config.storage) in ("grpc", "grpcs"):
        return kwargs  # the proxy's storage has its own heartbeat settings
    if config.heartbeat_interval is not None:
        kwargs.setdefault("heartbeat_interval", config.heartbeat_interval)
        if config.grace_period is not None:
            kwargs.setdefault("grace_period", config.grace_period)
    return kwargs


def run_stress(
    config: StressConfig, *, storage: BaseStorage | None = None, restart_fake: Any = None
) -> StressResult:
    """Run the workload with the configured faults, check every invariant, write the report.

    ``storage`` (thread mode only) is used as is instead of opening ``config.storage``.
    ``restart_fake`` is the callable the ``"fake"`` restart mode calls. With the ``failover``
    fault, the harness first builds a replicated PostgreSQL pair of its own with the user and
    database of ``config.storage``; the workers and the final snapshot use both of its servers
    through one URL, and the pair is removed at the end (also after an error or a signal).

    Returns the :class:`StressResult`; the report directory holds ``report.json``,
    ``report.png`` (with matplotlib), ``summary.txt``, ``history/*.jsonl`` (one file per
    worker) and ``faults.json``. Violations are reported, never raised.

    Called in the main thread, SIGTERM or SIGINT during the run ends it early: the workers
    stop, the set-up is removed, and what ran is checked and reported (``stopped_early_by``
    in the report names the signal). A second signal raises KeyboardInterrupt after removing
    the set-up, without checking.

    Raises:
        ValueError: a setting is wrong (see :meth:`StressConfig.validate`); raised before
            anything is started or created.
    """
    config.validate()
    report_dir = Path(config.report_dir or tempfile.mkdtemp(prefix="trialstore-stress-"))
    history_dir = report_dir / "history"
    history_dir.mkdir(parents=True, exist_ok=True)
    for old in history_dir.glob("*.jsonl"):
        old.unlink()
    run_id = f"stress-{config.seed}-{secrets.token_hex(3)}"
    workload = WorkloadConfig(
        run_id=run_id,
        trials_per_study=config.trials_per_study,
        reap_every=max(0.2, (config.heartbeat_interval or 1.0) / 2),
        think_time=config.think_time,
    )
    given = config.storage
    with contextlib.ExitStack() as stack:
        stop = stack.enter_context(StopRequest())  # entered first: restored after the cleanup
        pair = _start_pair(config, stack)  # removed last: the final snapshot reads from it
        if pair is not None:
            config = replace(config, storage=pair.url())
        if config.mode == "thread":
            target = StorageTarget(config.storage, _storage_kwargs(config))
            if storage is None:
                storage = _open_direct(config, target, stack)
            extra: dict[str, Any] = {}
            t_start = time.monotonic_ns()
            events = _run_threads(config, storage, history_dir, workload, stop, pair)
            deaths: dict[str, int] = {}
        else:
            target, storage, proxy = _open_processes_target(config, stack, report_dir)
            t_start, events, deaths, extra = _run_processes(
                config, target, history_dir, report_dir, workload, stack, restart_fake, proxy,
                stop, pair,
            )  # fmt: skip
        if pair is not None:
            primary = pair.pair.primary
            extra["pg_pair"] = {"url": pair.url(), "ports": pair.pair.ports,
                                "failovers": pair.pair.failovers,
                                "primary_at_end": primary and primary.name}  # fmt: skip
        t_end = time.monotonic_ns()
        if stop.requested:
            extra["stopped_early_by"] = stop.signal_name
        final = snapshot_storage(storage, run_id)
        interval = storage.get_heartbeat_interval()  # the storage's own settings count
        grace = storage.get_grace_period()
    write_json(final, report_dir / "final.json")
    ctx = CheckContext(
        end_ns=t_end,
        deaths=deaths,
        grace_period=grace,
        heartbeat_interval=interval,
        reap_every=workload.reap_every,
    )
    write_json(asdict(ctx), report_dir / "context.json")
    stats = OpStats(deaths)
    invariants = check_history_dir(history_dir, final, ctx, on_op=stats.add, scratch=report_dir)
    shown = asdict(config)
    shown["storage"] = mask_password(given)
    shown["storage_display"] = shown["storage"]
    if given != config.storage:  # a failover run: the harness's pair
        shown["storage_display"] = f"{config.storage} (replicated pair)"
    shown["run_id"] = run_id
    report = build_report(config=shown, stats=stats, invariants=invariants, events=events,
                          t_start=t_start, t_end=t_end, final=final, extra=extra)  # fmt: skip
    write_json(report, report_dir / "report.json")
    write_summary(report, report_dir / "summary.txt")
    report["png"] = config.png and write_png(report, report_dir / "report.png")
    return StressResult(report, report_dir, invariants, events)


def recheck(report_dir: str | Path) -> list[Invariant]:
    """Run the checkers again on a finished run's directory (its ``history/``,
    ``final.json`` and ``context.json``); return their results. Holds one study's operations
    in memory at a time."""
    directory = Path(report_dir)
    final = json.loads((directory / "final.json").read_text())
    ctx = CheckContext(**json.loads((directory / "context.json").read_text()))
    return check_history_dir(directory / "history", final, ctx, scratch=directory)


def _open_direct(
    config: StressConfig, target: StorageTarget, stack: contextlib.ExitStack
) -> BaseStorage:
    if config.storage.startswith(MEMORY_SCHEME):
        from trialstore.storage import InMemoryStorage
        from trialstore.stress.broken import make_broken_storage

        kind = config.storage[len(MEMORY_SCHEME) :].strip("/") or "memory"
        kwargs = _storage_kwargs(config)
        if kind == "memory":
            return InMemoryStorage(**kwargs)
        return make_broken_storage(kind, **kwargs)
    storage = target.open()
    stack.callback(storage.close)
    return storage


def _open_processes_target(
    config: StressConfig, stack: contextlib.ExitStack, report_dir: Path
) -> tuple[StorageTarget, BaseStorage, GrpcProxyProcess | None]:
    kwargs = _storage_kwargs(config)
    proxy = None
    if config.storage.startswith(MEMORY_SCHEME):
        from trialstore.stress._managed import serve

        kind = config.storage[len(MEMORY_SCHEME) :].strip("/") or "memory"
        served = serve(kind)
        stack.callback(served.stop)
        target = StorageTarget(served.url, kwargs, "trialstore.stress._managed:connect")
    elif config.serve_grpc:
        proxy = GrpcProxyProcess(config.storage, kwargs, report_dir / "grpc-proxy.log")
        stack.callback(proxy.stop)
        target = StorageTarget(proxy.url, {})
    else:
        target = StorageTarget(config.storage, kwargs)
    storage = target.open()
    stack.callback(storage.close)
    return target, storage, proxy


def _start_pair(config: StressConfig, stack: contextlib.ExitStack) -> _Pair | None:
    """For a ``failover`` run, build the replicated pair (removed by ``stack``) with the user
    and database of ``config.storage``; else None."""
    if "failover" not in config.faults:
        return None
    parts = urlsplit(config.storage)
    user = unquote(parts.username or "postgres")
    database = unquote(parts.path.strip("/"))
    pair = stack.enter_context(ReplicatedPair(user=user, databases=(database,)))
    return _Pair(pair, database, parts.scheme)


def _run_threads(
    config: StressConfig,
    storage: BaseStorage,
    history_dir: Path,
    workload: WorkloadConfig,
    stop: StopRequest,
    pair: _Pair | None,
) -> list[FaultEvent]:
    """Run the workers as threads (and, with ``pair``, failovers); return the faults."""
    deadline = time.monotonic() + config.duration
    names = [f"t{i}" for i in range(config.workers)]
    schedule = FaultSchedule({}, {}, random.Random(config.seed))
    if pair is not None:
        schedule.actions["failover"] = functools.partial(
            _faults.fail_over, pair.pair, lambda: names, lambda seconds: schedule.idle(seconds)
        )
        schedule.periods["failover"] = max(config.restart_every, 2.0)
        schedule.lengths["failover"] = _FAILOVER_LENGTH_S
    schedule.start(time.monotonic() + min(2.0, config.duration / 4), deadline)

    aborted = threading.Event()  # the main thread failed: the workers stop at once

    def over() -> bool:
        return stop.requested or aborted.is_set() or time.monotonic() >= deadline

    errors: list[BaseException] = []

    def work(i: int) -> None:
        writer = HistoryWriter(history_dir / f"t{i}.jsonl", f"t{i}")
        try:
            run_workload(storage, writer, workload, config.seed * 1009 + i, over)
        except BaseException as e:  # pragma: no cover - a bug in the harness
            errors.append(e)
        finally:
            writer.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(config.workers)]
    for t in threads:
        t.start()
    try:
        _progress_wait(config, over, lambda: "",
                       lambda: schedule.tick(time.monotonic(), deadline))  # fmt: skip
    except BaseException:
        aborted.set()
        raise
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return sorted(schedule.events, key=lambda e: e.t_start)


def _progress_wait(config: StressConfig, done: Any, postfix: Any, tick: Any = None) -> None:
    """Sleep in small steps until ``done()``, running ``tick()`` and showing a tqdm bar."""
    bar = None
    if config.progress:
        from tqdm import tqdm

        bar = tqdm(total=int(config.duration), unit="s", desc="stress", leave=False)
    start = time.monotonic()
    shown = 0
    try:
        while not done():
            if tick is not None:
                tick()
            time.sleep(0.05)
            elapsed = int(time.monotonic() - start)
            if bar is not None and elapsed > shown:
                bar.update(min(elapsed, int(config.duration)) - shown)
                shown = min(elapsed, int(config.duration))
                bar.set_postfix_str(postfix())
    finally:
        if bar is not None:
            bar.close()


def _run_processes(
    config: StressConfig,
    target: StorageTarget,
    history_dir: Path,
    report_dir: Path,
    workload: WorkloadConfig,
    stack: contextlib.ExitStack,
    restart_fake: Any,
    proxy: GrpcProxyProcess | None,
    stop: StopRequest,
    pair: _Pair | None,
) -> tuple[int, list[FaultEvent], dict[str, int], dict[str, Any]]:
    rng = random.Random(config.seed)
    networked = target.url.partition("://")[0].lower() not in _FILE_SCHEMES
    hosts, urls, prefixes = _simulated_hosts(config, target, networked, stack, pair)
    ready_dir = report_dir / "ready"
    ready_dir.mkdir(exist_ok=True)
    for old in ready_dir.iterdir():
        old.unlink()
    start_file = report_dir / "start"
    start_file.unlink(missing_ok=True)
    configs = []
    for url in urls:
        t = StorageTarget(url, target.kwargs, target.factory)
        configs.append({
            "target": t.to_json(),
            "workload": asdict(workload),
            "history_dir": str(history_dir),
            "duration_s": config.duration,
            "ready_dir": str(ready_dir),
            "start_file": str(start_file),
        })  # fmt: skip
    pool = WorkerPool(report_dir, configs, prefixes, config.workers, config.seed)
    pool.start_all()
    stack.callback(pool.kill_all)

    def wait(seconds: float) -> None:  # a long fault holding: kills go on meanwhile
        schedule.idle(seconds)

    actions, periods, skipped = _fault_actions(
        config, pool, rng, wait, hosts if networked else None, proxy, restart_fake, pair
    )
    _wait_ready(pool, ready_dir, start_file)
    lengths = {"lock-holder-stop": config.lock_stop_seconds + 0.5,
               "partition": config.partition_seconds + 0.5, "server-restart": 1.0,
               "failover": _FAILOVER_LENGTH_S}  # fmt: skip
    schedule = FaultSchedule(actions, periods, rng, lengths, skipped=skipped)
    end = time.monotonic() + config.duration
    schedule.start(time.monotonic() + min(2.0, config.duration / 4), end)

    def tick() -> None:
        schedule.tick(time.monotonic(), end)
        pool.reap()

    def postfix() -> str:
        kinds: dict[str, int] = {}
        for e in schedule.events:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        faults = " ".join(f"{k}={v}" for k, v in kinds.items())
        return f"workers={len(pool.live())} {faults}"

    _progress_wait(config, lambda: stop.requested or time.monotonic() >= end, postfix, tick)
    hung = pool.stop_all()
    events = sorted(schedule.events, key=lambda e: e.t_start)  # kills fire within long faults
    write_json({"events": [e.to_json() for e in events], "skipped": skipped},
               report_dir / "faults.json")  # fmt: skip
    # -9: killed by a fault; -15: stopped at the end before it had installed its handler
    worker_exits = {name: code for name, code in pool.exits.items() if code not in (0, -9, -15)}
    extra = {
        "faults_skipped": skipped,
        "workers_started": len(pool.exits),
        "workers_hung_at_end": hung,
        "workers_crashed": worker_exits,
        "hosts": [] if hosts is None else list(hosts.namespaces),
    }
    return int(start_file.read_text()), events, dict(pool.deaths), extra


def _simulated_hosts(
    config: StressConfig,
    target: StorageTarget,
    networked: bool,
    stack: contextlib.ExitStack,
    pair: _Pair | None = None,
) -> tuple[Hosts | None, list[str], list[list[str]]]:
    """Set up ``config.hosts`` simulated hosts when there are several (torn down by
    ``stack``); return them (None for one host), the storage URL each host's workers use
    (through its gateway for a networked storage; both of ``pair``'s servers), and each
    host's command prefix."""
    if config.hosts <= 1:
        return None, [target.url], [[]]
    ports = []
    if pair is not None:
        ports = pair.pair.ports
    elif networked:
        port = urlsplit(target.url).port
        if port is not None:
            ports.append(port)
    hosts = stack.enter_context(Hosts(config.hosts, ports))
    if pair is not None:
        urls = [pair.url(hosts.gateway(i)) for i in range(config.hosts)]
    else:
        urls = [host_url(target.url, hosts.gateway(i)) if ports else target.url
                for i in range(config.hosts)]  # fmt: skip
    return hosts, urls, [hosts.prefix(i) for i in range(config.hosts)]


def _fault_actions(
    config: StressConfig,
    pool: WorkerPool,
    rng: random.Random,
    wait: Callable[[float], None],
    hosts: Hosts | None,
    proxy: GrpcProxyProcess | None,
    restart_fake: Any,
    pair: _Pair | None = None,
) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    """Return, for each kind of fault in ``config.faults`` this run can inject, the action
    the schedule calls and its mean period; and the kinds it cannot inject, with why.
    ``hosts``: the simulated hosts of a networked storage (None: no partitions); ``wait``:
    how a long fault holds (kills go on meanwhile)."""
    actions: dict[str, Any] = {}
    periods: dict[str, float] = {}
    skipped: dict[str, str] = {}
    base = config.fault_every
    if "kill" in config.faults:
        actions["kill"] = functools.partial(_faults.kill_worker, pool, rng)
        periods["kill"] = base
    if "lock-holder-stop" in config.faults:
        actions["lock-holder-stop"] = functools.partial(
            _faults.stop_lock_holder, pool, rng, config.lock_stop_seconds, wait=wait
        )
        periods["lock-holder-stop"] = max(base * 5, config.lock_stop_seconds + 2)
    if "partition" in config.faults:
        if hosts is None:
            skipped["partition"] = "needs --hosts > 1 and a networked storage"
        else:
            actions["partition"] = functools.partial(
                _faults.partition_host, hosts, pool, rng, config.partition_seconds, wait
            )
            periods["partition"] = max(base * 6, config.partition_seconds + 2)
    if "server-restart" in config.faults:
        hook = (
            proxy.restart
            if proxy is not None
            else restart_hook_for(config.storage, config.restart_mode, restart_fake)
        )
        if hook is None:
            skipped["server-restart"] = "no server this harness can restart behind this URL"
        else:
            label = "grpc-proxy" if proxy is not None else mask_password(config.storage)
            actions["server-restart"] = functools.partial(_faults.restart_server, hook, label)
            periods["server-restart"] = max(config.restart_every, 2.0)
    if "failover" in config.faults and pair is not None:
        actions["failover"] = functools.partial(
            _faults.fail_over, pair.pair, lambda: [s.name for s in pool.live()], wait
        )
        periods["failover"] = max(config.restart_every, 2.0)
    return actions, periods, skipped


def _wait_ready(pool: WorkerPool, ready_dir: Path, start_file: Path) -> None:
    """Wait (up to 120 s) until every first worker has opened the storage, then start the
    clock: the run's duration counts from here for every worker.

    Raises:
        RuntimeError: a worker exited or did not get ready in time (see workers.log).
    """
    deadline = time.monotonic() + 120
    while len(list(ready_dir.iterdir())) < len(pool.slots):
        pool.reap()
        if pool.exits:
            raise RuntimeError(f"workers exited before the start: {pool.exits} (workers.log)")
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not get ready within 120 s (see workers.log)")
        time.sleep(0.02)
    tmp = start_file.with_suffix(".tmp")
    tmp.write_text(str(time.monotonic_ns()))
    tmp.rename(start_file)
