"""trialstore/stress/_procs.py: processes found by parent, group and command line."""

from __future__ import annotations

import os
import subprocess
import sys

from trialstore.stress._procs import gone, processes, state


def test_a_child_is_found_by_parent_group_and_command_line_until_it_exits() -> None:
    marker = "procs-test-marker"
    child = subprocess.Popen(
        [sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"],
        start_new_session=True,
    )
    try:
        assert child.pid in processes(parent=os.getpid())
        assert processes(group=child.pid) == [child.pid]
        assert processes(cmdline=marker) == [child.pid]
        assert processes(parent=os.getpid(), cmdline="no such command line") == []
        assert state(child.pid) in ("R", "S")
        assert not gone(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie until reaped
        assert state(child.pid) == "Z"
        assert gone(child.pid)
        assert child.pid not in processes(parent=os.getpid())
    finally:
        child.kill()
        child.wait()
    assert state(child.pid) is None and gone(child.pid)
