"""examples/multi_node_rdb.py: two "machines" start the seed's multi-node example at the same
instant against a fresh, empty database; both succeed and together run 200 trials.

The machines are processes on this host; ``test_two_network_namespaces`` (root, ``ip netns``)
runs them in two network namespaces that reach the server through a TCP forwarder on the host
side of their veth, with addresses in 198.18.0.0/24."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from _rdb_helpers import database_url

from trialstore.storage.rdb import RDBStorage
from trialstore.trial import TrialState

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "multi_node_rdb.py"
_AT_INSTANT = (
    "import runpy, sys, time\n"
    "start = float(sys.argv[1])\n"
    "sys.argv = [sys.argv[2], sys.argv[3]]\n"
    "time.sleep(max(0.0, start - time.time()))\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _start_both(
    commands: list[tuple[list[str], str]],
) -> list[subprocess.CompletedProcess[str]]:
    """Run the example on each (command prefix, storage URL) at one instant."""
    start = time.time() + 4.0  # both import first, then go at one instant
    processes = [
        subprocess.Popen(
            [*prefix, sys.executable, "-c", _AT_INSTANT, str(start), str(EXAMPLE), url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix, url in commands
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def _check(url: str, results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
    created = [r for r in results if "A new study created in RDB" in r.stderr]
    reused = [r for r in results if "Using an existing study" in r.stderr]
    assert len(created) == 1 and len(reused) == 1, [r.stderr[-500:] for r in results]
    storage = RDBStorage(url)
    study_id = storage.get_study_id_from_name("distributed_test")
    trials = storage.get_all_trials(study_id)
    assert [t.number for t in trials] == list(range(200))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    storage.close()


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_two_machines_start_at_once_on_an_empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    url = database_url(request, dialect, tmp_path)
    _check(url, _start_both([([], url), ([], url)]))


def _can_make_namespaces() -> bool:
    import os
    import shutil

    return hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("ip") is not None


@pytest.mark.slow
@pytest.mark.netns
@pytest.mark.skipif(not _can_make_namespaces(), reason="needs root and `ip netns`")
@pytest.mark.parametrize("dialect", ["postgresql", "mysql"])
def test_two_network_namespaces(
    request: pytest.FixtureRequest, tmp_path: Path, dialect: str
) -> None:
    import sqlalchemy as sa

    from trialstore.stress._netns import Hosts, host_url

    url = database_url(request, dialect, tmp_path)
    port = sa.engine.make_url(url).port or (5432 if dialect == "postgresql" else 3306)
    with Hosts(2, [port]) as hosts:  # removes its namespaces, links and forwarders on exit
        commands = [(hosts.prefix(i), host_url(url, hosts.gateway(i))) for i in range(2)]
        results = _start_both(commands)
    _check(url, results)
