"""``python -m bench --quick`` runs both libraries and prints a ratio for every row."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_on_memory_prints_ratios() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--backends", "memory,nosuch"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    ratio = re.compile(r"\s\d+\.\d\dx$")
    optimize = [line for line in lines if line.startswith("(a) optimize 200")]
    assert len(optimize) == 1 and ratio.search(optimize[0])
    assert (
        len([line for line in lines if line.startswith("(d) trial k=") and ratio.search(line)])
        == 3
    )
    for function in ("quadratic", "rosenbrock", "sphere5"):
        row = [line for line in lines if line.startswith(function)]
        assert len(row) == 1 and ratio.search(row[0]), out.stdout
    assert any("nosuch" in line and "skipped: unknown backend" in line for line in lines)
    assert any("(b) 4 processes" in line and "skipped" in line for line in lines)
