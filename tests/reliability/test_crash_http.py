"""The HTTP crash test (issue 8 §1) at a small size: clients drive the API (purchases, transfers, batch
transfers, single and batch sends, campaigns, replays of an Idempotency-Key) against gunicorn with the
group commit and fast lane on, plus `kontor worker`, on this test database; gunicorn (master and
workers) is killed with SIGKILL twice and the worker once. Nothing acknowledged is lost or applied
twice, nothing refused is applied, the books balance per customer, every reservation ends as its
message's status says, no 5xx outside the kills, every reader snapshot is consistent.

The harness is bench/crash.py, the same code `python -m bench crash` runs at any size. Bounded by
operations and by state, never by elapsed time."""

from __future__ import annotations

import importlib
import os

import pytest
from django.apps import apps
from django.db import connection

from bench.crash import Config, build_world, execute, print_report

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

OPERATIONS = 1000
CLIENTS = 4
GUNICORN_KILLS = 2
WORKER_KILLS = 1


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _ensure_prices() -> None:
    """An earlier transactional test's flush may have emptied the seeded price lists; purchases need them."""
    seeds = importlib.import_module("kontor.billing.migrations.0002_seed_prices")
    seeds.seed(apps, None)


def test_acknowledged_operations_survive_kill_9_exactly_once(tmp_path):
    _ensure_prices()
    world = build_world(tag="crashtest")
    port = int(os.environ["KONTOR_CRASH_PORT"]) if os.environ.get("KONTOR_CRASH_PORT") else None
    config = Config(operations=OPERATIONS, clients=CLIENTS, kills=GUNICORN_KILLS, worker_kills=WORKER_KILLS, port=port)
    report = execute(world, _database_url(), config, tmp_path)
    print_report(report)
    print(report.line())

    assert report.kills == GUNICORN_KILLS and report.worker_kills == WORKER_KILLS, "the kills must land mid-run"
    assert report.operations >= OPERATIONS
    # The mix really ran: most operations succeeded, and the reader read throughout.
    assert report.acknowledged > OPERATIONS // 2
    assert report.replays > 0
    assert report.snapshots >= 3
    assert report.anomalies == {}
    assert report.errors["http5xx"] == 0
    assert report.errors["conn"] == 0
