"""The commit bound of a database server, for ``python -m bench --limit`` (bench helper).

A trial can go no faster than the commits it needs. :func:`commit_bound` measures how many
one-row INSERT transactions per second one connection gets committed on a fresh database of
the server (the driver's own connection, no ORM: the server and the network are what is
measured). Divided by :data:`REFERENCE_COMMITS` it is the bound the goal is set against;
divided by :data:`COMMITS_PER_TRIAL`, trialstore's own floor.
"""

from __future__ import annotations

import io
import statistics
import subprocess
import tarfile
import time
from typing import Any

__all__ = [
    "BASELINE",
    "COMMITS_PER_TRIAL",
    "REFERENCE_COMMITS",
    "commit_bound",
    "export_code",
    "server_commits",
]

#: The revision whose client CPU per trial the ``--limit`` goal halves: the code issue 23
#: ("Performance against the physical limit") was measured on (2.6 ms per default-mode
#: trial on PostgreSQL then). ``--baseline`` runs it in the same run, so that the ratio does
#: not move with the speed of the machine, which drifts by a third over a day here.
BASELINE = "34bad54"

#: Commits one trial of the bench objective (5 float parameters) needs from a storage that
#: commits each step of a trial on its own, by ``param_writes``: the create, one per
#: parameter and the finish; with ``at_tell`` the create, the batch of parameters and the
#: finish. The bound of the ``--limit`` goal (>= 60 % of it).
REFERENCE_COMMITS = {"immediate": 7, "at_tell": 3}

#: Commits the same trial needs from trialstore: with ``at_tell`` the parameters are written
#: with the final state, in one statement (see docs/performance.md, "Round trips per trial").
COMMITS_PER_TRIAL = {"immediate": 7, "at_tell": 2}


def commit_bound(url: str, n_commits: int = 1000, repeats: int = 3) -> float:
    """Return one-row INSERT commits per second from one connection to the database at
    ``url`` (a fresh, empty database: the table is created and dropped here): the median of
    ``repeats`` runs of ``n_commits`` (a server's commit rate moves by a fifth between runs
    seconds apart here)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    rates: list[float] = []
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("CREATE TABLE bench_commit_bound (id INTEGER PRIMARY KEY, v FLOAT)")
            raw.commit()
            marker = "%s" if engine.dialect.paramstyle in ("format", "pyformat") else "?"
            insert = f"INSERT INTO bench_commit_bound (id, v) VALUES ({marker}, {marker})"
            for run in range(repeats):
                start = time.perf_counter()
                for i in range(run * n_commits, (run + 1) * n_commits):
                    cursor.execute(insert, (i, float(i)))
                    raw.commit()
                rates.append(n_commits / (time.perf_counter() - start))
            cursor.execute("DROP TABLE bench_commit_bound")
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    return statistics.median(rates)


def server_commits(url: str) -> int | None:
    """Return the transactions the server has committed in the database at ``url`` so far
    (PostgreSQL's ``pg_stat_database.xact_commit``), or None where the server does not count
    them per database. The statistics collector lags by up to a second: read it after a
    pause."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        if engine.dialect.name != "postgresql":
            return None
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT pg_stat_clear_snapshot()")
            value: Any = connection.exec_driver_sql(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).scalar()
        return int(value)
    finally:
        engine.dispose()


def export_code(root: str, revision: str, into: str) -> str:
    """Export the ``trialstore`` package of the git repository at ``root`` as it was at
    ``revision`` into the directory ``into`` (whose ``trialstore/`` a worker then imports
    first); return ``into``.

    Raises:
        RuntimeError: git is missing, or the repository does not hold ``revision`` (a
            shallow clone): the message says which.
    """
    try:
        archive = subprocess.run(
            ["git", "-C", root, "archive", "--format=tar", revision, "trialstore"],
            capture_output=True,
            check=False,
        )
    except OSError as e:
        raise RuntimeError(f"git is not available ({e})") from None
    if archive.returncode != 0:
        reason = archive.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"git archive {revision}: {reason[-1] if reason else 'failed'}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into
