"""Sending: validation, office hours, pricing, reserve → settle / release / refund, batches."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kontor.core.errors import ErrorCode, Forbidden, Invalid
from kontor.ledger.models import JournalTransaction, Wallet
from kontor.ledger.posting import InsufficientCredits, hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import SubmitResult
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, MessageEvent, RateCardEntry, Status
from kontor.messaging.rules.ratecard import price
from kontor.messaging.services import messages as services
from kontor.messaging.services.messages import OutsideOfficeHours, send_batch, send_message
from tests.messaging.conftest import fund

pytestmark = pytest.mark.django_db

STO = ZoneInfo("Europe/Stockholm")
TO = "+46701234567"


def balances(world):
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def statuses(message):
    return [e.status for e in message.events.order_by("at", "id")]


def test_rate_card_longest_prefix(world):
    assert price("+46701234567", 2) == (2, RateCardEntry.objects.get(prefix="46"))
    RateCardEntry.objects.create(prefix="4670", country="SE", operator="Telia", credits_per_segment=3)
    credits, entry = price("+46701234567", 2)
    assert credits == 6 and entry.operator == "Telia"
    assert price("+12025550123", 1)[0] == 2
    assert price("+4915112345678", 3) == (3, RateCardEntry.objects.get(prefix=""))


def test_send_reserves_then_settles_then_delivers(world, pool, run_commits):
    sender = world.acme.users["sender"]
    with run_commits():
        message = send_message(world.acme.account, actor=sender, to="070-123 45 67", text="Hello")
        assert message.status == Status.QUEUED and message.credits == 1
        assert balances(world) == (99, 1, 0)
    message.refresh_from_db()
    assert message.to_number == TO and message.from_number == "Kontor"
    assert message.status == Status.DELIVERED and message.connector == "simulator"
    assert message.downstream_id.startswith("sim-")
    assert statuses(message) == ["queued", "submitted", "accepted", "delivered"]
    assert balances(world) == (99, 0, 1)
    kinds = list(
        JournalTransaction.objects.filter(reference=message.reference)
        .order_by("created_at")
        .values_list("kind", flat=True)
    )
    assert sorted(kinds) == ["consumption", "reservation"]
    assert verify() == []


def test_submit_failure_releases(world, pool, run_commits):
    with run_commits():
        message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="Hi #fail")
    message.refresh_from_db()
    assert message.status == Status.FAILED and message.error_code == "SIM-REJECT"
    assert statuses(message) == ["queued", "submitted", "failed"]
    assert balances(world) == (100, 0, 0)
    assert JournalTransaction.objects.filter(reference=message.reference, kind="release").count() == 1
    assert verify() == []


@pytest.mark.parametrize("command,final", [("#undeliverable", Status.FAILED), ("#expire", Status.EXPIRED)])
def test_failure_after_acceptance_is_refunded(world, pool, run_commits, command, final):
    with run_commits():
        message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text=f"x {command}")
    message.refresh_from_db()
    assert message.status == final and message.error_code.startswith("SIM-")
    assert statuses(message) == ["queued", "submitted", "accepted", final]
    assert balances(world) == (100, 0, 0)
    refund = JournalTransaction.objects.get(kind="refund", customer=world.acme.customer)
    assert refund.reason == "Message failed after acceptance"
    # A repeated report changes nothing.
    delivery.handle_dlr(message.downstream_id, final)
    assert balances(world) == (100, 0, 0) and JournalTransaction.objects.filter(kind="refund").count() == 1
    assert verify() == []


def test_dlr_garbage_and_unknown(world, pool, run_commits):
    with pytest.raises(Invalid):
        delivery.handle_dlr("sim-x", "bogus")
    assert delivery.handle_dlr("no-such-id", "delivered") is None
    with run_commits():
        message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="hi")
    before = statuses(Message.objects.get(pk=message.pk))
    delivery.handle_dlr(Message.objects.get(pk=message.pk).downstream_id, "failed")  # already delivered
    assert statuses(Message.objects.get(pk=message.pk)) == before and balances(world) == (99, 0, 1)


def test_insufficient_credits_creates_nothing(world):
    fund(pool_wallet(world.acme.account), 1)
    RateCardEntry.objects.filter(prefix="46").update(credits_per_segment=2)
    with pytest.raises(InsufficientCredits) as exc:
        send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="Hi")
    assert "1 available, 2 needed" in str(exc.value)
    assert exc.value.status == 409
    assert not Message.objects.exists() and not MessageEvent.objects.exists()
    assert not JournalTransaction.objects.filter(kind="reservation").exists()
    assert verify() == []


def test_invalid_number_empty_and_too_long(world, pool, settings):
    sender = world.acme.users["sender"]
    with pytest.raises(Invalid) as exc:
        send_message(world.acme.account, actor=sender, to="12", text="Hi")
    assert "to" in exc.value.fields
    with pytest.raises(Invalid) as exc:
        send_message(world.acme.account, actor=sender, to=TO, text="   ")
    assert "text" in exc.value.fields
    settings.KONTOR_MAX_SEGMENTS = 2
    send_message(world.acme.account, actor=sender, to=TO, text="a" * 306)
    with pytest.raises(Invalid) as exc:
        send_message(world.acme.account, actor=sender, to=TO, text="a" * 307)
    assert "3 segments" in exc.value.fields["text"][0]
    assert Message.objects.count() == 1
    assert pool_wallet(world.acme.account).balance == 98  # the 2-segment message only


def test_multi_segment_unicode_priced_per_segment(world, pool):
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to="+12025550123", text="ж" * 71)
    assert (message.encoding, message.segments, message.credits) == ("ucs2", 2, 4)


def office_account(world):
    account = world.acme.account
    account.office_hours_only = True
    account.save()
    return account


def at(monkeypatch, when):
    monkeypatch.setattr(timezone, "now", lambda: when)


def test_office_hours_weekend_refused_with_next_monday(world, pool, monkeypatch):
    account = office_account(world)
    at(monkeypatch, dt.datetime(2026, 11, 21, 12, 0, tzinfo=STO))  # Saturday
    with pytest.raises(OutsideOfficeHours) as exc:
        send_message(account, actor=world.acme.users["sender"], to=TO, text="Hi")
    assert exc.value.next_allowed == dt.datetime(2026, 11, 23, 10, 0, tzinfo=STO)
    assert "Monday 2026-11-23 10:00" in exc.value.message
    assert exc.value.problem()["next_allowed"].startswith("2026-11-23T10:00:00+01:00")
    assert not Message.objects.exists() and pool_wallet(account).balance == 100


def test_office_hours_holiday_scheduled_instead(world, pool, monkeypatch, run_commits):
    account = office_account(world)
    at(monkeypatch, dt.datetime(2026, 6, 19, 11, 0, tzinfo=STO))  # Midsummer Eve, a Friday
    with run_commits():
        message = send_message(account, actor=world.acme.users["sender"], to=TO, text="Hi", office_hours="schedule")
    message.refresh_from_db()
    assert message.status == Status.SCHEDULED  # the immediate backend cannot defer: it waits for the sweep
    assert message.scheduled_for == dt.datetime(2026, 6, 22, 10, 0, tzinfo=STO)
    assert pool_wallet(account).balance == 99  # reserved already
    assert delivery.dispatch(message.pk) == "not due"
    assert delivery.pending() == []
    at(monkeypatch, dt.datetime(2026, 6, 22, 10, 0, 1, tzinfo=STO))
    assert delivery.pending() == [message.pk]
    with run_commits():
        assert delivery.dispatch(message.pk) == "accepted"
    message.refresh_from_db()
    assert message.status == Status.DELIVERED and statuses(message)[0] == "scheduled"
    assert verify() == []


def test_office_hours_within_window_and_dst_day(world, pool, monkeypatch):
    account = office_account(world)
    at(monkeypatch, dt.datetime(2026, 3, 30, 8, 30, tzinfo=dt.UTC))  # Monday after the change: 10:30 CEST
    assert send_message(account, actor=world.acme.users["sender"], to=TO, text="Hi").status == Status.QUEUED
    at(monkeypatch, dt.datetime(2026, 3, 30, 7, 30, tzinfo=dt.UTC))  # 09:30 CEST
    with pytest.raises(OutsideOfficeHours) as exc:
        send_message(account, actor=world.acme.users["sender"], to=TO, text="Hi")
    assert exc.value.next_allowed.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)


def test_bad_office_hours_choice_and_schedule(world, pool):
    sender = world.acme.users["sender"]
    with pytest.raises(Invalid):
        send_message(world.acme.account, actor=sender, to=TO, text="Hi", office_hours="maybe")
    with pytest.raises(Invalid):
        send_message(world.acme.account, actor=sender, to=TO, text="Hi", schedule_at=dt.datetime(2030, 1, 1))
    with pytest.raises(Invalid):
        far = timezone.now() + dt.timedelta(days=400)
        send_message(world.acme.account, actor=sender, to=TO, text="Hi", schedule_at=far)
    assert not Message.objects.exists()


def test_general_scheduling(world, pool):
    later = timezone.now() + dt.timedelta(hours=2)
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="Hi", schedule_at=later)
    assert message.status == Status.SCHEDULED and message.scheduled_for == later


def test_foreign_actor_refused(world, pool):
    with pytest.raises(Forbidden):
        send_message(world.acme.account, actor=world.globex.users["sender"], to=TO, text="Hi")
    assert not Message.objects.exists()


def test_idempotency_key(world, pool):
    sender = world.acme.users["sender"]
    first = send_message(world.acme.account, actor=sender, to=TO, text="Hi", idempotency_key="k1")
    again = send_message(world.acme.account, actor=sender, to=TO, text="Hi", idempotency_key="k1")
    assert again.pk == first.pk and pool_wallet(world.acme.account).balance == 99
    with pytest.raises(Invalid) as exc:
        send_message(world.acme.account, actor=sender, to=TO, text="Other", idempotency_key="k1")
    assert exc.value.code == ErrorCode.IDEMPOTENCY_MISMATCH


class DownConnector:
    name = "down"

    def submit(self, message):
        raise ConnectionError("SMSC unreachable")


class GarbageConnector:
    name = "garbage"

    def submit(self, message):
        return {"ok": True}


@pytest.mark.parametrize("connector", [DownConnector(), GarbageConnector()])
def test_connector_down_leaves_message_queued(world, pool, connector):
    message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="Hi")
    assert delivery.dispatch(message.pk, connector=connector) == "requeued"
    message.refresh_from_db()
    assert message.status == Status.QUEUED and message.attempts == 1
    assert statuses(message) == ["queued", "submitted", "queued"]
    assert balances(world) == (99, 1, 0)
    accepting = type("Ok", (), {"name": "ok", "submit": lambda self, m: SubmitResult(True, "ok-1")})()
    assert delivery.dispatch(message.pk, connector=accepting) == "accepted"
    assert delivery.dispatch(message.pk, connector=accepting) == "already accepted"
    assert balances(world) == (99, 0, 1) and verify() == []


def test_individual_mode_uses_sender_wallet(world, run_commits):
    from kontor.ledger.posting import user_wallet

    customer = world.acme.customer
    customer.credit_mode = "individual"
    customer.save()
    sender = world.acme.users["sender"]
    fund(user_wallet(sender), 5)
    with run_commits():
        message = send_message(world.acme.account, actor=sender, to=TO, text="Hi #undeliverable")
    message.refresh_from_db()
    assert message.wallet.kind == Wallet.Kind.USER and message.status == Status.FAILED
    assert user_wallet(sender).balance == 5 and verify() == []


def test_batch_all_or_nothing(world, pool, run_commits):
    sender = world.acme.users["sender"]
    with pytest.raises(Invalid) as exc:
        send_batch(world.acme.account, actor=sender, messages=[(TO, "ok"), ("nope", "x"), (TO, "")])
    assert set(exc.value.fields) == {"messages.1.to", "messages.2.text"}
    assert not Message.objects.exists()
    with pytest.raises(InsufficientCredits):
        send_batch(world.acme.account, actor=sender, messages=[(TO, "ok")] * 101)
    assert not Message.objects.exists() and pool_wallet(world.acme.account).balance == 100
    with run_commits():
        rows = send_batch(world.acme.account, actor=sender, messages=[(TO, "one"), ("+447911123456", "two #fail")])
    assert [m.pk for m in rows] == sorted(m.pk for m in rows)
    by_text = {m.text: m for m in Message.objects.all()}
    assert by_text["one"].status == Status.DELIVERED and by_text["two #fail"].status == Status.FAILED
    reservation = JournalTransaction.objects.get(kind="reservation")  # one for the batch
    assert reservation.reference.startswith("batch:")
    assert (
        sorted(p.amount for p in reservation.postings.all())
        == [by_text["one"].credits + by_text["two #fail"].credits] * 2
    )
    assert balances(world) == (99, 0, 1) and verify() == []
    with pytest.raises(Invalid):
        send_batch(world.acme.account, actor=sender, messages=[(TO, "x")] * (services.MAX_BATCH + 1))


def test_opted_out_number_refused(world, pool):
    from kontor.contacts import services as contacts

    contacts.opt_out(world.acme.account, TO, source="manual", actor=world.acme.master)
    sender = world.acme.users["sender"]
    with pytest.raises(Invalid) as exc:
        send_message(world.acme.account, actor=sender, to=TO, text="Hi")
    assert "opted out" in exc.value.fields["to"][0]
    with pytest.raises(Invalid) as exc:
        send_batch(world.acme.account, actor=sender, messages=[("+46709999999", "ok"), (TO, "no")])
    assert list(exc.value.fields) == ["messages.1.to"]
    # The opt-out is per account: the other account of the same customer may still send.
    fund(pool_wallet(world.acme.other_account), 1)
    send_message(world.acme.other_account, actor=world.acme.users["administrator"], to=TO, text="Hi")
    assert Message.objects.count() == 1


def test_dispatch_pending_command_and_account_probe(world, pool):
    from django.core.management import call_command

    from kontor.tenancy.registry import account_data

    message = send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text="Hi")
    Message.objects.filter(pk=message.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    call_command("dispatch_pending")
    message.refresh_from_db()
    assert message.status == Status.ACCEPTED
    assert ("messages", 1) in account_data(world.acme.account)
