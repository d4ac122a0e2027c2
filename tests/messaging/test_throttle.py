"""Per-account send rate: a token bucket in the database throttles dispatch; held-back messages stay
queued with their credits reserved and a turn (`next_attempt_at`); staff set the rate, audited."""

from __future__ import annotations

import datetime as dt

import pytest

from kontor.audit.models import AuditEntry
from kontor.core.errors import Forbidden, Invalid
from kontor.ledger.posting import hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import simulator
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, SendBucket, SendRate, Status
from kontor.messaging.rules import sendrate as throttle
from kontor.messaging.services.messages import send_batch, send_message
from kontor.messaging.services.sendrate import set_send_rate
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 4, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_simulator():
    simulator.forget_all()
    yield
    simulator.forget_all()


@pytest.fixture
def clock(monkeypatch):
    """A frozen clock; `clock.advance(seconds)` moves it."""

    class Clock:
        now = T0

        def advance(self, seconds: float) -> None:
            self.now += dt.timedelta(seconds=seconds)

    c = Clock()
    monkeypatch.setattr(delivery.timezone, "now", lambda: c.now)
    return c


@pytest.fixture
def globex_pool(world):
    return fund(pool_wallet(world.globex.account), 10)


def burst(world, n):
    """n queued messages (their dispatch is left to the test: on-commit work does not run here)."""
    items = [("+46701234567", f"Hello {i}") for i in range(n)]
    return send_batch(world.acme.account, actor=world.acme.users["sender"], messages=items)


def test_rate_two_lets_two_through_per_second_and_keeps_the_rest_queued(world, pool, clock):
    set_send_rate(world.acme.account, 2, actor=world.staff["tam"])
    rows = burst(world, 5)
    credits = rows[0].credits
    assert [delivery.dispatch(m.pk) for m in rows] == ["accepted"] * 2 + ["throttled"] * 3
    held = list(Message.objects.filter(pk__in=[m.pk for m in rows[2:]]).order_by("pk"))
    assert [m.status for m in held] == [Status.QUEUED] * 3
    assert [m.next_attempt_at for m in held] == [T0 + dt.timedelta(seconds=s) for s in (0.5, 1.0, 1.5)]
    # Their credits stay reserved, nothing settled or released for them.
    assert hold_wallet(world.acme.customer).balance == 3 * credits
    assert pool_wallet(world.acme.account).balance == 100 - 5 * credits
    assert verify() == []

    # The same instant again: nothing more goes out, and no turn moves.
    assert [delivery.dispatch(m.pk) for m in held] == ["throttled"] * 3
    assert [m.next_attempt_at for m in Message.objects.filter(pk__in=[m.pk for m in held]).order_by("pk")] == [
        T0 + dt.timedelta(seconds=s) for s in (0.5, 1.0, 1.5)
    ]

    clock.advance(1)
    assert [delivery.dispatch(m.pk) for m in held] == ["accepted", "accepted", "throttled"]
    assert Message.objects.filter(pk__in=[m.pk for m in rows], status=Status.ACCEPTED).count() == 4
    assert Message.objects.get(pk=held[0].pk).next_attempt_at is None
    assert hold_wallet(world.acme.customer).balance == credits
    assert verify() == []

    clock.advance(0.5)
    assert delivery.dispatch(held[2].pk) == "accepted"
    assert hold_wallet(world.acme.customer).balance == 0
    assert verify() == []


def test_a_message_that_comes_later_waits_behind_those_already_given_a_turn(world, pool, clock):
    set_send_rate(world.acme.account, 2, actor=world.staff["tam"])
    rows = burst(world, 5)
    for m in rows:
        delivery.dispatch(m.pk)
    clock.advance(1)
    late = burst(world, 1)[0]
    # One second refilled two tokens, but the three held back already own them and the next one.
    assert delivery.dispatch(late.pk) == "throttled"
    late.refresh_from_db()
    assert late.next_attempt_at == T0 + dt.timedelta(seconds=2)
    assert SendBucket.objects.get(account=world.acme.account).tokens == pytest.approx(-2.0)


