"""The harness's replicated PostgreSQL pair (trialstore/stress/_pg_pair.py): built with
PostgreSQL's tools on ports of its own, it fails over and back with every commit kept, and it
leaves nothing behind, also when building it fails."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from trialstore.stress import _pg_pair
from trialstore.stress._pg_pair import ReplicatedPair
from trialstore.stress._procs import gone, processes


def _connect(pair: ReplicatedPair) -> Any:
    import psycopg

    hosts = ",".join("127.0.0.1" for _ in pair.ports)
    ports = ",".join(str(p) for p in pair.ports)
    return psycopg.connect(
        f"host={hosts} port={ports} user={pair.user} dbname=db target_session_attrs=read-write",
        autocommit=True,
    )


def _running(pair: ReplicatedPair) -> list[int]:
    return [pid for node in pair.nodes if (pid := node.postmaster_pid()) is not None]


def test_a_pair_fails_over_and_back_keeping_every_commit(pg_pair_buildable: None) -> None:
    with ReplicatedPair(databases=("db",)) as pair:
        assert 5432 not in pair.ports
        assert pair.healthy
        with _connect(pair) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (0)")
        primaries: list[object] = []
        for i in (1, 2):
            happened = pair.fail_over()
            assert not pair.healthy  # no standby until the rebuild
            primaries.append(happened["new_primary"])
            with _connect(pair) as conn:
                assert conn.info.port == pair.primary.port
                assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == i
                conn.execute("INSERT INTO t VALUES (%s)", (i,))
            rebuilt = pair.rebuild()
            assert pair.healthy and rebuilt["rebuilt"] == happened["old_primary"]
        assert primaries[0] != primaries[1]  # each node was the primary once
        base, pids = pair.base, _running(pair)
        assert base is not None and len(pids) == 2
    assert not base.exists()
    assert all(gone(pid) for pid in pids)
    assert processes(cmdline=str(base)) == []


def test_a_pair_that_fails_to_build_leaves_nothing(pg_pair_buildable: None) -> None:
    parent = Path(tempfile.mkdtemp())  # not pytest's tmp_path: the postgres user cannot enter it
    parent.chmod(0o755)
    try:
        pair = ReplicatedPair(databases=('bad"name',), parent_dir=str(parent))
        with pytest.raises(Exception, match="bad"):  # CREATE DATABASE, once both nodes run
            pair.__enter__()
        assert len(pair.nodes) == 2
        assert list(parent.iterdir()) == []
        assert processes(cmdline=str(parent)) == []
    finally:
        shutil.rmtree(parent, ignore_errors=True)


def test_missing_binaries_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pg_pair, "find_bin_dir", lambda: None)
    problem = _pg_pair.missing_prerequisites()
    assert problem is not None and "initdb" in problem
    with pytest.raises(RuntimeError, match="server binaries"):
        ReplicatedPair()
