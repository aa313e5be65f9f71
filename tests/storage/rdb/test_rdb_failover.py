"""RDBStorage through a PostgreSQL failover: a replicated pair of the test's own
(trialstore/stress/_pg_pair.py) loses its primary mid-study, the standby is promoted, and the
workers, on a URL that names both servers, carry on against the new primary. Every trial
acknowledged to a worker is there afterwards, as acknowledged, and the trial numbers stay
unique and dense.

Also, without a pair: a write refused by a server that became read-only (SQLSTATE 25006) is
retried on a new connection, and pooled connections to the old server are not reused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

import trialstore
from trialstore.exceptions import StorageInternalError
from trialstore.samplers import RandomSampler
from trialstore.storage.rdb import RDBStorage, _engine
from trialstore.study import StudyDirection
from trialstore.trial import TrialState

#: Trials acknowledged before the failover, and after it, before the workers stop.
BEFORE, AFTER = 30, 30


@pytest.fixture
def pair(pg_pair_buildable: None) -> Iterator[Any]:
    from trialstore.stress._pg_pair import ReplicatedPair

    with ReplicatedPair(databases=("study",)) as built:
        yield built


def _work(url: str, study_name: str, log: Path, stop: Callable[[], bool]) -> None:
    """Ask and tell trials until ``stop()``; append each acknowledged trial to ``log`` (one
    JSON line: id, number, value, and how many failovers the pair had seen, from the line
    the test writes) and each operation whose outcome is unknown as such."""
    storage = RDBStorage(url, retry_timeout=60)
    study = trialstore.load_study(study_name=study_name, storage=storage,
                                  sampler=RandomSampler(seed=os.getpid()))  # fmt: skip
    with open(log, "a") as out:
        while not stop():
            try:
                trial = study.ask()
            except StorageInternalError as e:  # a create cut off: may or may not exist
                out.write(json.dumps({"unknown": "ask", "error": str(e)[:200]}) + "\n")
                out.flush()
                continue
            x = trial.suggest_float("x", 0.0, 1.0)
            study.tell(trial, x)
            out.write(json.dumps({"id": trial._trial_id, "number": trial.number, "x": x}) + "\n")
            out.flush()
    storage.close()


def _acknowledged(logs: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for log in logs:
        if log.exists():
            rows += [json.loads(line) for line in log.read_text().splitlines()]
    return [row for row in rows if "id" in row]


def _wait_for(count: int, logs: list[Path], alive: Callable[[], bool]) -> None:
    """Wait until ``count`` trials are acknowledged (or no worker is alive)."""
    event = threading.Event()
    while len(_acknowledged(logs)) < count and alive():
        event.wait(0.05)


def _check(url: str, study_name: str, acknowledged: list[dict[str, Any]]) -> None:
    storage = RDBStorage(url)
    study_id = storage.get_study_id_from_name(study_name)
    trials = storage.get_all_trials(study_id)
    storage.close()
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(trials)))  # unique and dense
    assert len({t._trial_id for t in trials}) == len(trials)
    by_id = {t._trial_id: t for t in trials}
    for row in acknowledged:
        stored = by_id.get(row["id"])
        assert stored is not None, f"acknowledged trial {row} lost"
        assert stored.number == row["number"]
        assert stored.state == TrialState.COMPLETE
        assert stored.params == {"x": row["x"]}
        assert stored.values == [row["x"]]


def _run(pair: Any, tmp_path: Path, start: Callable[[str, str, list[Path]], Any]) -> None:
    url = pair.url("study")
    study_name = f"failover-{uuid.uuid4().hex[:8]}"
    trialstore.create_study(study_name=study_name, storage=url,
                            direction=StudyDirection.MINIMIZE)  # fmt: skip
    logs_before = [tmp_path / f"w{i}.jsonl" for i in range(3)]
    workers = start(url, study_name, logs_before)
    try:
        _wait_for(BEFORE, logs_before, workers.alive)
        before = len(_acknowledged(logs_before))
        pair.fail_over()
        _wait_for(before + AFTER, logs_before, workers.alive)
    finally:
        workers.stop()
    acknowledged = _acknowledged(logs_before)
    assert workers.errors() == []
    assert len(acknowledged) >= before + AFTER, "the workers did not carry on"
    _check(url, study_name, acknowledged)


class _Threads:
    def __init__(self, url: str, study_name: str, logs: list[Path]) -> None:
        self._stop = threading.Event()
        self._errors: list[BaseException] = []

        def run(log: Path) -> None:
            try:
                _work(url, study_name, log, self._stop.is_set)
            except BaseException as e:
                self._errors.append(e)

        self._threads = [threading.Thread(target=run, args=(log,)) for log in logs]
        for t in self._threads:
            t.start()

    def alive(self) -> bool:
        return all(t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()

    def errors(self) -> list[str]:
        return [repr(e) for e in self._errors]


def _process_main(url: str, study_name: str, log: str, stop: Any) -> None:
    _work(url, study_name, Path(log), stop.is_set)


class _Processes:
    def __init__(self, url: str, study_name: str, logs: list[Path]) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._procs = [
            context.Process(target=_process_main, args=(url, study_name, str(log), self._stop))
            for log in logs
        ]
        for p in self._procs:
            p.start()

    def alive(self) -> bool:
        return all(p.is_alive() for p in self._procs)

    def stop(self) -> None:
        self._stop.set()
        for p in self._procs:
            p.join(120)
            if p.is_alive():
                p.kill()
                p.join()

    def errors(self) -> list[str]:
        return [f"exit code {p.exitcode}" for p in self._procs if p.exitcode != 0]


def test_threads_carry_on_through_a_failover_and_lose_no_acknowledged_trial(
    pair: Any, tmp_path: Path
) -> None:
    _run(pair, tmp_path, _Threads)


def test_processes_carry_on_through_a_failover_and_lose_no_acknowledged_trial(
    pair: Any, tmp_path: Path
) -> None:
    _run(pair, tmp_path, _Processes)


# -- a server that stops taking writes, without a pair ----------------------------------------


def test_a_read_only_refusal_is_a_disconnect() -> None:
    import psycopg

    error = exc.DBAPIError.instance(
        "INSERT", None, psycopg.errors.ReadOnlySqlTransaction("read-only"), psycopg.Error
    )
    assert _engine.classify_error(error) == "disconnect"


@pytest.mark.parametrize("write", ["set_study_user_attr", "create_new_trial"])
def test_writes_refused_as_read_only_go_on_once_the_server_takes_writes(
    postgres_url: str, write: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database turns read-only for new sessions and the storage's pool holds such a
    session: the write fails with 25006 and is retried. Once the database takes writes again,
    the retry must get a new session: the pooled one stays read-only for its life, and
    reusing it failed every retry until the time limit."""
    storage = RDBStorage(postgres_url, retry_timeout=60)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "ro")
    database = sa.engine.make_url(postgres_url).database
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    dropped = threading.Event()
    drop = _engine.drop_pooled_connections

    def noting_drop(engine: sa.Engine) -> None:
        dropped.set()
        drop(engine)

    monkeypatch.setattr(_engine, "drop_pooled_connections", noting_drop)
    try:
        with admin.connect() as conn:
            conn.execute(
                sa.text(f"ALTER DATABASE {database} SET default_transaction_read_only = on")
            )
        storage._engine.dispose()  # the pool's next session is a read-only one
        with storage._engine.connect() as conn:  # put one in the pool
            assert conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
        results: list[Any] = []

        def write_once() -> None:
            if write == "create_new_trial":
                results.append(storage.create_new_trial(study_id))
            else:
                storage.set_study_user_attr(study_id, "k", "v")
                results.append("done")

        thread = threading.Thread(target=write_once)
        thread.start()
        dropped.wait(60)
        with admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {database} RESET default_transaction_read_only"))
        thread.join(90)
        assert results, "the write did not go through once the database took writes"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"ALTER DATABASE {database} RESET default_transaction_read_only"))
        admin.dispose()
    if write == "create_new_trial":
        assert [t.number for t in storage.get_all_trials(study_id)] == [0]
    else:
        assert storage.get_study_user_attrs(study_id) == {"k": "v"}
    storage.close()


