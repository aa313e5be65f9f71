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


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_scale_prints_open_memory_and_per_trial_ratios() -> None:
    out = _bench("--scale", "300", "--optuna-max", "200", "--backends", "journal,sqlite")
    assert out.returncode == 0, out.stderr
    ratio = re.compile(r"\s\d+\.\d\dx$")
    # open, memory and per-trial rows; an RDB backend adds its open without segments (s, MB)
    for backend, n_rows in (("journal", 3), ("sqlite", 5)):
        rows = [line for line in out.stdout.splitlines() if f" {backend} " in line]
        assert len(rows) == n_rows and all(ratio.search(row) for row in rows), out.stdout
    assert out.stdout.count("without segments") == 2
    assert "extrapolated x1.5" in out.stdout


def test_scale_rejects_a_count_that_is_not_one() -> None:
    out = _bench("--scale", "lots")
    assert out.returncode == 2
    assert "--scale: expected a trial count such as 1m, 100k or 5000, got 'lots'" in out.stderr


def test_limit_measures_each_mode_against_the_commit_bound() -> None:
    out = _bench(
        "--limit", "--factor", "0.05", "--backends", "postgresql,memory", "--baseline", "none"
    )
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if " postgresql " in line]
    if rows and "skipped" in rows[0]:
        assert "TRIALSTORE_TEST_POSTGRES_URL" in rows[0]
        return
    assert [row.split()[0] for row in rows] == ["immediate", "at_tell"], out.stdout
    # the share of the bound and of trialstore's own floor
    assert all(len(re.findall(r"\s\d+%(?=\s)", row)) == 2 for row in rows), out.stdout
    assert "against trialstore at" not in out.stdout


def test_limit_compares_the_client_cpu_with_a_baseline_revision() -> None:
    """``--baseline REV`` runs the package as it was at REV (here the checkout's own HEAD,
    which any clone holds) in the same run, and prints a ratio per mode."""
    out = _bench("--limit", "--factor", "0.05", "--backends", "postgresql", "--baseline", "HEAD")
    assert out.returncode == 0, out.stderr
    if "skipped: " in out.stdout:
        assert "TRIALSTORE_TEST_POSTGRES_URL" in out.stdout
        return
    table = out.stdout.split("against trialstore at HEAD", 1)[1]
    rows = [line.split() for line in table.splitlines() if " postgresql " in line]
    assert [row[0] for row in rows] == ["immediate", "at_tell"], out.stdout
    for row in rows:
        baseline, now, ratio = float(row[2]), float(row[3]), float(row[4].rstrip("x"))
        assert baseline > 0 and now > 0
        # each figure is printed to 2 decimals: the ratio of the printed figures may differ
        # from the printed ratio by their rounding (0.005 each) and its own
        slack = 0.005 + 0.005 * (1 / baseline + now / baseline**2) + 1e-9
        assert abs(ratio - now / baseline) <= slack


def test_limit_names_a_baseline_it_cannot_export() -> None:
    out = _bench(
        "--limit", "--factor", "0.05", "--backends", "memory", "--baseline", "no-such-revision"
    )
    assert out.returncode == 0, out.stderr
    assert "(the baseline no-such-revision is skipped: git archive no-such-revision:" in out.stdout
