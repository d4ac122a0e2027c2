"""Campaign fan-out (issue 4, benchmarks): one campaign to an N-contact phonebook with a custom column
in the template, sent through `send_campaign` (render, price, reserve, write, enqueue dispatch, commit
durably), in recipients per second, beside PostgreSQL COPY of the same N message rows into a plain
copy of the message table (same columns and indexes, no foreign keys or triggers) in the same run.
Target: at least 0.2x COPY, with the process's peak memory under 300 MB. The last line printed is
the ratio.

    python -m bench campaign_fanout --recipients 100000
    python -m bench campaign_fanout --recipients 500          # CI: proves it still runs

`run(recipients, server_url=...)` measures in a fresh process (peak memory is a process's high-water
mark, so it must not inherit the caller's) and returns a FanoutResult."""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BenchUnavailable,
    drop_database,
    ratio,
    recreate_database,
    say,
    server_url,
    setup_django,
    synchronous_commit,
)

DATABASE = "kontor_bench_fanout"
COPY_TABLE = "bench_message_copy"
TEMPLATE = "Hi {Name}, your spring offer is ready: 20% off everything until Sunday. Reply STOP to opt out."
OPTED_OUT_EVERY = 100  # one extra contact per 100 recipients has opted out and must be skipped
TARGET_RATIO = 0.2
MEMORY_LIMIT_MB = 300


@dataclass(frozen=True)
class FanoutResult:
    recipients: int
    seconds: float  # send_campaign, from the call to its return (committed, dispatch enqueued)
    plan_seconds: float  # the preview of the same campaign: read, render and price only
    copy_seconds: float  # the best of two COPYs of the same rows
    peak_rss_mb: float  # the measuring process's high-water mark
    rss_before_mb: float  # ... before the fan-out (Django, the world)
    tasks: int  # dispatch tasks enqueued
    phases: dict[str, float] = field(default_factory=dict)  # where the send's seconds went

    @property
    def per_second(self) -> float:
        return self.recipients / self.seconds if self.seconds else 0.0

    @property
    def copy_per_second(self) -> float:
        return self.recipients / self.copy_seconds if self.copy_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.per_second / self.copy_per_second if self.copy_per_second else 0.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


# --- the world -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    account_id: int
    master_id: int
    phonebook_id: int


def _phone(i: int) -> str:
    return f"+4670{1_000_000 + i:07d}"


def build_world(recipients: int) -> World:
    """A pool-mode customer with one account, a Name column, a phonebook of `recipients` reachable
    contacts plus some opted out, credits for all of them and a Swedish rate on the card."""
    from django.db import connection, transaction
    from django.utils import timezone

    from kontor.access.models import User
    from kontor.contacts.models import Contact, OptOut, Phonebook
    from kontor.ledger.posting import Leg, pool_wallet, post, provider_wallet
    from kontor.messaging.models import RateCardEntry
    from kontor.tenancy.models import Account, CustomColumn, Customer

    customer = Customer.objects.create(name="Fan-out customer", billing_id="fanout-1", country="SE")
    account = Account.objects.create(customer=customer, name="Marketing")
    column = CustomColumn.objects.create(customer=customer, account=account, position=1, name="Name")
    master = User.objects.create(
        customer=customer, email="master@fanout.test", first_name="Fan", last_name="Out", is_master=True
    )
    book = Phonebook.objects.create(customer=customer, account=account, name="Everyone")
    RateCardEntry.objects.update_or_create(prefix="46", defaults={"country": "SE", "credits_per_segment": 1})
    RateCardEntry.objects.update_or_create(
        prefix="4670", defaults={"country": "SE", "operator": "Bench Mobile", "credits_per_segment": 2}
    )
    extra = recipients // OPTED_OUT_EVERY
    names = ["Anna", "Björn", "Cecilia", "David", "Elin", "Fredrik", "Greta", "Hugo"]
    now = timezone.now()
    table = connection.ops.quote_name(Contact._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        columns = "customer_id, account_id, phonebook_id, phone, values, search, created_at, updated_at"
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for i in range(recipients + extra):
                name = f"{names[i % len(names)]} {i}"
                values = json.dumps({str(column.pk): name})
                copy.write_row(
                    (customer.pk, account.pk, book.pk, _phone(i), values, f"{_phone(i)}\n{name}".lower(), now, now)
                )
        OptOut.objects.bulk_create(
            [
                OptOut(customer=customer, account=account, phone=_phone(i), source=OptOut.Source.MANUAL)
                for i in range(recipients, recipients + extra)
            ]
        )
        provider = provider_wallet("SMS", customer)
        credits = recipients * 2 * 6  # the most segments a message may have, at the 4670 rate
        post("purchase", [Leg(provider, -credits), Leg(pool_wallet(account), credits)], actor=master, customer=customer)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table}")
    return World(account.pk, master.pk, book.pk)


# --- the measurements ----------------------------------------------------------------------------