def test_bucket_holds_one_second_of_burst(world, pool, clock):
    set_send_rate(world.acme.account, 2, actor=world.staff["tam"])
    clock.advance(3600)  # an idle hour refills no more than the rate
    rows = burst(world, 3)
    assert [delivery.dispatch(m.pk) for m in rows] == ["accepted", "accepted", "throttled"]


def test_default_rate_comes_from_settings(world, pool, globex_pool, clock, settings):
    settings.KONTOR_DEFAULT_SEND_RATE = 3
    assert throttle.rate_for(world.acme.account) == 3
    rows = burst(world, 4)
    assert [delivery.dispatch(m.pk) for m in rows] == ["accepted"] * 3 + ["throttled"]
    # Another account has its own bucket.
    other = send_message(world.globex.account, actor=world.globex.users["sender"], to="+46701234567", text="Hi")
    assert delivery.dispatch(other.pk) == "accepted"


def test_scheduled_message_held_back_becomes_queued_with_its_turn(world, pool, clock):
    set_send_rate(world.acme.account, 1, actor=world.staff["tam"])
    first = burst(world, 1)[0]
    later = send_message(
        world.acme.account,
        actor=world.acme.users["sender"],
        to="+46701234567",
        text="Later",
        schedule_at=T0 + dt.timedelta(minutes=5),
    )
    assert later.status == Status.SCHEDULED
    assert delivery.dispatch(first.pk) == "accepted"
    assert delivery.dispatch(later.pk) == "not due"
    clock.advance(300)
    extra = burst(world, 1)[0]
    assert delivery.dispatch(extra.pk) == "accepted"
    assert delivery.dispatch(later.pk) == "throttled"
    later.refresh_from_db()
    assert later.status == Status.QUEUED
    assert later.next_attempt_at == clock.now + dt.timedelta(seconds=1)
    assert later.events.filter(status=Status.QUEUED, detail__has_key="throttled_until").exists()


def test_pending_skips_held_back_messages_until_their_turn(world, pool, clock):
    set_send_rate(world.acme.account, 1, actor=world.staff["tam"])
    rows = burst(world, 2)
    assert [delivery.dispatch(m.pk) for m in rows] == ["accepted", "throttled"]
    held = rows[1]
    Message.objects.filter(pk=held.pk).update(next_attempt_at=T0 + dt.timedelta(seconds=100))
    assert held.pk not in delivery.pending(T0 + dt.timedelta(seconds=60))
    assert held.pk in delivery.pending(T0 + dt.timedelta(seconds=100))
    clock.advance(100)
    assert delivery.dispatch(held.pk) == "accepted"


def test_set_send_rate_refuses_out_of_range_and_needs_staff(world):
    account, tam = world.acme.account, world.staff["tam"]
    for bad in (0, 10_001, -5, True):
        with pytest.raises(Invalid) as exc:
            set_send_rate(account, bad, actor=tam)
        assert "messages_per_second" in exc.value.fields
    for actor in (world.staff["csr"], world.acme.master):
        with pytest.raises(Forbidden):
            set_send_rate(account, 10, actor=actor)
    assert not SendRate.objects.exists()
    assert not AuditEntry.objects.filter(action="send_rate.set").exists()


def test_set_send_rate_writes_audit_row_and_changes_the_rate(world, settings):
    settings.KONTOR_DEFAULT_SEND_RATE = 50
    account, tam = world.acme.account, world.staff["tam"]
    set_send_rate(account, 10_000, actor=tam)
    set_send_rate(account, 1, actor=tam)
    assert throttle.rate_for(account) == 1
    assert throttle.rate_for(world.acme.other_account) == 50
    assert SendRate.objects.filter(account=account).count() == 1
    rows = list(AuditEntry.objects.filter(action="send_rate.set", account_id=account.pk).order_by("id"))
    assert [(r.before, r.after) for r in rows] == [
        ({"messages_per_second": 50}, {"messages_per_second": 10_000}),
        ({"messages_per_second": 10_000}, {"messages_per_second": 1}),
    ]
    assert rows[0].actor == tam and rows[0].customer_id == account.customer_id


def test_send_page_shows_the_rate(client, world, pool):
    set_send_rate(world.acme.account, 7, actor=world.staff["tam"])
    client.force_login(world.acme.users["sender"])
    html = client.get("/messages/send/").content.decode()
    assert "At most 7 messages per second" in html
