"""Group commit (messaging/bulk/groupcommit.py) under failure and contention: a group is written once even
when enqueueing its dispatch fails after the commit; its wallets are locked only by the ledger's
ordered UPDATEs, last, as every other posting locks them; a spend that overtakes its balance read
refuses the group, whose messages then go one by one."""

from __future__ import annotations

import os
import queue
import re
import threading

import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kontor.ledger.posting import InsufficientCredits, hold_wallet, pool_wallet
from kontor.ledger.verify import verify
from kontor.messaging.bulk import groupcommit
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.models import Message, RateCardEntry, Status
from kontor.messaging.services import messages as services
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

    monkeypatch.setattr(delivery, "enqueue_dispatch", broken)


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
def test_wallets_are_locked_only_by_the_ledgers_updates_last_and_in_id_order(world):
    account, sender = world.acme.account, world.acme.user("sender")
    hold = hold_wallet(world.acme.customer)
    wallet = fund(pool_wallet(account), 10)  # made after the hold wallet: a higher id
    assert hold.pk < wallet.pk
    with CaptureQueriesContext(connection) as queries:
        groupcommit.write_group([pending(account, sender, wallet)])
    statements = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in statements if "FOR UPDATE" in s or "FOR NO KEY UPDATE" in s]
    updates = [
        (i, int(m))
        for i, s in enumerate(statements)
        for m in re.findall(r"UPDATE ledger_wallet SET .* WHERE id = (\d+)", s)
    ]
    # In id order, as every posting takes them (so a release cannot deadlock with a group) ...
    assert [wallet_id for _, wallet_id in updates] == [hold.pk, wallet.pk]
    # ... and after the messages and their events: the wallet locks are held only up to the commit.
    inserts = [i for i, s in enumerate(statements) if s.startswith("INSERT INTO") and "messaging_message" in s]
    assert inserts and max(inserts) < updates[0][0]


@pytest.mark.django_db(transaction=True)
def test_a_spend_between_the_read_and_the_update_refuses_the_group_then_each_goes_alone(world, monkeypatch):
    from kontor.ledger.posting import Leg, post, provider_wallet

    if connection.vendor != "postgresql":
        pytest.skip("a second writer while the group's transaction is open: PostgreSQL's row locks")
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 3)
    fit = groupcommit._fit_credits
    spent = []

    def someone_spends():  # another request, on its own connection, commits first
        try:
            post(
                "consumption",
                [Leg(wallet, -2), Leg(provider_wallet("SMS", world.acme.customer), 2)],
                actor=None,
                customer=world.acme.customer,
            )
            spent.append(True)
        finally:
            connection.close()

    def fit_then_someone_spends(items):
        kept = fit(items)
        if not spent:
            other = threading.Thread(target=someone_spends)
            other.start()
            other.join(30 * 60)  # a cap only a hang reaches: a busy machine may take long, never fails
            assert not other.is_alive(), "the competing spender hung"
        return kept

    monkeypatch.setattr(groupcommit, "_fit_credits", fit_then_someone_spends)
    committer = groupcommit.Committer.__new__(groupcommit.Committer)
    items = [pending(account, sender, wallet, to=f"+4670123456{i}") for i in range(3)]
    committer._write(items)
    # The group (3 credits) no longer fitted; alone, the first fits the one credit left.
    assert [item.message is not None for item in items] == [True, False, False]
    assert all(isinstance(item.error, InsufficientCredits) for item in items[1:])
    assert all(item.done.is_set() for item in items)
    wallet.refresh_from_db()
    assert wallet.balance == 0
    assert Message.objects.count() == 1
    assert verify() == []


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


class _Script:
    """A committer queue that hands out its steps in order (queue.Empty: the idle timeout)."""

    def __init__(self, *steps):
        self.steps = list(steps)

    def get(self, timeout=None):
        step = self.steps.pop(0)
        if step is queue.Empty:
            raise queue.Empty
        return step

    def put(self, step):
        self.steps.insert(0, step)

    def get_nowait(self):
        if not self.steps or self.steps[0] is queue.Empty or self.steps[0] is groupcommit._STOP:
            raise queue.Empty
        return self.steps.pop(0)


def _committer_on(*steps):
    committer = groupcommit.Committer.__new__(groupcommit.Committer)  # no thread: run its loop here
    committer.queue = _Script(*steps)
    return committer


@pytest.mark.django_db(transaction=True)
def test_a_failing_connection_cleanup_neither_ends_the_committer_nor_loses_the_group(world, monkeypatch):
    account, sender = world.acme.account, world.acme.user("sender")
    wallet = fund(pool_wallet(account), 10)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(groupcommit, "close_old_connections", flaky)
    first = [pending(account, sender, wallet, to=f"+4670123456{i}") for i in range(2)]
    later = pending(account, sender, wallet, to="+46701234569")
    # The first group meets the failing cleanup; the loop must go on to the next group and to the stop.
    _committer_on(*first, queue.Empty, later, groupcommit._STOP)._run()
    assert len(calls) == 2
    for item in [*first, later]:
        assert item.done.is_set() and item.error is None and item.message is not None
    assert Message.objects.count() == 3
    wallet.refresh_from_db()
    assert wallet.balance == 7
    assert verify() == []


@pytest.mark.django_db  # the module's rate fixture
def test_a_failing_connection_close_does_not_end_the_committer(monkeypatch):
    closes = []

    class Broken:
        def close(self):
            closes.append(1)
            raise OperationalError("connection already closed")

    monkeypatch.setattr(groupcommit, "connection", Broken())
    # Idle twice, then stopped: every close raises, and the loop still gets to the stop and returns.
    _committer_on(queue.Empty, queue.Empty, groupcommit._STOP)._run()
    assert len(closes) == 3


@pytest.mark.django_db  # the module's rate fixture
def test_a_dead_committer_thread_is_replaced(monkeypatch):
    dead = groupcommit.Committer.__new__(groupcommit.Committer)
    dead.pid = os.getpid()
    dead.queue = queue.SimpleQueue()
    dead.thread = threading.Thread(target=lambda: None)
    dead.thread.start()
    dead.thread.join()
    monkeypatch.setattr(groupcommit, "_instance", dead)
    fresh = groupcommit._committer()
    assert fresh is not dead and fresh.thread.is_alive()
    assert groupcommit._committer() is fresh  # a live one is kept