class Phases:
    """Seconds spent in each step of one send_campaign call, by wrapping the steps with timers (a few
    calls each, so the wrapping costs nothing measurable): plan, write (COPY), reserve, commit (where
    PostgreSQL runs the deferred foreign-key checks), and the rest (chiefly enqueueing dispatch)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def __enter__(self) -> Phases:
        from django.db.backends.base.base import BaseDatabaseWrapper

        from kontor.messaging.bulk import fanout

        self.wrap(fanout, "plan", "plan")
        self.wrap(fanout, "write", "write")
        self.wrap(fanout, "reserve", "reserve")
        self.wrap(BaseDatabaseWrapper, "commit", "commit")
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


def checkpoint() -> None:
    """Start a measurement with nothing left to flush from the one before (a checkpoint that began in
    the middle of one would bill it for the other's writes). Needs superuser or pg_checkpoint; without,
    the measurements simply run without it."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    except DatabaseError:
        pass


def fan_out(world: World) -> tuple[float, float, int, int, dict[str, float]]:
    """(plan seconds, send seconds, campaign id, tasks enqueued, seconds per phase of the send)."""
    from django_tasks_db.models import DBTaskResult

    from kontor.access.models import User
    from kontor.contacts.models import Phonebook
    from kontor.messaging.services.campaigns import preview_campaign, send_campaign
    from kontor.tenancy.models import Account

    account = Account.objects.select_related("customer").get(pk=world.account_id)
    master = User.objects.get(pk=world.master_id)
    book = Phonebook.objects.get(pk=world.phonebook_id)
    started = time.perf_counter()
    preview = preview_campaign(account, text=TEMPLATE, phonebook=book)
    plan_seconds = time.perf_counter() - started
    tasks_before = DBTaskResult.objects.count()
    checkpoint()
    with Phases() as phases:
        started = time.perf_counter()
        campaign = send_campaign(account, actor=master, name="Spring", text=TEMPLATE, phonebook=book)
        seconds = time.perf_counter() - started
    assert campaign.recipients_count == preview.recipients, (campaign.recipients_count, preview.recipients)
    split = dict(phases.seconds)
    split["other"] = seconds - sum(split.values())
    return plan_seconds, seconds, campaign.pk, DBTaskResult.objects.count() - tasks_before, split


def copy_baseline(campaign_id: int) -> float:
    """Seconds to COPY the campaign's message rows, as PostgreSQL itself writes them back, into a table
    like the message table (columns, defaults, checks, indexes; not its foreign keys): the best of two."""
    from django.db import connection, transaction

    from kontor.messaging.models import Message

    source = connection.ops.quote_name(Message._meta.db_table)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        cursor.execute(f"CREATE TABLE {COPY_TABLE} (LIKE {source} INCLUDING ALL)")
        with cursor.copy(
            f"COPY (SELECT * FROM {source} WHERE campaign_id = %s ORDER BY id) TO STDOUT", [campaign_id]
        ) as copy:
            for block in copy:
                buffer.write(block)
    data = buffer.getvalue()
    best = float("inf")
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {COPY_TABLE}")
        checkpoint()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor, cursor.copy(f"COPY {COPY_TABLE} FROM STDIN") as copy:
            view = memoryview(data)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start : start + (1 << 20)])
        best = min(best, time.perf_counter() - started)
    return best


def measure(recipients: int) -> FanoutResult:
    """In this process, with Django already pointed at a migrated scratch database."""
    from django.core.management import call_command

    world = build_world(recipients)
    rss_before = _current_rss_mb()
    plan_seconds, seconds, campaign_id, tasks, phases = fan_out(world)
    peak = _rss_mb()
    copy_seconds = copy_baseline(campaign_id)
    call_command("ledger", "verify", stdout=io.StringIO())
    return FanoutResult(recipients, seconds, plan_seconds, copy_seconds, peak, rss_before, tasks, phases)


def run(recipients: int, *, server_url: str) -> FanoutResult:
    """Measure in a fresh process on the PostgreSQL server of `server_url` (its own scratch database)."""
    env = {**os.environ, "KONTOR_BENCH_DATABASE_URL": server_url}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "campaign_fanout", "--recipients", str(recipients), "--json"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise BenchUnavailable(f"campaign_fanout failed: {(done.stdout + done.stderr)[-1000:]}")
    return FanoutResult(**json.loads(lines[-1]))


def report(result: FanoutResult) -> list[str]:
    return [
        f"plan (preview: read, render, price): {result.plan_seconds:.2f}s",
        f"fan-out: {result.recipients} recipients in {result.seconds:.2f}s = {result.per_second:.0f} recipients/s "
        f"({result.tasks} dispatch tasks enqueued)",
        "fan-out phases: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in result.phases.items()),
        f"memory: peak RSS {result.peak_rss_mb:.0f} MB (before the fan-out {result.rss_before_mb:.0f} MB; "
        f"limit {MEMORY_LIMIT_MB} MB)",
        f"COPY of the same rows: {result.copy_seconds:.2f}s = {result.copy_per_second:.0f} rows/s",
    ]


def ratio_line(result: FanoutResult) -> str:
    return (
        f"campaign_fanout ratios: fanout={ratio(result.per_second, result.copy_per_second)} "
        f"(vs COPY {result.copy_per_second:.0f} rows/s, target {TARGET_RATIO}x; "
        f"peak {result.peak_rss_mb:.0f} MB of {MEMORY_LIMIT_MB} MB)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench campaign_fanout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    args = parser.parse_args(argv)
    server = server_url()
    try:
        url = recreate_database(server, DATABASE)
    except BenchUnavailable as exc:
        say(f"campaign_fanout: skipped: {exc}")
        say("campaign_fanout ratios: fanout=n/a (PostgreSQL unavailable)")
        return 2
    try:
        setup_django(url)
        say(f"campaign fan-out bench: {args.recipients} recipients, synchronous_commit={synchronous_commit()}")
        result = measure(args.recipients)
        for line in report(result):
            say(line)
        if args.json:
            say(json.dumps(asdict(result)))
        else:
            say(ratio_line(result))
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(server, DATABASE)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
