"""The benchmark scripts under bench/ still run, on a tiny scale.

They are how anyone checks the speed figures in bench/RESULTS.md, and nothing else runs
them: ``bench.inproc`` and ``bench.admin_reads`` stopped at start-up for a while when
production settings began refusing the default BASE_URL they used.  Speed is not
checked here (the figures mean nothing at this scale on a busy machine); that each
script finishes, and that the load driver's own checks pass (no errors, the displayed
count equal to ``COUNT(*)`` after every scenario), is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(*args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.usefixtures("pg_server")
def test_the_load_benchmark_runs_and_its_counts_check_out():
    out = run_bench(
        "bench",
        "--backends=postgres",
        "--scenarios=sign,confirm",
        "--clients=2",
        "--duration=1",
        "--warmup=0",
        "--outbox-mails=20",
        "--no-write",
    )
    for scenario in ("sign", "confirm"):
        assert f"postgres {scenario}: count check ok" in out
        # The same flow on the stack alone (bench/floor.py), the reference for the app.
        assert f"postgres floor_{scenario}: count check ok" in out
    assert "| postgres | 1 |" in out  # the outbox row of one worker


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_in_process_benchmark_runs(backend, request):
    if backend == "postgres":
        request.getfixturevalue("pg_server")
    out = run_bench("bench.inproc", "--rounds=1", "--n=3", f"--backend={backend}")
    assert "sign flow (page + POST + thanks)" in out
    assert "confirm flow (GET + POST + result)" in out
    assert "floor: sign flow (page + POST + thanks)" in out
    assert "floor: confirm flow (GET + POST + result)" in out


def test_the_pack_benchmark_runs():
    out = run_bench("bench.pack", "--rows=20", "--list-rows=50", "--repeats=1")
    assert "| XLSX (read, decrypt, write) | 50 |" in out


def test_the_admin_reads_benchmark_runs():
    out = run_bench("bench.admin_reads", "--mails=200", "--signatures=50", "--rounds=1")
    assert "stats.dashboard(), 50 signatures" in out
