"""Every background handler may run twice (at-least-once tasks, a sweep beside a task): the second run
changes nothing. And the sweeps: one bad row does not stop them, stuck submissions go before a queued
backlog, and each kind of work is bounded."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import hold_wallet, pool_wallet, provider_wallet
from kontor.ledger.verify import verify
from kontor.messaging.connectors import SubmitResult, simulator
from kontor.messaging.delivery import inbound, webhooks
from kontor.messaging.delivery import outbound as delivery
from kontor.messaging.management.commands import dispatch_pending as dispatch_pending_command
from kontor.messaging.models import Direction, InboundPartial, Message, Status, WebhookDelivery
from kontor.messaging.services.messages import send_message
from tests.messaging import test_webhooks
from tests.numbers import conftest as numbers_conftest
from tests.numbers.conftest import DEDICATED

pytestmark = pytest.mark.django_db

# The shared fixtures (assigned, not imported, so that pytest finds them here).
nums = numbers_conftest.nums
hook = test_webhooks.hook
receiver = test_webhooks.receiver
TO = "+46701234567"


@pytest.fixture(autouse=True)
def _fresh_simulator():
    simulator.forget_all()
    yield
    simulator.forget_all()


class Counting:
    """Accepts (or refuses) and counts the submits it got."""

    name = "counting"

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.calls = 0

    def submit(self, message):
        self.calls += 1
        if self.accept:
            return SubmitResult(True, downstream_id=f"cnt-{message.pk}")
        return SubmitResult(False, error_code="NOPE", error_text="Refused")


def send(world, text="Hello"):
    return send_message(world.acme.account, actor=world.acme.users["sender"], to=TO, text=text)


def journals(message, kind):
    return JournalTransaction.objects.filter(reference=message.reference, kind=kind).count()


def refunds(world):
    return JournalTransaction.objects.filter(kind="refund", customer=world.acme.customer).count()


def balances(world):
    customer = world.acme.customer
    return (
        pool_wallet(world.acme.account).balance,
        hold_wallet(customer).balance,
        provider_wallet("SMS", customer).balance,
    )


def statuses(message):
    return [e.status for e in message.events.order_by("at", "id")]


def test_dispatch_twice_submits_and_settles_once(world, pool):
    message = send(world)
    connector = Counting()
    assert delivery.dispatch(message.pk, connector=connector) == "accepted"
    assert delivery.dispatch(message.pk, connector=connector) == "already accepted"
    assert connector.calls == 1 and journals(message, "consumption") == 1
    assert balances(world) == (99, 0, 1) and verify() == []


def test_the_acceptance_applied_twice_settles_once(world, pool):
    message = send(world)
    Message.objects.filter(pk=message.pk).update(status=Status.SUBMITTED)
    answer = SubmitResult(True, downstream_id="twice-1")
    assert delivery._apply_result(message.pk, answer, Counting()) == "accepted"
    assert delivery._apply_result(message.pk, answer, Counting()) == "changed meanwhile"
    assert journals(message, "consumption") == 1 and balances(world) == (99, 0, 1)
    assert verify() == []


def test_a_refusal_applied_twice_releases_once(world, pool):
    message = send(world)
    Message.objects.filter(pk=message.pk).update(status=Status.SUBMITTED)
    answer = SubmitResult(False, error_code="NOPE", error_text="Refused")
    assert delivery._apply_result(message.pk, answer, Counting(False)) == "failed"
    assert delivery._apply_result(message.pk, answer, Counting(False)) == "changed meanwhile"
    assert journals(message, "release") == 1 and balances(world) == (100, 0, 0)
    assert verify() == []


@pytest.mark.parametrize("status", ["failed", "expired", "delivered"])
def test_a_delivery_report_applied_twice_changes_nothing_the_second_time(world, pool, status):
    message = send(world)
    assert delivery.dispatch(message.pk, connector=Counting()) == "accepted"
    for _ in range(2):
        delivery.handle_dlr(f"cnt-{message.pk}", status, "NET-1", "Unreachable")
    message.refresh_from_db()
    assert message.status == status
    assert statuses(message) == ["queued", "submitted", "accepted", status]
    assert refunds(world) == (0 if status == "delivered" else 1)
    assert balances(world) == ((99, 0, 1) if status == "delivered" else (100, 0, 0))
    assert verify() == []


def test_an_inbound_message_handled_twice_is_one_webhook_delivery_sent_once(
    world, nums, hook, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = inbound.receive_inbound(from_number=TO, to=DEDICATED, text="hi", connector="smpp", downstream_id="in-1")
    message = first.message
    # The inbound work again (a task run twice), and the webhook logged again for the same message.
    with django_capture_on_commit_callbacks(execute=True):
        again = inbound.receive_inbound(from_number=TO, to=DEDICATED, text="hi", connector="smpp", downstream_id="in-1")
        webhooks.notify_inbound(message)
    assert again.duplicate and again.message.pk == message.pk
    [logged] = WebhookDelivery.objects.all()
    assert logged.status == WebhookDelivery.State.DELIVERED and len(receiver.got) == 1
    # The delivery task run again: already delivered, nothing sent.
    assert webhooks.deliver(logged.pk) == "delivered"
    assert len(receiver.got) == 1 and WebhookDelivery.objects.get().attempts == 1


def test_a_poisoned_row_does_not_stop_the_sweep(world, pool, monkeypatch):
    messages = [send(world, f"Hello {n}") for n in range(3)]
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    poisoned = messages[1].pk
    real = delivery.dispatch

    def dispatch(message_id, **kw):
        if message_id == poisoned:
            raise RuntimeError("poisoned row")
        return real(message_id, **kw)

    monkeypatch.setattr(dispatch_pending_command, "dispatch", dispatch)
    out = io.StringIO()
    call_command("dispatch_pending", stdout=out)
    assert "1 dispatch errors" in out.getvalue()
    states = dict(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("pk", "status"))
    assert states[poisoned] == Status.QUEUED
    assert [states[m.pk] for m in messages if m.pk != poisoned] == [Status.ACCEPTED, Status.ACCEPTED]
    assert verify() == []


def test_a_poisoned_stuck_message_does_not_stop_recovery(world, pool, monkeypatch):
    messages = [send(world, f"Hello {n}") for n in range(3)]
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(
        status=Status.SUBMITTED, updated_at=timezone.now() - dt.timedelta(minutes=5)
    )
    poisoned = messages[0].pk
    real = delivery.recover
    monkeypatch.setattr(
        dispatch_pending_command,
        "recover",
        lambda mid, **kw: (_ for _ in ()).throw(RuntimeError("bad")) if mid == poisoned else real(mid, **kw),
    )
    out = io.StringIO()
    call_command("dispatch_pending", stdout=out)
    assert "1 recovery errors" in out.getvalue()
    states = dict(Message.objects.filter(pk__in=[m.pk for m in messages]).values_list("pk", "status"))
    assert states[poisoned] == Status.SUBMITTED
    assert [states[m.pk] for m in messages[1:]] == [Status.ACCEPTED, Status.ACCEPTED]


def test_stuck_submissions_are_recovered_first_whatever_the_queued_backlog(world, pool, settings):
    settings.KONTOR_SWEEP_LIMIT = 2
    backlog = [send(world, f"Queued {n}") for n in range(4)]
    Message.objects.filter(pk__in=[m.pk for m in backlog]).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    stuck = send(world, "Stuck")
    Message.objects.filter(pk=stuck.pk).update(
        status=Status.SUBMITTED, updated_at=timezone.now() - delivery.submit_timeout() - dt.timedelta(seconds=1)
    )
    call_command("dispatch_pending", stdout=io.StringIO())
    stuck.refresh_from_db()
    assert stuck.status == Status.ACCEPTED  # the simulator's lookup knew it: settled, not sent again
    assert stuck.events.get(status=Status.ACCEPTED).detail["recovered"] == "lookup"
    # The backlog is worked through, a bounded slice per sweep.
    queued = Message.objects.filter(pk__in=[m.pk for m in backlog], status=Status.QUEUED).count()
    assert queued == 2
    call_command("dispatch_pending", stdout=io.StringIO())
    assert not Message.objects.filter(direction=Direction.OUT, status=Status.QUEUED).exists()
    assert verify() == []


def test_a_stuck_message_is_recovered_within_two_minutes_by_default():
    # The sweep runs every 60 s and at a worker's start; a submission older than the timeout is
    # recovered by the first sweep after it: 60 s + 60 s at most.
    assert delivery.submit_timeout() <= dt.timedelta(seconds=60)


def test_the_parts_of_a_long_mo_are_kept_until_whole_and_stale_ones_expire(world, nums):
    kw = {"connector": "smpp", "from_number": TO, "to": DEDICATED, "reference": 9, "total": 3}
    assert inbound.receive_part(**kw, seq=3, text="C") is None
    assert inbound.receive_part(**kw, seq=1, text="A") is None
    assert inbound.receive_part(**kw, seq=1, text="A") is None  # delivered twice
    assert InboundPartial.objects.get().parts == {"1": "A", "3": "C"}
    result = inbound.receive_part(**kw, seq=2, text="B")
    assert result is not None and result.routed and result.message.text == "ABC"
    assert not InboundPartial.objects.exists()
    # A message whose last part never comes is dropped after the time to live.
    assert inbound.receive_part(**{**kw, "reference": 10}, seq=1, text="X") is None
    assert inbound.expire_partials() == 0
    later = timezone.now() + inbound.part_ttl() + dt.timedelta(seconds=1)
    assert inbound.expire_partials(later) == 1 and not InboundPartial.objects.exists()
    with pytest.raises(ValueError):
        inbound.receive_part(**kw, seq=4, text="?")


def test_an_unnumbered_mo_is_deduplicated_within_its_window_only(world, nums, settings):
    settings.KONTOR_INBOUND_DEDUPE_SECONDS = 600
    first = inbound.receive_unnumbered(from_number=TO, to=DEDICATED, text="yes", connector="smpp")
    again = inbound.receive_unnumbered(from_number=TO, to=DEDICATED, text="yes", connector="smpp")
    assert first.routed and not first.duplicate and again.duplicate and again.message.pk == first.message.pk
    # A redelivery that lands just past a window's boundary still finds the earlier one.
    now = timezone.now()
    current, previous = inbound.fingerprint_ids("smpp", TO, DEDICATED, "yes", at=now)
    next_window = inbound.fingerprint_ids("smpp", TO, DEDICATED, "yes", at=now + dt.timedelta(seconds=600))
    assert next_window[0] != current and next_window[1] == current
    # Another text, or the same text long after, is a new message.
    other = inbound.receive_unnumbered(from_number=TO, to=DEDICATED, text="no", connector="smpp")
    assert not other.duplicate
    Message.objects.filter(pk=first.message.pk).update(downstream_id=previous.rsplit(":", 1)[0] + ":0")
    late = inbound.receive_unnumbered(from_number=TO, to=DEDICATED, text="yes", connector="smpp")
    assert not late.duplicate
    assert Message.objects.filter(direction=Direction.IN).count() == 3


def test_a_rejection_stored_twice_at_once_is_one_row(world, nums, monkeypatch):
    from kontor.messaging.models import InboundRejection

    first = inbound.receive_inbound(from_number=TO, to="+46700000000", text="hi", connector="smpp", downstream_id="r-9")
    assert not first.routed and InboundRejection.objects.count() == 1
    # The race: the second delivery looked for an earlier one before the first was committed.
    real = inbound._earlier
    calls = []

    def earlier(*args, **kwargs):
        calls.append(1)
        return None if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(inbound, "_earlier", earlier)
    again = inbound.receive_inbound(from_number=TO, to="+46700000000", text="hi", connector="smpp", downstream_id="r-9")
    assert again.duplicate and again.rejection.pk == first.rejection.pk
    assert InboundRejection.objects.count() == 1
