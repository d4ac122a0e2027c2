"""Group commit (messaging/groupcommit.py) under failure and contention: a group is written once even
when enqueueing its dispatch fails after the commit, and every wallet a group moves is locked up front
in id order (the hold wallet included), as the ledger's other postings lock them."""

from __future__ import annotations

import queue
import re

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kontor.ledger.posting import hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging import groupcommit, services
from kontor.messaging.models import Message, RateCardEntry, Status
from tests.messaging.conftest import fund

TO = "+46701234567"


def pending(account, actor, wallet, *, to=TO):
    return groupcommit.Pending(
        account=account,
        actor=actor,
        wallet=wallet,
        from_number="Kontor",
        to=to,
        text="hello",
        encoding="gsm7",
        segments=1,
        credits=1,
        rate_prefix="",
        operator="",
        status=Status.QUEUED,
        scheduled_for=None,
        at=timezone.now(),
    )


@pytest.fixture
def enqueue_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the task queue is down")

    monkeypatch.setattr(services, "enqueue_dispatch", broken)


@pytest.fixture(autouse=True)
def _rate():
    # A transactional test may follow one that flushed what the migrations seed.
    RateCardEntry.objects.get_or_create(prefix="", defaults={"operator": "Any destination", "credits_per_segment": 1})


@pytest.fixture(autouse=True)
def _stop_committer():
    yield
    groupcommit.shutdown()


@pytest.mark.django_db(transaction=True)
def test_a_lost_dispatch_task_does_not_write_the_group_again(world, enqueue_fails):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 10)
    committer = groupcommit.Committer.__new__(groupcommit.Committer)  # no thread: drive _write directly
    items = [pending(account, sender, wallet, to=f"+4670123456{i}") for i in range(2)]
    committer._write(items)
    # Committed once, answered as written; the sweep (`kontor dispatch_pending`) sends what has no task.
    assert all(item.error is None and item.message is not None for item in items)
    assert Message.objects.count() == 2
    wallet.refresh_from_db()
    assert wallet.balance == 8
    assert verify() == []


@pytest.mark.django_db(transaction=True)
def test_a_single_send_whose_task_is_lost_is_answered_not_refused(world, enqueue_fails):
    account, sender = world.acme.account, world.acme.user("sender")
    fund(pool_wallet(account), 10)
    message = services.send_message(account, actor=sender, to=TO, text="hi")
    assert message.status == Status.QUEUED
    assert list(Message.objects.values_list("pk", flat=True)) == [message.pk]


@pytest.mark.django_db
def test_every_wallet_the_group_moves_is_locked_first_in_id_order(world):
    if not connection.features.has_select_for_update:
        pytest.skip("row locks: PostgreSQL only")
    account, sender = world.acme.account, world.acme.user("sender")
    hold = hold_wallet(world.acme.customer)
    wallet = fund(pool_wallet(account), 10)  # made after the hold wallet: a higher id
    assert hold.pk < wallet.pk
    with CaptureQueriesContext(connection) as queries:
        groupcommit.write_group([pending(account, sender, wallet)])
    statements = [q["sql"] for q in queries.captured_queries]
    [lock] = [s for s in statements if "FOR UPDATE" in s and '"ledger_wallet"' in s.split("FOR UPDATE")[0]]
    later = statements[statements.index(lock) + 1 :]
    moved = {int(m) for s in later for m in re.findall(r"UPDATE ledger_wallet SET balance = .* WHERE id = (\d+)", s)}
    assert moved == {hold.pk, wallet.pk}
    # The rows that one ordered statement took: every wallet moved afterwards must be among them, or
    # the hold wallet (the lower id) would be locked after the pool wallet, out of order.
    with connection.cursor() as cursor:
        cursor.execute(lock.replace(" FOR UPDATE", ""))
        locked = {row[0] for row in cursor.fetchall()}
    assert moved <= locked


@pytest.mark.django_db(transaction=True)
@override_settings(KONTOR_GROUP_COMMIT=True)
def test_a_send_not_confirmed_in_time_is_a_503_not_a_500(world, client, monkeypatch):
    fund(pool_wallet(world.acme.account), 10)
    stalled = groupcommit.Committer.__new__(groupcommit.Committer)  # a committer that never gets to it
    stalled.queue = queue.SimpleQueue()
    monkeypatch.setattr(groupcommit, "_committer", lambda: stalled)
    monkeypatch.setattr(groupcommit, "WAIT_SECONDS", 0.05)
    response = client.post(
        "/api/v1/messages",
        data={"to": TO, "text": "hello"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {world.acme.key_secret}",
    )
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "not_confirmed"
    assert Message.objects.count() == 0  # nothing was written (yet): the item is still queued


@pytest.mark.django_db(transaction=True)
@override_settings(KONTOR_GROUP_COMMIT=True)
def test_the_send_page_says_not_confirmed_and_keeps_its_key(world, client, monkeypatch):
    fund(pool_wallet(world.acme.account), 10)
    stalled = groupcommit.Committer.__new__(groupcommit.Committer)
    stalled.queue = queue.SimpleQueue()
    monkeypatch.setattr(groupcommit, "_committer", lambda: stalled)
    monkeypatch.setattr(groupcommit, "WAIT_SECONDS", 0.05)
    client.force_login(world.acme.users["sender"])
    response = client.post("/messages/send/", {"to": TO, "text": "hello", "idempotency_key": "web-key-1"})
    assert response.status_code == 200
    assert "not confirmed in time" in response.content.decode()
    assert response.context["form"]["idempotency_key"].value() == "web-key-1"  # a retry cannot send it twice
