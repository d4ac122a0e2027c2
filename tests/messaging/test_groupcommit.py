"""Group commit (messaging/bulk/groupcommit.py): concurrent single sends share one transaction, each
refused on its own when its wallet cannot cover it or its number opted out, and never lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from kontor.contacts.models import OptOut
from kontor.core.errors import Invalid
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import InsufficientCredits, hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.bulk import groupcommit
from kontor.messaging.bulk import insert as bulkinsert
from kontor.messaging.models import Message, MessageEvent, RateCardEntry, Status
from kontor.messaging.services import messages as services
from tests.messaging.conftest import fund

TO = "+46701234567"


def pending(account, actor, wallet, *, to=TO, credits=1, key=None):
    return groupcommit.Pending(
        account=account,
        actor=actor,
        wallet=wallet,
        from_number="Kontor",
        to=to,
        text="hello",
        encoding="gsm7",
        segments=1,
        credits=credits,
        rate_prefix="",
        operator="",
        status=Status.QUEUED,
        scheduled_for=None,
        at=timezone.now(),
        idempotency_key=key,
    )


@pytest.mark.django_db
def test_a_group_writes_each_message_with_its_own_reservation(world):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 10)
    items = [pending(account, sender, wallet, to=f"+4670123456{i}", credits=2) for i in range(4)]
    groupcommit.write_group(items)
    assert all(item.error is None and item.message is not None for item in items)
    messages = Message.objects.filter(pk__in=[item.message.pk for item in items])
    assert sorted(m.to_number for m in messages) == sorted(item.to for item in items)
    reservations = JournalTransaction.objects.filter(kind=JournalTransaction.Kind.RESERVATION)
    assert sorted(reservations.values_list("reference", flat=True)) == sorted(m.reference for m in messages)
    assert MessageEvent.objects.filter(message__in=messages, status=Status.QUEUED).count() == 4
    wallet.refresh_from_db()
    assert wallet.balance == 2
    assert hold_wallet(world.acme.customer).balance == 8
    assert verify() == []


@pytest.mark.django_db
def test_the_message_that_would_overdraw_is_refused_alone(world):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 5)
    first, greedy, last = (pending(account, sender, wallet, credits=c) for c in (2, 4, 3))
    groupcommit.write_group([first, greedy, last])
    assert isinstance(greedy.error, InsufficientCredits)
    assert greedy.error.available == 3 and greedy.error.needed == 4
    assert greedy.message is None
    assert first.message is not None and last.message is not None
    wallet.refresh_from_db()
    assert wallet.balance == 0
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_all_or_nothing_refuses_the_whole_group_with_its_totals(world):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 5)
    items = [pending(account, sender, wallet, credits=2) for _ in range(3)]
    with pytest.raises(InsufficientCredits) as refused:
        groupcommit.write_group(items, all_or_nothing=True)
    assert (refused.value.available, refused.value.needed) == (5, 6)
    assert Message.objects.count() == 0
    wallet.refresh_from_db()
    assert wallet.balance == 5


@pytest.mark.django_db
def test_an_opted_out_number_is_refused_and_the_others_go(world):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 5)
    OptOut.objects.create(customer=world.acme.customer, account=account, phone="+46700000001")
    stopped, fine = pending(account, sender, wallet, to="+46700000001"), pending(account, sender, wallet)
    groupcommit.write_group([stopped, fine])
    assert isinstance(stopped.error, Invalid) and "opted out" in stopped.error.fields["to"][0]
    assert fine.message is not None
    assert list(Message.objects.values_list("to_number", flat=True)) == [TO]


@pytest.mark.django_db
def test_the_opt_out_still_refuses_a_single_send(world, pool):
    OptOut.objects.create(customer=world.acme.customer, account=world.acme.account, phone=TO)
    with pytest.raises(Invalid) as refused:
        services.send_message(world.acme.account, actor=world.acme.user("sender"), to=TO, text="hi")
    assert "opted out" in refused.value.fields["to"][0]
    assert Message.objects.count() == 0


# --- the committer thread: real commits, so these tests use transactional databases --------------


@pytest.fixture(autouse=True)
def _stop_committer():
    yield
    groupcommit.shutdown()  # its connection would keep the test database from being dropped


@pytest.mark.django_db(transaction=True)
@override_settings(KONTOR_GROUP_COMMIT=True)
def test_concurrent_sends_share_commits_and_each_is_answered(world):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("threads need a database file they can all open")  # pragma: no cover
    account, sender = world.acme.account, world.acme.user("sender")
    # An earlier transactional test may have flushed the rate card the migrations seed.
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})
    fund(pool_wallet(account), 25)
    results: list[object] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        try:
            outcome: object = services.send_message(account, actor=sender, to=f"+467012345{i:02d}", text="hi")
        except Exception as exc:  # the overdrafts
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30 * 60)  # a cap only a hang reaches: a busy machine may take long, never fails
    assert not any(thread.is_alive() for thread in threads), "a sender hung"
    sent = [r for r in results if isinstance(r, Message)]
    refused = [r for r in results if isinstance(r, InsufficientCredits)]
    assert len(results) == 30
    assert len(sent) == 25 and len(refused) == 5
    assert Message.objects.filter(account=account).count() == 25
    assert sorted(m.pk for m in sent) == sorted(Message.objects.values_list("pk", flat=True))
    assert pool_wallet(account).balance == 0
    assert verify() == []


@pytest.mark.django_db(transaction=True)
@override_settings(KONTOR_GROUP_COMMIT=True)
def test_a_message_that_breaks_its_group_fails_alone(world):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 10)
    committer = groupcommit.Committer.__new__(groupcommit.Committer)  # no thread: drive _write directly
    good = pending(account, sender, wallet)
    twin_a = pending(account, sender, wallet, key="same-key")
    twin_b = pending(account, sender, wallet, key="same-key")  # the unique key breaks a shared insert
    committer._write([good, twin_a, twin_b])
    assert good.message is not None and good.error is None
    assert twin_a.message is not None
    assert twin_b.message is None and twin_b.error is not None
    assert all(item.done.is_set() for item in (good, twin_a, twin_b))
    assert Message.objects.count() == 2
    wallet.refresh_from_db()
    assert wallet.balance == 8


@pytest.mark.django_db
def test_a_large_batch_is_stored_exactly_as_returned(world, monkeypatch):
    """On PostgreSQL a batch this size is COPYed (groupcommit.COPY_FROM); on SQLite bulk-inserted. Either
    way the rows, their events and what the caller gets back agree, odd characters included."""
    account, sender = world.acme.account, world.acme.user("sender")
    fund(pool_wallet(account), 500)
    behalf = world.acme.user("support")
    texts = ["tab\there", "new\nline", "back\\slash", "plain", "emoji 🙂", "quote ' \" done"]
    items = [(f"+467012{i:05d}", texts[i % len(texts)]) for i in range(groupcommit.COPY_FROM + 10)]
    copied = []
    real_copy = bulkinsert.copy_messages
    monkeypatch.setattr(bulkinsert, "copy_messages", lambda *a: copied.append(1) or real_copy(*a))
    sent = services.send_batch(account, actor=sender, messages=items, on_behalf_of=behalf)
    assert len(sent) == len(items)
    assert copied == ([1] if connection.vendor == "postgresql" else [])
    stored = {m.pk: m for m in Message.objects.filter(account=account)}
    assert sorted(stored) == sorted(m.pk for m in sent)
    for returned, (to, text) in zip(sent, items, strict=True):
        row = stored[returned.pk]
        assert (row.to_number, row.text) == (to, text) == (returned.to_number, returned.text)
        for name in ("credits", "segments", "encoding", "status", "wallet_id", "on_behalf_of_id", "user_id"):
            assert getattr(row, name) == getattr(returned, name), name
        assert row.created_at == returned.created_at
        assert row.on_behalf_of_id == behalf.pk and row.campaign_id is None
    events = MessageEvent.objects.filter(message__account=account)
    assert events.count() == len(items)
    for event in events:
        message = stored[event.message_id]
        assert event.status == Status.QUEUED
        assert event.detail == bulkinsert.created_detail(message)
    assert pool_wallet(account).balance == 500 - sum(m.credits for m in sent)
    assert verify() == []
