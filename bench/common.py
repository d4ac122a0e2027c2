"""Shared plumbing for the benchmarks: a scratch PostgreSQL database (never the dev database), pgbench
as the physical-limit baseline, and a pool of forked client processes that start together and count
what they finish inside one timed window."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from glob import glob
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"


class BenchUnavailable(Exception):
    """The benchmark cannot run here (no PostgreSQL, no pgbench); the message says why."""


# --- the scratch database ------------------------------------------------------------------------


def server_url() -> str:
    """The PostgreSQL server to measure: KONTOR_BENCH_DATABASE_URL, else DATABASE_URL if it is
    PostgreSQL, else the local default. Only the server is taken from it; the database is ours."""
    for name in ("KONTOR_BENCH_DATABASE_URL", "DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgres://", "postgresql://")):
            return url
    return DEFAULT_SERVER


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def libpq_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def _admin_connect(url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(libpq_url(with_database(url, "postgres")), autocommit=True)
    except psycopg.OperationalError as exc:
        raise BenchUnavailable(f"PostgreSQL is not reachable at {urlsplit(url).netloc}: {exc}") from None


def recreate_database(url: str, name: str) -> str:
    """Drop and create `name` on the server of `url`; returns its URL."""
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", name), name
    with _admin_connect(url) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    with _admin_connect(url) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def setup_django(database_url: str) -> None:
    """Point Django at the scratch database and migrate it. Must run before anything imports models."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kontor.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def synchronous_commit() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


# --- pgbench -------------------------------------------------------------------------------------


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    clients: int
    seconds: int
    scale: int


class Pgbench:
    """TPC-B (pgbench's built-in script) in a scratch database on the same server, initialised once and
    run beside each measurement, so a baseline and the figure it judges share the machine's moment."""

    NAME = "kontor_bench_pgbench"

    def __init__(self, url: str, *, scale: int = 8) -> None:
        binary = find_pgbench()
        if binary is None:
            raise BenchUnavailable("pgbench is not installed (looked on PATH and in /usr/lib/postgresql/*/bin)")
        self.binary, self.server, self.scale = binary, url, scale
        self.target = libpq_url(recreate_database(url, self.NAME))
        self._run([binary, "-i", "-s", str(scale), "-q", self.target])

    def _run(self, command: list[str]) -> str:
        try:
            return subprocess.run(command, check=True, capture_output=True, text=True).stdout
        except subprocess.CalledProcessError as exc:
            raise BenchUnavailable(f"pgbench failed: {exc.stderr.strip()[-300:]}") from None

    def tpcb(self, *, clients: int, seconds: int) -> PgbenchResult:
        jobs = max(1, min(2, clients))
        out = self._run([self.binary, "-c", str(clients), "-j", str(jobs), "-T", str(seconds), "-n", self.target])
        match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out) or re.search(
            r"tps = ([0-9.]+)", out
        )
        if match is None:
            raise BenchUnavailable(f"could not read pgbench's tps from: {out[-300:]}")
        return PgbenchResult(float(match.group(1)), clients, seconds, self.scale)

    def drop(self) -> None:
        drop_database(self.server, self.NAME)


# --- client processes ----------------------------------------------------------------------------


def forget_inherited_connections() -> None:
    """In a forked child: drop the parent's connections without closing them (closing would end the
    parent's session on the shared socket); they are never finalized, the child ends in os._exit."""
    from django.db import connections

    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _INHERITED.append(conn.connection)
        conn.connection = None


_INHERITED: list[Any] = []


@dataclass(frozen=True)
class Throughput:
    operations: int  # what the clients counted (transfers, not calls, for the batch)
    seconds: float
    errors: list[str]

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0


def _client(
    index: int,
    setup: Callable[[int], Any],
    step: Callable[[Any], int],
    barrier: Any,
    deadline_box: Any,
    results: Any,
) -> None:
    forget_inherited_connections()
    done, errors = 0, []
    try:
        state = setup(index)
        barrier.wait(60)
        deadline = deadline_box.value
        while time.monotonic() < deadline:
            done += step(state)
    except Exception as exc:
        errors.append(f"client {index}: {exc.__class__.__name__}: {exc}")
    finally:
        from django.db import connection

        connection.close()
    results.put((done, errors))


def run_clients(clients: int, seconds: float, setup: Callable[[int], Any], step: Callable[[Any], int]) -> Throughput:
    """`clients` forked processes: each runs `setup(index)` then calls `step(state)` (which returns
    how many operations it completed) until the common deadline."""
    from django.db import connections

    ctx = multiprocessing.get_context("fork")
    connections.close_all()
    barrier = ctx.Barrier(clients + 1)
    deadline_box = ctx.Value("d", 0.0)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(i, setup, step, barrier, deadline_box, results), daemon=True)
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    deadline_box.value = time.monotonic() + 1e9  # set for real once everyone is ready
    try:
        # Everyone has loaded their state: the window starts now.
        start = time.monotonic()
        deadline_box.value = start + seconds
        barrier.wait(120)
    except Exception:
        for proc in procs:
            proc.kill()
        raise
    total, errors = 0, []
    for _ in procs:
        done, errs = results.get(timeout=seconds + 300)
        total += done
        errors += errs
    elapsed = time.monotonic() - start
    for proc in procs:
        proc.join(10)
    # A step that began before the deadline finishes after it; count the whole window it took.
    return Throughput(total, max(elapsed, seconds), errors)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline else "n/a"


def say(*parts: object) -> None:
    print(*parts, flush=True)
    sys.stdout.flush()
