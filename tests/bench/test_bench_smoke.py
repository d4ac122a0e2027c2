"""Every benchmark still runs (issue 3 §7; house rule: CI runs each benchmark once at a tiny size). A
benchmark measures PostgreSQL against pgbench, so it only runs when the suite runs on PostgreSQL; it
works in its own scratch databases, never the test database."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from bench import BENCHMARKS

# One after the other in one pytest-xdist worker (`--dist loadgroup`, as `make pytest` runs): the
# benchmarks' scratch databases have fixed names (kontor_bench_pgbench is shared by two of them).
pytestmark = pytest.mark.xdist_group("benchmarks")

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "ledger": ["--seconds", "1", "--clients", "2", "--users", "8", "--scale", "1"],
    "campaign_fanout": ["--recipients", "500"],
    "messaging": [
        "--seconds",
        "1",
        "--connections",
        "2",
        "--workers",
        "1",
        "--threads",
        "2",
        "--recipients",
        "300",
        "--no-peer",
        "--rls-rounds",
        "1",
    ],
    "crash": [
        "--operations",
        "60",
        "--clients",
        "2",
        "--kills",
        "1",
        "--worker-kills",
        "1",
        "--web-workers",
        "1",
        "--threads",
        "2",
    ],
}


def test_every_benchmark_has_a_tiny_size():
    assert set(TINY) == set(BENCHMARKS)


@pytest.mark.postgres_only
@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_and_ends_with_its_ratios(name):
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("benchmarks measure PostgreSQL against pgbench; run the suite with DATABASE_URL=postgres://...")
    env = {**os.environ, "KONTOR_BENCH_DATABASE_URL": os.environ["DATABASE_URL"]}
    extra = ["--database", f"{settings.DATABASES['default']['NAME']}_crash"] if name == "crash" else []
    done = subprocess.run(
        [sys.executable, "-m", "bench", name, *TINY[name], *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = done.stdout.strip().splitlines()
    if name == "crash":
        # The crash test has no baseline: its line counts what it found. That it finds nothing is
        # tests/reliability/test_crash_http.py's to assert; here it must run, kill, and report (exit 1
        # means anomalies, 2 that it could not run).
        assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr[-2000:]
        match = re.fullmatch(r"crash: operations=(\d+) kills=(\d+) anomalies=(\d+) http5xx=(\d+) .*", lines[-1])
        assert match, lines[-1]
        assert int(match.group(1)) >= 60 and int(match.group(2)) == 2, lines[-1]
        assert (done.returncode == 0) == (match.group(3) == match.group(4) == "0"), lines[-1]
        return
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    # The baseline is named in the brackets: pgbench for most, COPY for the campaign fan-out.
    assert re.fullmatch(rf"{name} ratios: .*\d+\.\d\dx.*\(vs .*\)", lines[-1]), lines[-1]
    assert "ERROR" not in done.stdout