@pytest.mark.parametrize("hosts", [1, 2])
def test_opening_waits_for_a_writable_server_only_with_several_hosts(
    postgres_url: str, hosts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage opened while no listed server takes writes (a failover in progress) waits
    within its retry budget when the URL names several hosts; with one host, a server that
    cannot be reached is an error at once (a mistake, most likely)."""
    from trialstore.storage.rdb import _schema

    text = postgres_url
    if hosts == 2:
        url = sa.engine.make_url(postgres_url)
        where = f"{url.host}:{url.port or 5432}"
        text = f"{url.drivername}://{url.username}@/{url.database}?host={where},{where}"
    ensure = _schema.ensure_schema
    calls: list[int] = []

    def unreachable_twice(engine: sa.Engine, *, create: bool) -> frozenset[str]:
        calls.append(1)
        if len(calls) <= 2:
            raise exc.OperationalError(
                "connect", {}, Exception("session is read-only"), connection_invalidated=True
            )
        return ensure(engine, create=create)

    monkeypatch.setattr(_schema, "ensure_schema", unreachable_twice)
    if hosts == 1:
        with pytest.raises(StorageInternalError, match="cannot connect"):
            RDBStorage(text, retry_timeout=30)
        assert len(calls) == 1
        return
    storage = RDBStorage(text, retry_timeout=30)
    assert len(calls) == 3
    assert storage.create_new_study([StudyDirection.MINIMIZE], "opened") >= 0
    storage.close()
